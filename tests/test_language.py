from __future__ import annotations

import pytest

from bot.text.i18n import SUPPORTED
from bot.text.language import LONG_TEXT, detect, detect_many, preload


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sono molto arrabbiato, è la terza volta che l'inverter si guasta", "it"),
        ("dit is belachelijk slecht, mijn omvormer doet het niet", "nl"),
        ("это ужасное обслуживание, верните деньги", "ru"),
        ("我的逆变器又坏了，请尽快处理", "zh"),  # noqa: RUF001  # full-width comma is Chinese
        ("my inverter broke down again and nobody answers my emails", "en"),
        ("mein Wechselrichter ist schon wieder kaputt, das ist eine Frechheit", "de"),
        ("mon onduleur est encore en panne, je veux être remboursé", "fr"),
        ("mi inversor se ha vuelto a estropear, quiero que me devuelvan el dinero", "es"),
        ("where is my order", "en"),
        ("où est ma commande", "fr"),
        ("waar is mijn bestelling", "nl"),
    ],
)
def test_detects_real_complaints(text: str, expected: str) -> None:
    assert detect(text) == expected


@pytest.mark.parametrize("text", ["ok", "123", "", "   ", "?!", "C-2026-000123", "👍👍"])
def test_tiny_or_empty_text_is_unknown(text: str) -> None:
    assert detect(text) is None


def test_only_links_addresses_and_digits_is_unknown() -> None:
    assert (
        detect("https://example.com/orders/12345 mario.rossi@example.com 0039 333 1234567") is None
    )


def test_links_and_addresses_do_not_sway_the_language() -> None:
    text = (
        "l'inverter non funziona più, vedete https://example.com/english/help/where-is-my-order"
        " e scrivete a customer.service.team@example.com, ordine 123456"
    )
    assert detect(text) == "it"


def test_answer_is_always_a_supported_code() -> None:
    samples = [
        "Grazie mille per l'aiuto",
        "Vielen Dank für Ihre Hilfe",
        "谢谢你们的帮助",
        "Muchas gracias por su ayuda",
        "Merci beaucoup pour votre aide",
    ]
    assert all(detect(sample) in SUPPORTED for sample in samples)


def test_preload_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    preload()
    preload()
    assert detect("dit is belachelijk slecht") == "nl"
    assert capsys.readouterr() == ("", "")


def test_a_batch_is_detected_as_its_texts_one_by_one() -> None:
    texts = [
        "Il mio inverter non funziona più da tre giorni.",
        "ok",
        "",
        "Mijn omvormer geeft sinds vorige week een foutmelding.",
        "Where is my refund? I returned the inverter two weeks ago.",
    ]
    assert detect_many(texts) == [detect(t) for t in texts]
    assert detect_many(texts)[:4] == ["it", None, None, "nl"]


LONG = {  # past LONG_TEXT characters: read in lingua's faster low accuracy mode
    "it": "Buongiorno, l'inverter si spegne ogni giorno verso mezzogiorno e nessuno del vostro "
    "servizio clienti mi ha mai richiamato. Chiedo la sostituzione in garanzia.",
    "de": "Guten Tag, der Wechselrichter zeigt seit Tagen einen Netzfehler an und niemand von "
    "Ihrem Kundendienst meldet sich. Ich erwarte einen Austausch innerhalb der Garantie.",
    "en": "Hello, my inverter stopped producing power three days ago and shows an error code. "
    "I want a replacement unit, not another reset over the phone, and I want it this week.",
    "es": "Buenos días, mi inversor dejó de funcionar hace tres días y nadie de atención al "
    "cliente me ha llamado. Quiero que me lo cambien dentro de la garantía, por favor.",
}


def test_long_texts_are_read_in_the_fast_mode_and_still_right() -> None:
    assert all(len(text) >= LONG_TEXT for text in LONG.values())
    assert detect_many(list(LONG.values())) == list(LONG)
    mixed = [LONG["it"], "where is my order", LONG["de"], "où est ma commande"]
    assert detect_many(mixed) == ["it", "en", "de", "fr"]
