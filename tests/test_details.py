"""Detail extraction from real-looking complaints in the eight supported languages."""

# Complaints mix scripts on purpose (Cyrillic, CJK full-width punctuation).
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

from bot.rules.details import DETAILS, SCAN_LIMIT, Found, category, extract, missing

IT_FULL = (
    "Buongiorno, il mio inverter SUN2000-5KTL-L1 (matricola HV2150012345) si è guastato "
    "di nuovo, ordine n. 4500123987. Voglio la sostituzione."
)


def test_details_names_are_the_shared_contract() -> None:
    assert DETAILS == (
        "order_number",
        "product_model",
        "serial_number",
        "description",
        "desired_solution",
    )


def test_italian_complaint_gives_every_detail() -> None:
    found = extract(IT_FULL)
    assert found.values == {
        "order_number": "4500123987",
        "product_model": "SUN2000-5KTL-L1",
        "serial_number": "HV2150012345",
        "description": IT_FULL,
        "desired_solution": "Voglio la sostituzione.",
    }
    assert category(IT_FULL) == "product"
    assert missing(found.values, "product") == []


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("Mijn bestelling 77812 is nooit geleverd", "77812"),
        ("Заказ №123456, серийный номер AB123456", "123456"),
        ("订单号 20261102001，序列号 SN88990011", "20261102001"),
        ("订单号：２０２６１１０２００１", "20261102001"),
        ("My order number is 7788123, still nothing.", "7788123"),
        ("Order #A1B2C3 arrived broken", "A1B2C3"),
        ("Bestellnummer 4711-0815, bitte um Rückruf", "4711-0815"),
        ("Ma commande n° FR-99812 est en retard", "FR-99812"),
        ("Mi pedido nº 55321 no ha llegado", "55321"),
        ("numero d'ordine: 900001234", "900001234"),
        ("номер заказа 445566", "445566"),
        ("#12345 is still not delivered", "12345"),
    ],
)
def test_order_number_after_keyword_in_each_language(text: str, order: str) -> None:
    assert extract(text).values["order_number"] == order


@pytest.mark.parametrize(
    ("text", "serial"),
    [
        ("Заказ №123456, серийный номер AB123456", "AB123456"),
        ("订单号 20261102001，序列号 SN88990011", "SN88990011"),
        ("S/N: hv2150012345", "HV2150012345"),
        ("Serial number 7E1234-XY9", "7E1234-XY9"),
        ("Seriennummer: 28136547", "28136547"),
        ("numéro de série ES2231004567", "ES2231004567"),
        ("número de serie 7788AA99", "7788AA99"),
        ("serienummer: NL55667788", "NL55667788"),
        ("numero di serie 1234ABCD", "1234ABCD"),
        ("the label says SN88990011", "SN88990011"),
    ],
)
def test_serial_number_after_keyword(text: str, serial: str) -> None:
    assert extract(text).values["serial_number"] == serial


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("My model SMA Sunny Boy 3.0 stopped working", "SMA Sunny Boy 3.0"),
        ("Modell: Fronius Primo 5.0-1, kaputt", "Fronius Primo 5.0-1"),
        ("модель SUN2000-10KTL-M1 не работает", "SUN2000-10KTL-M1"),
        ("型号：SUN2000-5KTL-L1，坏了", "SUN2000-5KTL-L1"),
        ("the model is Huawei SUN2000-3KTL-L1.", "Huawei SUN2000-3KTL-L1"),
        ("mon Fronius Primo 5.0-1 est en panne", "Fronius Primo 5.0-1"),
        ("inverter Sunny Boy 3.0 broken", "Sunny Boy 3.0"),
    ],
)
def test_product_model_after_keyword_or_known_pattern(text: str, model: str) -> None:
    assert extract(text).values["product_model"] == model


@pytest.mark.parametrize(
    "text",
    [
        "The model is broken and nobody helps me",
        "Il modello è nuovo ma non funziona",
        "model year 2020 is the worst",
        "het model 5 is kapot",
        "Modell Nummer 7",
    ],
)
def test_model_followed_by_an_ordinary_word_is_not_a_model(text: str) -> None:
    assert "product_model" not in extract(text).values


def test_contacts_are_normalized() -> None:
    found = extract("my email is Mario.Rossi@Example.it and phone +39 333 123 4567")
    assert found.emails == ("mario.rossi@example.it",)
    assert found.phones == ("+393331234567",)
    assert "order_number" not in found.values


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Позвоните: +7 (912) 345-67-89", "+79123456789"),
        ("电话：+86 138 0013 8000", "+8613800138000"),
        ("Telefon 0049 170 1234567", "+491701234567"),
        ("bel me op +31 (0)6 12345678", "+31612345678"),
        ("tel. 06-12345678", "0612345678"),
        ("cellulare 3331234567", "3331234567"),
    ],
)
def test_phone_numbers_in_many_formats(text: str, phone: str) -> None:
    assert extract(text).phones == (phone,)


def test_ticket_reference_is_found_and_uppercased() -> None:
    found = extract("about ticket c-2026-000123, and again C-2026-000123")
    assert found.ticket_refs == ("C-2026-000123",)
    assert found.values == {"description": "about ticket c-2026-000123, and again C-2026-000123"}


@pytest.mark.parametrize(
    "text",
    [
        "order C-2026-000123 is still open",
        "Bestellung: C-2026-000123",
        "ordine: +39 333 1234567",
        "Bestellung 0049 170 1234567",
        "tel 4500123987",
        "order mario123@example.com",
        "order placed on 2024-05-01",
        "Bestellung: 2024-05-01",
        "I ordered 2 inverters",
        "order no longer needed",
    ],
)
def test_tickets_phones_emails_and_dates_are_never_order_numbers(text: str) -> None:
    assert "order_number" not in extract(text).values


def test_phone_word_before_an_order_keyword_does_not_steal_the_order() -> None:
    found = extract("call me, order 4500123987")
    assert found.values["order_number"] == "4500123987"
    assert found.phones == ()


def test_order_and_phone_side_by_side() -> None:
    found = extract("ordine 4500123987, tel 3331234567")
    assert found.values["order_number"] == "4500123987"
    assert found.phones == ("3331234567",)


def test_bare_numbers_without_a_phone_word_are_not_phones() -> None:
    assert extract("I waited 20260512 seconds").phones == ()


def test_subject_is_scanned_for_references() -> None:
    found = extract("Still broken.", subject="Re: Order 99123 [C-2026-000042]")
    assert found.values["order_number"] == "99123"
    assert found.ticket_refs == ("C-2026-000042",)
    assert "description" not in found.values


@pytest.mark.parametrize(
    ("text", "solution"),
    [
        ("It broke again. I want a refund!", "I want a refund!"),
        ("Het werkt niet. Ik wil een terugbetaling.", "Ik wil een terugbetaling."),
        ("Не работает. Требую возврат денег.", "Требую возврат денег."),
        ("逆变器坏了。我要退款。", "我要退款。"),
        ("Gerät defekt. Ich möchte eine Rückerstattung.", "Ich möchte eine Rückerstattung."),
        ("En panne. Je demande le remboursement.", "Je demande le remboursement."),
        ("No funciona. Quiero un reembolso.", "Quiero un reembolso."),
        ("Non va. Vorrei che lo riparaste.", "Vorrei che lo riparaste."),
        ("Please send a replacement unit", "Please send a replacement unit"),
    ],
)
def test_desired_solution_is_the_sentence_with_the_wish(text: str, solution: str) -> None:
    assert extract(text).values["desired_solution"] == solution


def test_a_repair_in_the_past_is_not_a_wish() -> None:
    assert "desired_solution" not in extract("They repaired it twice, it broke.").values


def test_long_run_on_sentence_is_cut_around_the_wish() -> None:
    text = "blah " * 100 + "so I want a refund now " + "blah " * 100
    solution = extract(text).values["desired_solution"]
    assert "refund" in solution
    assert len(solution) <= 200


def test_description_needs_twenty_letters_and_is_clipped() -> None:
    assert "description" not in extract("  order 12345  ").values
    assert "description" not in extract("😡😡😡 !!! 123456789012345678901234").values
    long_text = "  " + "x" * 500
    assert extract(long_text).values["description"] == "x" * 200
    assert extract("这个逆变器从上个月开始一直报错并且无法正常发电了").values["description"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (IT_FULL, "product"),
        ("My inverter is broken", "product"),
        ("Il prodotto è difettoso", "product"),
        ("De omvormer is kapot", "product"),
        ("Инвертор сломался", "product"),
        ("逆变器坏了", "product"),
        ("Der Wechselrichter ist defekt", "product"),
        ("L'onduleur est en panne", "product"),
        ("El inversor está averiado", "product"),
        ("The technician missed the appointment and was rude", "service"),
        ("Il tecnico non è venuto all'appuntamento", "service"),
        ("De monteur kwam te laat", "service"),
        ("Мастер не пришёл", "service"),
        ("技术员没有来", "service"),
        ("Die Rechnung ist falsch", "service"),
        ("La facture est fausse", "service"),
        ("La entrega llegó con retraso", "service"),
        ("Mijn bestelling 77812 is nooit geleverd", "service"),
        ("Hello, I have a question", "unknown"),
        ("", "unknown"),
    ],
)
def test_category_from_keywords(text: str, expected: str) -> None:
    assert category(text) == expected


def test_tie_counts_as_product_because_it_needs_more_details() -> None:
    assert category("The inverter was delivered") == "product"


@pytest.mark.parametrize(
    ("details", "kind", "expected"),
    [
        (
            {},
            "product",
            ["description", "order_number", "product_model", "serial_number", "desired_solution"],
        ),
        ({}, "service", ["description", "order_number", "desired_solution"]),
        ({}, "unknown", ["description", "order_number", "desired_solution"]),
        ({}, "something else", ["description", "order_number", "desired_solution"]),
        (
            {"description": "x", "order_number": "1234"},
            "product",
            ["product_model", "serial_number", "desired_solution"],
        ),
        (
            {"description": "x", "product_model": "  "},
            "product",
            ["order_number", "product_model", "serial_number", "desired_solution"],
        ),
        ({"description": "x", "desired_solution": "refund"}, "service", ["order_number"]),
        ({"description": "x", "order_number": "1", "desired_solution": "y"}, "unknown", []),
    ],
)
def test_missing_in_asking_order(details: dict[str, str], kind: str, expected: list[str]) -> None:
    assert missing(details, kind) == expected


def test_one_megabyte_only_scans_the_head() -> None:
    filler = "Il mio inverter è guasto da settimane e nessuno risponde. "
    text = filler * (1_000_000 // len(filler) + 1)
    late = text + " ordine 4500123987"
    assert len(late) > 1_000_000
    found = extract(late, subject=late)
    assert "order_number" not in found.values
    assert found.values["description"] == text[:200].strip()
    assert category(late) == "product"
    assert extract("ordine 4500123987 " + text).values["order_number"] == "4500123987"
    assert SCAN_LIMIT == 20_000


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😡" * 1000,
        "\ud800\udfff\udc00 order \ud83d",
        "مرحبا \u202eorder 12345\u202c שלום",
        "\x00\x01\x02" * 100,
        "order " * 100_000,
        "order" + " " * 100_000 + "x",
        "1" * 1_000_000,
        "1 " * 500_000,
        "a@" * 500_000,
        "a@" + "a." * 500_000,
        "tel " * 250_000,
        "model " + "Abc " * 250_000,
        "#1" * 500_000,
        "+1" + " (" * 400_000,
        "SUN2000-1K" + "-A" * 300_000,
    ],
)
def test_hostile_input_never_crashes(text: str) -> None:
    found = extract(text, subject=text)
    assert isinstance(found, Found)
    assert all(len(value) <= 200 for value in found.values.values())
    assert category(text) in {"product", "service", "unknown"}


def test_bidi_overrides_and_surrogates_are_dropped() -> None:
    found = extract("\u202eorder 12345\u202c \ud800 the inverter is broken, help me")
    assert found.values["order_number"] == "12345"
    assert "\u202e" not in found.values["description"]
    assert "\ud800" not in found.values["description"]
    found.values["description"].encode("utf-8")


def test_mixed_scripts_in_one_message() -> None:
    text = "Hallo, 我的订单号 77881234, серийный номер QX99887766, refund please."
    found = extract(text)
    assert found.values["order_number"] == "77881234"
    assert found.values["serial_number"] == "QX99887766"
    assert found.values["desired_solution"] == text


@pytest.mark.parametrize(
    "text",
    [
        "Hi, my SN-5000 inverter shuts down every morning with error E-2032.",
        "Ciao, il mio inverter SN-5000 si spegne ogni mattina con errore E-2032.",
        "Mein Wechselrichter SN-5000 schaltet sich jeden Morgen ab.",
    ],
)
def test_a_code_beside_the_device_name_is_its_model(text: str) -> None:
    """Issue 17: the chat asked again for the model the first message named."""
    found = extract(text)
    assert found.values["product_model"] == "SN-5000"
    assert "E-2032" not in found.values.values()  # an error code is no model
    assert category(text) == "product"


@pytest.mark.parametrize("text", ["the inverter 2000 is off", "my inverter broke in 2024"])
def test_a_bare_number_beside_the_device_name_is_no_model(text: str) -> None:
    assert "product_model" not in extract(text).values


def test_a_declined_detail_is_not_missing() -> None:
    """A question the customer skipped is not asked again (bot.contract.domain.DECLINED)."""
    details = {"order_number": "\u2014", "description": "x" * 30}
    assert "order_number" not in missing(details, "service")
