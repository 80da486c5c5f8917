"""Log lines keep their context: the fields given in `extra=` and those bound around the work
(the message, ticket and outbox row a line is about), in text and in JSON, secrets masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.app import logs
from bot.app.logs import LogFormat, formatter, prepared, redact
from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, OutboundReply, SendResult
from bot.contract.log_context import BoundFields, bind, bound, detached
from tests.helpers import complaint, poison_message

log = logging.getLogger("tests.logs")
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
SECRET = TOKEN.split(":", 1)[1]
BROKEN = "Il mio inverter si è guastato di nuovo, voglio la sostituzione."


@contextmanager
def written(log_format: LogFormat) -> Iterator[io.StringIO]:
    """What `log` writes, through a handler set up as the process's are."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(log_format))
    log.addHandler(prepared(handler))
    level, log.level = log.level, logging.DEBUG
    try:
        yield out
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def lines_of(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def objects_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(out)]


# --- formats ----------------------------------------------------------------------------------


def test_a_text_line_ends_in_its_extra_fields() -> None:
    with written("text") as out:
        log.warning(
            "requeued stranded messages", extra={"count": 3, "note": "two words", "empty": ""}
        )

    [line] = lines_of(out)
    assert " WARNING tests.logs requeued stranded messages count=3 " in line
    assert line.endswith(' note="two words" empty=""')


def test_a_text_line_keeps_its_traceback_after_the_fields() -> None:
    with written("text") as out:
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("adapter failed", extra={"outbox_id": 9})

    first, *rest = lines_of(out)
    assert first.endswith("adapter failed outbox_id=9")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: broken"


def test_json_lines_parse_with_every_field_and_the_exception() -> None:
    with written("json") as out:
        log.info("embedded valkey started", extra={"socket": "data/valkey.sock", "adopted": False})
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            log.exception("poll failed", extra={"error": "refused"})

    started, failed = objects_of(out)
    assert started.keys() == {"time", "level", "logger", "message", "socket", "adopted"}
    assert (started["level"], started["logger"], started["message"]) == (
        "INFO",
        "tests.logs",
        "embedded valkey started",
    )
    assert (started["socket"], started["adopted"]) == ("data/valkey.sock", False)
    assert started["time"].endswith("+00:00")
    assert failed["error"] == "refused"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].endswith("ConnectionError: refused")


def test_json_keeps_fields_it_cannot_encode_and_fields_named_like_its_own() -> None:
    with written("json") as out:
        log.warning("odd", extra={"time": "given", "at": object(), "n": 2.5})

    [line] = objects_of(out)
    assert line["extra_time"] == "given"
    assert line["at"].startswith("<object object at")
    assert line["n"] == 2.5
    assert line["message"] == "odd"


# --- bound context ----------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_inside_bind_carries_the_bound_fields(log_format: LogFormat) -> None:
    with written(log_format) as out:
        with bind(message_id=41, ticket_ref="C-2026-000001", outbox_id=None):
            log.info("inside")
            with bind(outbox_id=7):
                log.info("nested")
        log.info("after")

    if log_format == "json":
        inside, nested, after = objects_of(out)
        assert (inside["message_id"], inside["ticket_ref"]) == (41, "C-2026-000001")
        assert "outbox_id" not in inside  # None is left out
        assert (nested["message_id"], nested["outbox_id"]) == (41, 7)
        assert "message_id" not in after
    else:
        assert [line.split(" ", 4)[4] for line in lines_of(out)] == [
            "inside message_id=41 ticket_ref=C-2026-000001",
            "nested message_id=41 ticket_ref=C-2026-000001 outbox_id=7",
            "after",
        ]


def test_an_extra_field_wins_over_a_bound_one() -> None:
    with written("json") as out, bind(message_id=1):
        log.info("explicit", extra={"message_id": 2})

    assert objects_of(out)[0]["message_id"] == 2


def test_bind_refuses_a_name_the_record_has_already() -> None:
    with pytest.raises(ValueError, match="msg"), bind(msg="x"):
        pass
    assert bound() == {}


async def test_each_task_logs_its_own_fields() -> None:
    async def work(message_id: int) -> None:
        with bind(message_id=message_id):
            await asyncio.sleep(0)  # the other task binds meanwhile
            log.info("deciding %d", message_id)

    with written("text") as out:
        await asyncio.gather(work(1), work(2))

    assert sorted(line.split(" ", 4)[4] for line in lines_of(out)) == [
        "deciding 1 message_id=1",
        "deciding 2 message_id=2",
    ]


async def test_a_detached_task_carries_none_of_its_creators_fields() -> None:
    async def serve_everyone() -> None:
        log.info("writing a batch")

    with written("json") as out, bind(message_id=5):
        await asyncio.create_task(serve_everyone(), context=detached())
        await asyncio.create_task(serve_everyone())

    detached_line, inherited = objects_of(out)
    assert "message_id" not in detached_line
    assert inherited["message_id"] == 5


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_tokens_are_masked_in_messages_fields_bound_fields_and_tracebacks(
    log_format: LogFormat,
) -> None:
    with written(log_format) as out:
        log.warning("GET https://graph.facebook.com/me?access_token=EAAB0secret0token&x=1")
        log.warning(
            "poll failed",
            extra={
                "error": f"ConnectError: /bot{TOKEN}/getUpdates",
                "body": {"access_token": "EAAB0secret0token"},
            },
        )
        with bind(url=f"https://api.telegram.org/bot{TOKEN}/sendMessage"):
            log.info("sending")
        try:
            raise ConnectionError(f"https://api.telegram.org/bot{TOKEN}/getMe")
        except ConnectionError:
            log.exception("failed")

    text = out.getvalue()
    assert "EAAB0secret0token" not in text
    assert SECRET not in text
    assert "bot123456789:***" in text
    if log_format == "json":
        assert len(objects_of(out)) == 4  # masked, the lines still parse


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_formatter_masks_tokens_on_its_own(log_format: LogFormat) -> None:
    """Without the filter (a handler someone else set up): the written line is masked."""
    record = logging.makeLogRecord(
        {
            "msg": f"GET /bot{TOKEN}/getMe",
            "body": ('{"access_token": "EAAB0secret0token"} url?access_token=EAAB0secret0token"'),
        }
    )

    line = formatter(log_format).format(record)

    assert "EAAB0secret0token" not in line
    assert SECRET not in line
    if log_format == "json":
        assert json.loads(line)["message"] == "GET /bot123456789:***/getMe"


# --- the process's setup ----------------------------------------------------------------------


def test_intake_log_format_json_makes_the_process_write_json_lines() -> None:
    script = (
        "import logging\n"
        "from bot.app.config import Settings\n"
        "from bot.app.logs import configure_logging\n"
        "from bot.contract.log_context import bind\n"
        "settings = Settings()\n"
        "configure_logging(settings.log_level, settings.log_format)\n"
        "with bind(message_id=3):\n"
        f"    logging.getLogger('bot.x').info('sent %s', 'bot{TOKEN}', extra={{'n': 1}})\n"
    )
    env = {**os.environ, "INTAKE_LOG_FORMAT": "json", "INTAKE_LOG_LEVEL": "INFO"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )

    [line] = [json.loads(line) for line in done.stderr.splitlines()]
    assert (line["logger"], line["message"]) == ("bot.x", "sent bot123456789:***")
    assert (line["n"], line["message_id"]) == (1, 3)


# --- end to end: the worker and the sender ----------------------------------------------------


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, its records carrying the bound fields as the process's handlers' do."""
    caplog.handler.addFilter(BoundFields())
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="tests")
    yield caplog
    caplog.handler.filters.clear()


def about(caplog: pytest.LogCaptureFixture, **fields: object) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if all(getattr(record, key, None) == value for key, value in fields.items())
    ]


class LoggingSender:
    """Answers like a provider that logs what it sends (as the channels' adapters do)."""

    channel = Channel.EMAIL

    async def send(self, reply: OutboundReply) -> SendResult:
        logging.getLogger("tests.logs.sender").info("provider accepted the reply")
        return SendResult(ok=True, provider_id="p1")


async def test_a_decided_message_and_its_reply_are_logged_with_their_ids(
    runtime: Runtime, clock: VirtualClock, records: pytest.LogCaptureFixture
) -> None:
    runtime.sender.register({Channel.EMAIL: LoggingSender()})
    accepted = await runtime.ingest.accept(complaint("a@example.it", BROKEN, clock.now()))
    [outcome] = await runtime.worker.drain()
    await runtime.sender.run_once()

    assert outcome.decision is Decision.ANSWERED
    [decided] = about(records, message_id=accepted.message_id)
    assert decided.getMessage() == "message decided"
    assert vars(decided)["decision"] == "answered"
    assert (vars(decided)["ticket_ref"], vars(decided)["outbox_id"]) == (
        outcome.ticket_ref,
        outcome.outbox_id,
    )
    [sent] = about(records, outbox_id=outcome.outbox_id, name="tests.logs.sender")
    assert vars(sent)["ticket_ref"] == outcome.ticket_ref


async def test_a_poison_message_is_logged_with_its_id(
    runtime: Runtime, clock: VirtualClock, records: pytest.LogCaptureFixture
) -> None:
    bad_id = await poison_message(runtime, clock.now())

    [outcome] = await runtime.worker.drain()

    assert outcome.decision is Decision.ERROR
    failed = [r for r in about(records, message_id=bad_id) if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failed] == ["message could not be decided"]
    assert failed[0].exc_info is not None


def test_an_access_line_is_not_repeated_by_its_fields_in_text() -> None:
    record = logging.LogRecord(
        "aiohttp.access",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 "GET /healthz HTTP/1.1" 200',
        None,
        None,
    )
    record.response_status = 200
    text = logs.TextFormatter().format(record)
    assert "response_status" not in text
    assert json.loads(logs.JsonFormatter().format(record))["response_status"] == 200


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "GET /console/sso/callback?code=c0de&state=st4te HTTP/1.1",
            "/console/sso/callback?code=***&state=***",
        ),
        ("GET /status/view?token=t0ken&lang=it HTTP/1.1", "/status/view?token=***&lang=it"),
        ("GET /appeal?token=t0ken HTTP/1.1", "/appeal?token=***"),
        ("GET /form?lang=it HTTP/1.1", "/form?lang=it"),
    ],
)
def test_one_time_values_in_a_requested_url_are_masked(line: str, kept: str) -> None:
    assert kept in redact(line)
    assert "c0de" not in redact(line)
    assert "t0ken" not in redact(line)
