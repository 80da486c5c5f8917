"""The contact form asks only what it must, says so up front, and keeps what was typed
(issue 17, 4): over HTTP, on both backends; the browser's side is tests/browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.store.models import Ticket
from channels import page_texts
from channels.webform import MIN_DESCRIPTION_CHARS, privacy_link
from tests.channels.test_webform import (
    VALID,
    form_plug,
    messages,
    send,
    settle,
    tickets,
    token_of,
)

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Client]:
    plug = form_plug(runtime, tmp_path / "uploads", privacy_url="https://shop.example/privacy")
    async with TestClient(TestServer(make_app(runtime, plugs=[plug]))) as test_client:
        yield test_client


def tag(body: str, element_id: str) -> str:
    found = re.search(rf'<(?:input|textarea|fieldset)[^>]*\bid="{element_id}"[^>]*>', body)
    if found is None:  # a fieldset carries no id: its radios do
        found = re.search(r"<fieldset[^>]*>", body)
    assert found is not None, element_id
    return found.group(0)


async def test_an_order_number_is_asked_only_if_the_customer_has_one(
    client: Client, runtime: Runtime
) -> None:
    status, _, _ = await send(client, {**VALID, "order": "", "csrf": await token_of(client)})
    assert status == 303
    [message] = await messages(runtime)
    assert "Order number" not in message.text
    await settle(runtime)
    [ticket] = await tickets(runtime)
    assert isinstance(ticket, Ticket)
    assert "order_number" not in ticket.details


async def test_required_fields_are_marked_and_the_conditions_said_up_front(
    client: Client,
) -> None:
    body = await (await client.get("/form?lang=it")).text()
    texts = page_texts.texts("it")
    for name in ("name", "contact", "description", "solution"):
        assert 'required aria-required="true"' in tag(body, name), name
    for name in ("order", "model", "serial"):
        assert "required" not in tag(body, name), name
    assert 'role="radiogroup" aria-required="true"' in tag(body, "type")
    assert texts["order_optional"] in body
    assert texts["model_condition"] in body  # product complaints only, by the label
    conditions = texts["form_conditions"].format(min=MIN_DESCRIPTION_CHARS)
    assert body.index(conditions) < body.index('id="type-product"')  # before any field
    assert f'minlength="{MIN_DESCRIPTION_CHARS}"' in tag(body, "description")
    assert 'aria-describedby="description-hint"' in tag(body, "description")
    assert 'aria-describedby="contact-hint"' in tag(body, "contact")
    assert str(MIN_DESCRIPTION_CHARS) in texts["description_hint"].format(min=MIN_DESCRIPTION_CHARS)
    assert 'id="error-summary"' not in body


async def test_the_error_summary_links_each_field_and_takes_the_focus(
    client: Client, runtime: Runtime
) -> None:
    fields = {"csrf": await token_of(client), "lang": "it", "contact": "nope", "model": ""}
    status, _, body = await send(client, fields)
    texts = page_texts.texts("it")
    assert status == 422
    summary = re.search(r'<div class="error summary" id="error-summary"[^>]*>', body)
    assert summary is not None
    assert "autofocus" in summary.group(0)
    assert 'tabindex="-1"' in summary.group(0)
    links = re.findall(r'<li><a href="#([\w-]+)">', body)
    assert links == ["type-product", "name", "contact", "description", "solution"]
    assert f'<a href="#contact">{texts["contact"]}: {texts["err_contact"]}</a>' in body
    assert 'aria-describedby="contact-hint err-contact" aria-invalid="true"' in tag(body, "contact")
    assert 'aria-describedby="err-name" aria-invalid="true"' in tag(body, "name")
    assert 'aria-describedby="err-type" aria-invalid="true"' in tag(body, "type")
    # Before the first field, so that it is the first thing a keyboard reaches too.
    assert body.index('id="error-summary"') < body.index("<form ")
    assert await messages(runtime) == []


@pytest.mark.parametrize("had_errors", [True, False])
async def test_a_language_switch_keeps_what_was_typed(
    client: Client, runtime: Runtime, had_errors: bool
) -> None:
    token = await token_of(client)
    typed = {**VALID, "contact": "not <b>a</b> contact", "description": "Trop court"}
    fields = {**typed, "csrf": token, "lang": "en", "relang": "it"}
    if had_errors:
        fields["checked"] = "1"
    status, _, body = await send(client, fields)
    texts = page_texts.texts("it")
    assert status == 200
    assert '<html lang="it">' in body
    assert texts["form_title"] in body
    assert 'value="not &lt;b&gt;a&lt;/b&gt; contact"' in body
    assert ">Trop court</textarea>" in body
    assert 'value="product" required checked' in body
    assert f'name="csrf" value="{token.rsplit(".", 2)[0]}.' in body  # the same submission
    assert ('id="err-contact"' in body) is had_errors
    if had_errors:
        assert texts["err_contact"] in body  # the errors again, in the new language
    assert await messages(runtime) == []


async def test_the_language_buttons_send_the_form_and_enter_still_sends_it(
    client: Client,
) -> None:
    body = await (await client.get("/form?lang=en")).text()
    buttons = re.findall(r'<button type="submit" form="complaint"([^>]*)>', body)
    assert 'class="hp" tabindex="-1" aria-hidden="true"' in buttons[0]  # Enter's default
    shown = [re.search(r'value="(\w+)"', b).group(1) for b in buttons[1:]]  # type: ignore[union-attr]
    assert shown == [language for language in page_texts.LANGUAGES if language != "en"]


async def test_a_language_switch_without_the_forms_token_is_refused(client: Client) -> None:
    status, _, _ = await send(client, {**VALID, "relang": "it"})
    assert status == 403


async def test_the_privacy_notice_is_there_in_every_language_with_its_link(
    client: Client,
) -> None:
    for language in page_texts.LANGUAGES:
        body = await (await client.get(f"/form?lang={language}")).text()
        texts = page_texts.texts(language)
        assert str(escape(texts["privacy_text"])) in body  # as the template escapes it
        assert (
            f'<a href="https://shop.example/privacy" id="privacy-link">{texts["privacy_link"]}'
            in body
        )


@pytest.mark.parametrize(
    ("given", "linked"),
    [
        ("https://shop.example/privacy", "https://shop.example/privacy"),
        ("/privacy", "/privacy"),
        ("javascript:alert(1)", ""),
        ('https://x.example/" onmouseover="alert(1)', ""),
        ("", ""),
    ],
)
def test_only_a_web_address_is_linked_as_the_privacy_notice(given: str, linked: str) -> None:
    assert privacy_link(given) == linked
