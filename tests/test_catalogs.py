"""Every customer-facing text comes from gettext catalogs (bot/text/locales/, channels/locales/).

`tests/data/customer_texts.json` holds every (language, key) -> text of the four text
systems as they were before the catalogs (the core's JSON files, the form and status
pages', the chat's and Telegram's Python dicts), and what the core's public functions
built from them: the catalogs must give back exactly the same strings. Changing a text on
purpose means rewriting the record too: `.venv/bin/python -m tests.test_catalogs`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog as Source
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.contract import catalogs
from bot.text import i18n
from channels import chat_texts, page_texts, telegram_texts

# domain -> (the package that owns its texts, its locale folder)
DOMAINS = {
    "core": ("bot.text", Path(i18n.__file__).parent / "locales"),
    "channels": ("channels", Path(page_texts.__file__).parent / "locales"),
}
SHIPPED = [
    (domain, folder.name)
    for domain, (_, locales) in DOMAINS.items()
    for folder in sorted(locales.iterdir())
    if folder.is_dir()
]
PLACEHOLDER = re.compile(r"\{\w+\}")
RECORD = Path(__file__).parent / "data" / "customer_texts.json"
UNSHIPPED = "pt"  # a language no catalog has: everything falls back to English
REF = "C-2026-000123"
LINK = "https://example.com/l/abc"
ACK_DUE = datetime(2026, 12, 30, 22, 59, 59, tzinfo=UTC)
PROGRESS_DUE = datetime(2027, 1, 21, 22, 59, 59, tzinfo=UTC)
RESOLVE_DUE = datetime(2027, 2, 3, 22, 59, 59, tzinfo=UTC)

Texts = dict[str, dict[str, dict[str, str]]]  # system -> language -> key -> text


def snapshot() -> Texts:
    """Every customer-facing text as the public functions give it today."""
    everywhere = (*i18n.SUPPORTED, UNSHIPPED)
    return {
        "core": {lang: dict(i18n.catalog(lang)) for lang in i18n.SUPPORTED},
        "core_built": {lang: _core_built(lang) for lang in everywhere},
        "page": {lang: dict(page_texts.texts(lang)) for lang in everywhere},
        "chat": {
            lang: {key: chat_texts.say(key, lang) for key in chat_texts.TEXTS["en"]}
            for lang in everywhere
        },
        "telegram": {
            lang: {
                "greeting": telegram_texts.GREETING[lang],
                "status": telegram_texts.STATUS[lang],
                "no_ticket": telegram_texts.NO_TICKET[lang],
            }
            for lang in i18n.SUPPORTED
        },
    }


def _core_built(lang: str) -> dict[str, str]:
    """What the core's reply functions make of its texts in `lang`."""
    built: dict[str, str] = {}
    for status in i18n.STATUSES:
        built[f"status_label.{status}"] = i18n.status_label(status, lang)
    for detail in i18n.DETAILS:
        built[f"detail_label.{detail}"] = i18n.detail_label(detail, lang)
        built[f"detail_question.{detail}"] = i18n.detail_question(detail, lang)
    mails = {
        "acknowledgment": i18n.acknowledgment(
            REF, lang, ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail="serial_number"
        ),
        "acknowledgment_complete": i18n.acknowledgment(
            REF, lang, ack_due=ACK_DUE, resolve_due=RESOLVE_DUE, next_detail=None
        ),
        "detail_received": i18n.detail_received(
            REF,
            lang,
            received=["order_number", "product_model"],
            next_detail="contact",
            resolve_due=RESOLVE_DUE,
        ),
        "detail_received_nothing": i18n.detail_received(
            REF, lang, received=[], next_detail=None, resolve_due=RESOLVE_DUE
        ),
        "status_changed": i18n.status_changed(
            REF, lang, status="investigating", note="Spare part ordered.", next_due=PROGRESS_DUE
        ),
        "status_changed_bare": i18n.status_changed(
            REF, lang, status="resolved", note="", next_due=None
        ),
        "status_changed_appealable": i18n.status_changed(
            REF,
            lang,
            status="rejected",
            note="Out of warranty.",
            next_due=None,
            appeal_until=RESOLVE_DUE,
            appeal_link=LINK,
        ),
        "status_unverified": i18n.status_unverified(lang),
        "view_link": i18n.view_link(REF, lang, LINK),
        "claim_link.webchat": i18n.claim_link("webchat", lang, LINK),
        "claim_link.webform": i18n.claim_link("webform", lang, LINK),
    }
    for name, (subject, body) in mails.items():
        built[f"{name}.subject"], built[f"{name}.body"] = subject, body
    return built


def test_the_catalogs_give_every_text_as_it_was() -> None:
    record, now = json.loads(RECORD.read_text(encoding="utf-8")), snapshot()
    assert now.keys() == record.keys()
    for system, languages in record.items():
        assert now[system].keys() == languages.keys(), system
        for language, texts in languages.items():
            assert now[system][language] == texts, (system, language)


def test_every_supported_language_has_its_catalogs() -> None:
    for domain in DOMAINS:
        assert {(domain, language) for language in i18n.SUPPORTED} <= set(SHIPPED)


@pytest.mark.parametrize(("domain", "language"), SHIPPED)
def test_every_catalog_has_every_english_msgid_with_its_placeholders(
    domain: str, language: str
) -> None:
    english, own = _source(domain, "en"), _source(domain, language)
    assert set(own) == set(english)
    for msgid, text in own.items():
        assert english[msgid].strip(), f"English is the source: {msgid} needs a text"
        if text:  # untranslated: the English text is shown
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[msgid])), msgid
            assert text.strip(), msgid


@pytest.mark.parametrize(("domain", "language"), SHIPPED)
def test_the_compiled_catalogs_are_those_of_the_sources(domain: str, language: str) -> None:
    compiled = catalogs.translations(DOMAINS[domain][0], domain, language).messages
    translated = {msgid: text for msgid, text in _source(domain, language).items() if text}
    assert dict(compiled) == translated, "stale .mo files: run make messages"


def test_a_text_a_language_lacks_comes_in_english(tmp_path: Path) -> None:
    _compile(tmp_path, "en", {"a": "A", "b": "B"})
    _compile(tmp_path, "it", {"a": "À"})
    italian = catalogs.load(tmp_path, "texts", "it")
    assert (italian.gettext("a"), italian.gettext("b")) == ("À", "B")
    assert dict(italian.messages) == {"a": "À"}


def test_a_key_no_catalog_has_is_a_key_error(tmp_path: Path) -> None:
    _compile(tmp_path, "en", {"a": "A"})
    _compile(tmp_path, "it", {"a": "À"})
    for language in ("en", "it"):
        with pytest.raises(KeyError, match=r"ack\.subjetc"):
            catalogs.load(tmp_path, "texts", language).gettext("ack.subjetc")


@pytest.mark.parametrize("language", ["pt", "../en", "en/../en", ""])
def test_a_language_without_a_catalog_is_a_key_error(tmp_path: Path, language: str) -> None:
    _compile(tmp_path, "en", {"a": "A"})
    with pytest.raises(KeyError):
        catalogs.load(tmp_path, "texts", language)
    with pytest.raises(KeyError):
        catalogs.translations("channels", "channels", language)


def test_an_uncompiled_catalog_names_the_fix(tmp_path: Path) -> None:
    _compile(tmp_path, "en", {"a": "A"})
    _write_po(tmp_path / "nl" / "LC_MESSAGES" / "texts.po", "nl", {"a": "Een"})
    with pytest.raises(FileNotFoundError, match="make messages"):
        catalogs.load(tmp_path, "texts", "nl")


def test_update_gives_every_language_the_english_msgids(tmp_path: Path) -> None:
    english = tmp_path / "en" / "LC_MESSAGES" / "texts.po"
    _write_po(english, "en", {"a": "A", "b": "Line one\nline two"})
    _write_po(tmp_path / "it" / "LC_MESSAGES" / "texts.po", "it", {"a": "À", "gone": "Via"})
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "README").write_text("not a language", encoding="utf-8")
    before = english.read_bytes()

    written = catalogs.update(tmp_path, "texts")

    assert sorted(path.parent.parent.name for path in written) == ["fr", "it"]
    assert english.read_bytes() == before
    italian = _read(tmp_path / "it" / "LC_MESSAGES" / "texts.po", "it")
    assert [(m.id, m.string) for m in italian if m.id] == [("a", "À"), ("b", "")]
    assert list(italian.obsolete) == ["gone"]  # kept as #~ for the translator
    assert italian["b"].auto_comments == ["Line one\\nline two"]
    french = _read(tmp_path / "fr" / "LC_MESSAGES" / "texts.po", "fr")
    assert [(m.id, m.string) for m in french if m.id] == [("a", ""), ("b", "")]
    assert not french.fuzzy  # a fuzzy catalog would not be compiled
    again = [path.read_bytes() for path in written]
    catalogs.update(tmp_path, "texts")
    assert [path.read_bytes() for path in written] == again


def _source(domain: str, language: str) -> dict[str, str]:
    """msgid -> text of a `.po` file ('' where untranslated); a fuzzy entry fails."""
    path = DOMAINS[domain][1] / language / "LC_MESSAGES" / f"{domain}.po"
    catalog = _read(path, language)
    assert not catalog.fuzzy, path
    texts: dict[str, str] = {}
    for message in catalog:
        if message.id:
            assert isinstance(message.id, str), "no plural forms: a text per key"
            assert isinstance(message.string, str), message.id
            assert not message.fuzzy, message.id  # compiling would leave it out
            texts[message.id] = message.string
    return texts


def _read(path: Path, language: str) -> Source:
    with path.open("rb") as source:
        catalog: Source = read_po(source, locale=language)
    return catalog


def _write_po(path: Path, language: str, texts: dict[str, str]) -> None:
    catalog = Source(locale=language, fuzzy=False)
    for msgid, text in texts.items():
        catalog.add(msgid, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog)


def _compile(locales: Path, language: str, texts: dict[str, str]) -> None:
    catalog = Source(locale=language, fuzzy=False)
    for msgid, text in texts.items():
        catalog.add(msgid, text)
    folder = locales / language / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "texts.mo").open("wb") as out:
        write_mo(out, catalog)


def write_record() -> None:
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(
        json.dumps(snapshot(), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    write_record()
