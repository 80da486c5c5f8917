"""Mails/s through the inbound SMTP path: client -> the bot's aiosmtpd server -> parse -> store.

One aiosmtplib client process sends small mails over a few connections to the
bot's own SMTP server on the embedded store (SQLite + embedded Valkey); a mail
counts once its DATA got 250, i.e. once it is durable and on the stream. The
client shares the process (and the core) with the server, so the figure is a
floor for a server on its own core.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from bot.app.config import Settings
from bot.app.runtime import open_runtime
from channels.email import EmailConfig, plug

MAILS = 2000
CONNECTIONS = 4
DOMAIN = "intake.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n % 300} <c{n % 300}@example.org>"
    msg["To"] = f"support@{DOMAIN}"
    msg["Subject"] = f"Inverter fault {n}"
    msg["Message-ID"] = f"<bench-{n}@example.org>"
    msg.set_content(
        f"My inverter SUN-5K-G03 shows error F{n % 90:02d} since Monday.\n"
        f"Order number {100000 + n}.\n\n-- \nCustomer {n % 300}\n"
    )
    return msg.as_bytes()


async def _client(port: int, mails: list[bytes]) -> int:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    accepted = 0
    try:
        for data in mails:
            await client.mail("customer@example.org")
            await client.rcpt(f"support@{DOMAIN}")
            accepted += (await client.data(data)).code == 250
    finally:
        await client.quit()
    return accepted


async def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"the SMTP server did not listen on {port}")


async def mail_rate(count: int = MAILS, connections: int = CONNECTIONS) -> tuple[int, float]:
    """(mails accepted, seconds) for `count` mails over `connections` connections."""
    mails = [_mail(n) for n in range(count)]
    with tempfile.TemporaryDirectory(prefix="intake-bench-mail-") as tmp:
        settings = Settings(data_dir=Path(tmp), consumer_name="bench")
        async with open_runtime(settings) as runtime:
            port = _free_port()
            config = EmailConfig(
                smtp_listen=f"127.0.0.1:{port}", mail_domains=DOMAIN, now=runtime.clock.now
            )
            stop = asyncio.Event()
            loops = [asyncio.create_task(loop(stop)) for loop in plug(config, runtime.ingest).loops]
            await _wait_listening(port)
            begun = time.perf_counter()
            counts = await asyncio.gather(
                *(_client(port, mails[i::connections]) for i in range(connections))
            )
            seconds = time.perf_counter() - begun
            stop.set()
            await asyncio.gather(*loops)
    return sum(counts), seconds


def main() -> None:
    accepted, seconds = asyncio.run(mail_rate())
    print(f"\n== email: mails/s through inbound SMTP, embedded store, {CONNECTIONS} connections ==")
    print(
        f"  {accepted:,} of {MAILS:,} mails accepted in {seconds:.2f} s: "
        f"{accepted / max(seconds, 1e-9):,.0f} mails/s"
    )


if __name__ == "__main__":
    main()
