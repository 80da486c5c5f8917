"""The issue's scenario across real protocols: one customer on email, Instagram, WhatsApp.

She writes by email (into the bot's SMTP server), then by Instagram DM quoting the
same address, then by WhatsApp (closed by default), then replies to the bot's
acknowledgment mail. One acknowledgment leaves by email through the relay, nothing
goes out on WhatsApp or Instagram, and the DM and the reply join the same ticket.
Runs on both backends, with the Meta webhook and the SMTP server of one app.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision
from channels import email, meta
from tests.channels.test_email import DOMAIN, SUPPORT, listening, smtp_port, submit, until
from tests.channels.test_meta import IGSID, dm, entry, page, wa_text, whatsapp
from tests.channels.test_meta import config as meta_config
from tests.fakes.dovecot import free_port
from tests.fakes.graph_api import FakeGraphApi, running_graph_api
from tests.fakes.smtp_relay import SmtpRelay

Client = TestClient[web.Request, web.Application]
MARIA = "maria.verdi@example.it"
FIRST = (
    "Buongiorno, il mio inverter modello SUN-5K-G03 si spegne ogni giorno. "
    "Numero d'ordine 558812, numero di serie SN99887766. Vorrei la sostituzione."
)


@pytest.fixture
def email_config(relay: SmtpRelay, clock: VirtualClock) -> email.EmailConfig:
    return email.EmailConfig(
        smtp_listen=f"127.0.0.1:{free_port()}",
        smtp_relay=f"127.0.0.1:{relay.port}",
        mail_from=f"Assistenza <{SUPPORT}>",
        mail_domains=DOMAIN,
        now=clock.now,
        timeout_s=10,
    )


@pytest.fixture
async def graph() -> AsyncIterator[tuple[FakeGraphApi, str]]:
    async with running_graph_api() as running:
        yield running


@pytest.fixture
async def client(
    runtime: Runtime,
    email_config: email.EmailConfig,
    graph: tuple[FakeGraphApi, str],
    clock: VirtualClock,
) -> AsyncIterator[Client]:
    plugs = [
        email.plug(email_config, runtime.ingest),
        meta.plug(meta_config(graph[1], now=clock.now), runtime.ingest),
    ]
    async with TestClient(TestServer(make_app(runtime, plugs=plugs))) as test_client:
        await until(lambda: listening(smtp_port(email_config)))
        yield test_client


async def post_signed(client: Client, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    response = await client.post(
        meta.PATH,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta.signature_of("meta-app-secret-for-tests", body),
        },
    )
    assert response.status == 200


async def test_one_customer_across_email_instagram_and_whatsapp(
    runtime: Runtime,
    client: Client,
    email_config: email.EmailConfig,
    relay: SmtpRelay,
    graph: tuple[FakeGraphApi, str],
) -> None:
    port = smtp_port(email_config)
    first = EmailMessage()
    first["From"] = f"Maria Verdi <{MARIA}>"
    first["To"] = SUPPORT
    first["Subject"] = "Inverter guasto"
    first["Message-ID"] = "<maria-1@mail.example.it>"
    first.set_content(FIRST)
    assert (await submit(port, first.as_bytes(), sender=MARIA))[0] == 250
    [opened] = await runtime.worker.drain()
    assert opened.decision is Decision.ANSWERED

    await post_signed(
        client,
        page(
            entry(
                dm(
                    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1",
                    sender=IGSID,
                    text=f"Vi ho scritto per email ({MARIA}), l'inverter è ancora spento!",
                )
            ),
            kind="instagram",
        ),
    )
    [on_instagram] = await runtime.worker.drain()
    await post_signed(
        client,
        whatsapp(
            wa_text(
                "wamid.HBgLMzkzNDcxMjM0NTY3FQIAEhgUM0EwQjZDMjk1", body=f"Sono {MARIA}, rispondete!"
            )
        ),
    )
    [on_whatsapp] = await runtime.worker.drain()

    assert await runtime.sender.run_once() == 1
    [ack] = relay.received
    mail = ack.message
    assert ack.rcpt_tos == (MARIA,)
    assert opened.ticket_ref is not None
    assert opened.ticket_ref in str(mail["Subject"])

    answer = EmailMessage()
    answer["From"] = f"Maria Verdi <{MARIA}>"
    answer["To"] = SUPPORT
    answer["Subject"] = f"Re: {mail['Subject']}"
    answer["Message-ID"] = "<maria-2@mail.example.it>"
    answer["In-Reply-To"] = str(mail["Message-ID"])
    answer.set_content("Allego la foto del display.\n\n> " + FIRST)
    assert (await submit(port, answer.as_bytes(), sender=MARIA))[0] == 250
    [replied] = await runtime.worker.drain()

    assert (on_instagram.ticket_id, replied.ticket_id) == (opened.ticket_id, opened.ticket_id)
    assert on_instagram.decision is Decision.COLLAPSED
    assert replied.decision is Decision.COLLAPSED
    assert on_whatsapp.decision is Decision.CHANNEL_CLOSED
    assert await runtime.sender.run_once() == 0
    assert len(relay.received) == 1  # one acknowledgment, by email
    assert graph[0].sent == []  # nothing on Instagram, nothing on WhatsApp
    assert Channel.WHATSAPP not in runtime.policy.current.accepted
