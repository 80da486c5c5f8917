"""The chat's intake dialog as a pure state machine, and the message it composes.

No I/O: each test feeds answers and checks the next question, the checks the channel
is asked to make, and that the core's detail extraction finds every detail given.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.contract.domain import DECLINED, Channel, InboundMessage
from bot.contract.ports import Reading
from bot.rules.details import category, extract
from bot.rules.reading import CoreReader
from bot.text import i18n
from channels import chat_contacts, chat_intake, chat_texts
from channels.chat_intake import Dialog, Submit, Turn


def keys(turn: Turn) -> list[str]:
    return [p.key for p in turn.prompts]


def run(answers: list[str], language: str = "en", dialog: Dialog | None = None) -> Turn:
    """Feed answers in order."""
    turn = chat_intake.start() if dialog is None else Turn(dialog)
    for text in answers:
        turn = chat_intake.answer(turn.dialog, text, language)
    return turn


PRODUCT = [
    "product",
    "Anna Rossi",
    "anna.rossi@example.com",
    "ORD-884213",
    "SUN2000-5KTL-M1",
    "SN88990011",
    "The inverter shows error F23 and stopped working on Monday.",
    "I want a replacement unit",
]


def test_greets_then_asks_product_or_service() -> None:
    turn = chat_intake.start()
    assert keys(turn) == ["greeting", "ask_kind"]
    assert turn.dialog.step == chat_intake.KIND


def test_product_intake_asks_one_question_at_a_time_in_order() -> None:
    turn = chat_intake.start()
    asked = []
    for text in PRODUCT:
        turn = chat_intake.answer(turn.dialog, text, "en")
        asked.append(keys(turn))
    assert asked == [
        ["ask_name"],
        ["ask_contact"],
        ["ask_order_number"],
        ["ask_product_model"],
        ["ask_serial_number"],
        ["ask_description"],
        ["ask_desired_solution"],
        ["submitting"],
    ]
    assert isinstance(turn.action, Submit)
    assert turn.dialog.step == chat_intake.DONE


def test_service_intake_skips_product_questions() -> None:
    turn = run(
        [
            "service",
            "Marco",
            "+39 333 123 4567",
            "skip",
            "The technician never came to the appointment on Friday.",
        ]
    )
    assert keys(turn) == ["ask_desired_solution"]
    turn = chat_intake.answer(turn.dialog, "skip", "en")
    assert isinstance(turn.action, Submit)
    assert dict(turn.action.details) == {
        "contact": "+39 333 123 4567",
        "description": "The technician never came to the appointment on Friday.",
    }


def test_optional_details_accept_skip_required_ones_do_not() -> None:
    turn = run(["product", "skip"])
    assert keys(turn) == ["required", "ask_name"]
    turn = run(["product", "Anna", "anna@example.com", "skip", "skip", "skip"])
    assert keys(turn) == ["ask_description"]


@pytest.mark.parametrize(
    ("language", "kind", "skip"),
    [
        ("it", "prodotto", "salta"),
        ("nl", "product", "overslaan"),
        ("ru", "товар", "пропустить"),
        ("zh", "产品", "跳过"),
    ],
)
def test_answers_in_the_customers_language(language: str, kind: str, skip: str) -> None:
    turn = run([kind, "Anna", "anna@example.com", skip], language)
    assert turn.dialog.kind == "product"
    assert turn.dialog.get("order_number") == chat_intake.SKIPPED
    assert keys(turn) == ["ask_product_model"]
    assert turn.prompts[0].render(language) == chat_texts.say("ask_product_model", language)
    assert turn.prompts[0].render(language) != chat_texts.say("ask_product_model", "en")


def test_unclear_kind_is_asked_again_and_kept_as_a_remark() -> None:
    turn = run(["hmm"])
    assert keys(turn) == ["kind_unclear"]
    assert turn.dialog.remarks == ("hmm",)


def test_a_story_first_becomes_the_description_and_is_not_asked_again() -> None:
    story = "My inverter died after two weeks, it shows error F23 every morning."
    turn = run([story, "product", "Anna", "anna@example.com", "skip", "skip", "skip"])
    assert turn.dialog.get("description") == story
    assert keys(turn) == ["ask_desired_solution"]


def test_an_email_given_early_is_not_asked_for() -> None:
    turn = chat_intake.answer(Dialog(), "a product, please write to Anna@Example.com", "en")
    assert turn.action is None  # never looked up: nobody learns whose address it is
    turn = run(["Anna"], dialog=turn.dialog)
    assert turn.dialog.get("contact") == "anna@example.com"
    assert keys(turn) == ["ask_order_number"]


def test_invalid_contact_is_asked_again() -> None:
    turn = run(["product", "Anna", "call me maybe"])
    assert keys(turn) == ["contact_invalid"]
    assert turn.dialog.step == "contact"


def test_short_description_asks_for_more_and_joins_both_parts() -> None:
    turn = run(["service", "Anna", "anna@example.com", "skip", "late"])
    assert keys(turn) == ["description_short"]
    turn = chat_intake.answer(turn.dialog, "the delivery came three weeks after the date", "en")
    assert turn.dialog.get("description") == "late\nthe delivery came three weeks after the date"
    assert keys(turn) == ["ask_desired_solution"]


def test_an_email_with_an_open_ticket_is_asked_nothing_more_than_any_other() -> None:
    turn = chat_intake.answer(run(["product", "Anna"]).dialog, "anna@example.com", "en")
    assert turn.action is None
    assert keys(turn) == ["ask_order_number"]


def test_composed_message_carries_every_detail_for_the_core() -> None:
    turn = run(PRODUCT)
    assert isinstance(turn.action, Submit)
    text = chat_intake.compose(turn.action)
    found = extract(text)
    assert found.values["order_number"] == "ORD-884213"
    assert found.values["product_model"] == "SUN2000-5KTL-M1"
    assert found.values["serial_number"] == "SN88990011"
    assert found.values["description"].startswith("The inverter shows error F23")
    assert "replacement unit" in found.values["desired_solution"]
    assert found.emails == ("anna.rossi@example.com",)
    assert category(text) == "product"


def test_composed_phone_is_found_and_service_is_categorised() -> None:
    turn = run(
        [
            "service",
            "Marco",
            "333 123 4567",
            "ORD-2231",
            "The installer was rude and left the roof open.",
            "I want compensation",
        ]
    )
    assert isinstance(turn.action, Submit)
    text = chat_intake.compose(turn.action)
    found = extract(text)
    assert found.phones == ("3331234567",)
    assert found.values["order_number"] == "ORD-2231"
    assert category(text) == "service"


def test_the_answers_travel_by_their_detail_names() -> None:
    turn = run(
        [
            "service",
            "Marco",
            "333 123 4567",
            "skip",
            "The installer was rude and left the roof open.",
            "I want compensation",
        ]
    )
    assert isinstance(turn.action, Submit)
    assert chat_intake.given_details(turn.action) == {
        "category": "service",
        "name": "Marco",
        "phone": "333 123 4567",
        "description": "The installer was rude and left the roof open.",
        "desired_solution": "I want compensation",
        "order_number": DECLINED,
    }  # skipped: declined, so the ticket's replies never ask for it again
    InboundMessage(
        channel=Channel.WEBCHAT,
        external_id="s:1",
        sender="s",
        received_at=datetime(2026, 11, 2, tzinfo=UTC),
        details=chat_intake.given_details(turn.action),
    )  # names the core knows


def test_markup_and_direction_overrides_are_cleaned_from_answers() -> None:
    turn = run(["product", "<script>alert(1)</script>\u202eAnna"])
    assert turn.dialog.get("name") == "<script>alert(1)</script>Anna"  # text, not markup


def test_dialog_survives_json_round_trip() -> None:
    dialog = run(PRODUCT[:5]).dialog
    assert Dialog.from_json(dialog.to_json()) == dialog


def test_every_language_has_every_text() -> None:
    for language, table in chat_texts.TEXTS.items():
        assert set(table) == set(chat_texts.TEXTS["en"]), language
    # Status names are the core's (injected as WebchatConfig.status_label), in every chat language.
    assert set(chat_texts.TEXTS) <= set(i18n.SUPPORTED)


@pytest.mark.parametrize(
    ("browser", "picked"),
    [
        (["it-IT", "en"], "it"),
        (["zh-Hans-CN"], "zh"),
        (["de-DE", "nl-BE"], "de"),
        (["pt-PT", "nl-BE"], "nl"),
        (["pt-BR"], "en"),
        ([], "en"),
    ],
)
def test_language_follows_the_browser(browser: list[str], picked: str) -> None:
    assert chat_texts.pick(browser) == picked


def test_status_names_the_due_day_in_the_sla_time_zone() -> None:
    due = datetime(2026, 11, 11, 22, 59, tzinfo=UTC)  # 23:59 in Rome, the 11th
    text = chat_texts.status_text(
        "C-2026-000001", i18n.status_label("investigating", "it"), due, "it", "Europe/Rome"
    )
    assert (
        text == "Il suo reclamo C-2026-000001: In verifica. Avrà nostre notizie entro il "
        "giorno 11 novembre 2026."
    )
    late = datetime(2026, 11, 11, 23, 30, tzinfo=UTC)  # already the 12th in Rome
    assert "12 novembre" in chat_texts.status_text(
        "C-1", i18n.status_label("new", "it"), late, "it", "Europe/Rome"
    )


def test_customer_text_is_never_read_as_a_template() -> None:
    assert (
        chat_texts.say("submitting", "en", name="{name} {limit}")
        == "Thank you, {name} {limit}. I am registering your complaint now."
    )


# --- issue 17: the first message is read with the core's extraction ------------------------

STORY = "Hi, my SN-5000 inverter shuts down every morning with error E-2032."
STORIA = "Ciao, il mio inverter SN-5000 si spegne ogni mattina con errore E-2032."


@pytest.mark.parametrize(("story", "language"), [(STORY, "en"), (STORIA, "it")])
def test_a_first_message_that_tells_the_story_is_understood(story: str, language: str) -> None:
    first = chat_intake.answer(Dialog(), story, language, CoreReader().read(story))
    assert keys(first) == ["ask_name"]  # not "Sorry, I did not understand"
    assert first.dialog.kind == "product"
    assert first.dialog.get("product_model") == "SN-5000"
    assert first.dialog.get("description") == story
    skip = chat_texts.choice("skip", language)
    turn = first
    asked = []
    for text in ["Anna Rossi", "anna@example.com", skip, skip, skip]:
        turn = chat_intake.answer(turn.dialog, text, language)
        asked += keys(turn)
    # Only what is missing; the model and the description it told are never asked.
    assert asked == [
        "ask_contact",
        "ask_order_number",
        "ask_serial_number",
        "ask_desired_solution",
        "submitting",
    ]
    assert isinstance(turn.action, Submit)
    given = chat_intake.given_details(turn.action)
    assert given["product_model"] == "SN-5000"
    assert given["order_number"] == DECLINED


def test_choices_are_offered_as_buttons_in_the_customers_language() -> None:
    start = chat_intake.start()
    assert start.prompts[-1].choices == ("product", "service")
    labels = {
        lang: [chat_texts.choice(c, lang) for c in ("product", "service", "skip")]
        for lang in ("en", "it")
    }
    assert labels == {"en": ["Product", "Service", "Skip"], "it": ["Prodotto", "Servizio", "Salta"]}
    turn = chat_intake.answer(start.dialog, "Prodotto", "it")
    assert turn.dialog.kind == "product"
    for _ in range(2):
        turn = chat_intake.answer(turn.dialog, "Anna" if _ == 0 else "anna@example.com", "it")
    assert keys(turn) == ["ask_order_number"]
    assert turn.prompts[0].choices == ("skip",)  # optional: a skip button
    skipped = chat_intake.answer(turn.dialog, "Salta", "it")
    assert keys(skipped) == ["ask_product_model"]


def test_a_story_without_a_kind_keeps_what_it_told_and_asks_with_buttons() -> None:
    story = "Nobody answers my emails and I am waiting since three weeks."
    turn = chat_intake.answer(Dialog(), story, "en", Reading(category="unknown"))
    assert keys(turn) == ["ask_kind"]
    assert turn.prompts[0].choices == ("product", "service")
    assert turn.dialog.get("description") == story


@pytest.mark.parametrize(
    ("channel", "value", "href"),
    [
        ("email", "help@example.com", "mailto:help@example.com"),
        ("email", "not an address", ""),
        ("telegram", "@solarshop", "https://t.me/solarshop"),
        ("facebook", "SolarShop", "https://m.me/SolarShop"),
        ("instagram", "@solar.shop", "https://ig.me/m/solar.shop"),
        ("whatsapp", "+39 333 123 4567", "https://wa.me/393331234567"),
        ("telegram", "https://t.me/solarshop", "https://t.me/solarshop"),
        ("telegram", "javascript:alert(1)", ""),
        ("facebook", "http://insecure.example/page", ""),
    ],
)
def test_a_public_address_becomes_a_safe_link(channel: str, value: str, href: str) -> None:
    assert chat_contacts.href(channel, value) == href


def test_the_closed_notice_lists_configured_and_accepted_channels_in_order() -> None:
    contacts = {"email": "help@example.com", "whatsapp": "+39 333 1234567"}
    listed = chat_contacts.listed({"email", "webform", "facebook"}, contacts, "it")
    assert [(c["channel"], c["href"]) for c in listed] == [
        ("webform", "/form"),
        ("email", "mailto:help@example.com"),
    ]  # Facebook has no address; WhatsApp is not accepted
    assert listed[1]["name"] == chat_texts.say("ch_email", "it")
