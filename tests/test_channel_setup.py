"""The channel families built from the settings, as `intake-bot serve` builds them.

Unconfigured families say which settings they miss (in /healthz) and never stop the bot;
configured ones mount their routes and register their senders.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import channel_setup
from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel
from tests.fakes.dovecot import free_port

Client = TestClient[web.Request, web.Application]


async def families(client: Client) -> dict[str, str]:
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    found = health["channel_families"]
    assert isinstance(found, dict)
    return found


async def test_with_no_channel_settings_only_the_pages_run_and_the_rest_say_what_they_miss(
    runtime: Runtime,
) -> None:
    async with TestClient(
        TestServer(make_app(runtime, plugs=channel_setup.plugs(runtime)))
    ) as client:
        assert await families(client) == {
            "webchat": "configured",
            "webform": "configured",
            "rating": "configured",
            "telegram": "not configured: set INTAKE_TELEGRAM_TOKEN",
            "meta": "not configured: set INTAKE_META_APP_SECRET",
            "email": "not configured: set INTAKE_MAIL_DOMAINS (inbound SMTP), "
            "INTAKE_SMTP_RELAY and INTAKE_MAIL_FROM (outbound)",
        }
        for path, status in [("/form", 200), ("/status", 200), ("/widget.js", 200)]:
            assert (await client.get(path)).status == status
        refused = await client.post("/webhooks/meta", data=b"{}")
        assert refused.status == 503
        assert "INTAKE_META_APP_SECRET" in (await refused.json())["error"]


@pytest.fixture
async def configured(settings: Settings, clock: VirtualClock) -> AsyncIterator[Runtime]:
    """Every family given its settings (the providers' URLs point nowhere: nothing is sent)."""
    every = settings.model_copy(
        update={
            "telegram_token": "7000000001:AAtest",
            "telegram_webhook_secret": "s3cret",
            "telegram_api_url": "http://127.0.0.1:9/bot",
            "meta_app_secret": "app-secret",
            "meta_verify_token": "verify",
            "meta_access_token": "token",
            "whatsapp_phone_number_id": "1234",
            "graph_api_url": "http://127.0.0.1:9/v21.0",
            "smtp_listen": f"127.0.0.1:{free_port()}",
            "mail_domains": "intake.test",
            "smtp_relay": "127.0.0.1:9",
            "mail_from": "Support <support@intake.test>",
        }
    )
    async with open_runtime(every, clock=clock) as runtime:
        yield runtime


async def test_with_every_setting_each_family_runs_and_registers_its_senders(
    configured: Runtime,
) -> None:
    plugs = channel_setup.plugs(configured)
    async with TestClient(TestServer(make_app(configured, plugs=plugs))) as client:
        found = await families(client)
        assert found["telegram"] == "configured (webhook)"
        assert found["meta"] == "configured"
        assert found["email"].startswith("configured: inbound SMTP on 127.0.0.1:")
        forged = await client.post(
            "/webhooks/telegram",
            json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        )
        assert forged.status == 403
        handshake = await client.get(
            "/webhooks/meta",
            params={"hub.mode": "subscribe", "hub.verify_token": "verify", "hub.challenge": "42"},
        )
        assert (handshake.status, await handshake.text()) == (200, "42")
    senders = {channel for plug in plugs for channel in plug.senders}
    assert senders == set(Channel)


def test_the_form_secret_is_made_once_and_kept_private(settings: Settings) -> None:
    first = channel_setup.form_secret(settings)
    assert len(first) == 64
    assert channel_setup.form_secret(settings) == first
    mode = (settings.data_dir / "form_secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert channel_setup.form_secret(settings.model_copy(update={"form_secret": "given"})) == (
        "given"
    )
