"""`intake-bot`: serve, worker, replay, classify, channels, policy, status, privacy, users,
models, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot.app import channel_setup
from bot.app.classify import classify, parse_thresholds
from bot.app.config import Settings
from bot.app.logs import configure_logging
from bot.app.replay import Replayer, first_time
from bot.app.runtime import Runtime, open_runtime, run_worker, toxicity_config
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, OutboundReply
from bot.contract.errors import IntakeError
from bot.contract.ports import NoClassifier
from bot.rules.policy import tunable_names
from bot.staff import privacy as privacy_data
from bot.staff.accounts import Accounts, Role
from bot.staff.desk import parse_status
from channels.capture import capture_senders
from moderation import model_fetch
from moderation.toxicity import open_classifier

log = logging.getLogger("bot.app.cli")


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(settings: Settings, with_worker: bool | None) -> None:
    from bot.app.web.app import make_app  # noqa: PLC0415 -- `worker` never loads the web app

    async with open_runtime(settings) as runtime:
        background = runtime.embedded if with_worker is None else with_worker
        runner = web.AppRunner(
            make_app(runtime, background=background, send=True, plugs=channel_setup.plugs(runtime))
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        mode = "embedded (SQLite + valkey)" if runtime.embedded else "distributed"
        log.warning(
            "intake-bot listening on http://%s:%s (%s; worker %s)",
            settings.http_host,
            settings.http_port,
            mode,
            "in-process" if background else "separate",
        )
        await _stop_event().wait()
        await runner.cleanup()


async def worker(settings: Settings) -> None:
    async with open_runtime(settings) as runtime:
        stop = _stop_event()
        follower = asyncio.create_task(runtime.policy.follow())
        runner = await _worker_http(runtime)
        log.warning(
            "intake-bot worker %s consuming %s", runtime.worker.consumer, runtime.keys.stream
        )
        try:
            await run_worker(runtime, stop)
        finally:
            follower.cancel()
            if runner is not None:
                await runner.cleanup()


async def _worker_http(runtime: Runtime) -> web.AppRunner | None:
    """The worker's /healthz, /readyz and /metrics, when INTAKE_WORKER_HTTP_PORT is set."""
    settings = runtime.settings
    if settings.worker_http_port is None:
        return None
    from bot.app.web.observability import worker_app  # noqa: PLC0415 -- only when asked

    runner = web.AppRunner(worker_app(runtime))
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.worker_http_port).start()
    log.warning(
        "worker metrics on http://%s:%s/metrics", settings.http_host, settings.worker_http_port
    )
    return runner


async def replay(settings: Settings, source: TextIO, out: TextIO) -> None:
    lines = source.read().splitlines()
    clock = VirtualClock(first_time(lines))
    captured: dict[int, OutboundReply] = {}
    with tempfile.TemporaryDirectory(prefix="intake-replay-") as tmp:
        fresh = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "key_prefix": f"replay-{uuid.uuid4().hex[:12]}",
                "consumer_name": "replay",
                "claim_idle_ms": 100,
            }
        )
        async with open_runtime(
            fresh, clock=clock, senders=capture_senders(captured, now=clock.now)
        ) as rt:
            try:
                async for line in Replayer(rt, clock, captured).run(lines):
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
            finally:
                await _forget(rt.redis, rt.keys.pattern)


async def _forget(redis: Any, pattern: str) -> None:
    """A replay on a shared Redis leaves nothing behind."""
    async for key in redis.scan_iter(match=pattern, count=500):
        await redis.delete(key)


async def channels(settings: Settings, action: str, name: str | None) -> None:
    async with open_runtime(settings) as runtime:
        if action in ("enable", "disable") and name:
            await runtime.policy.set_channel(name, action == "enable", actor="cli")
        accepted = runtime.policy.current.accepted
        for channel in Channel:
            print(f"{channel.value:10} {'accepted' if channel in accepted else 'closed'}")


async def policy(settings: Settings, name: str | None, value: str | None) -> None:
    async with open_runtime(settings) as runtime:
        if name is not None and value is not None:
            await runtime.policy.set_value(
                name, json.loads(value) if _is_json(value) else value, actor="cli"
            )
        current = runtime.policy.current
        for key in tunable_names():
            section, attr = key.split(".")
            print(f"{key:32} {getattr(getattr(current, section), attr)}")


async def status(
    settings: Settings, ref: str, new_status: str, note: str, new_resolve_date: date | None
) -> None:
    async with open_runtime(settings) as runtime:
        change = await runtime.desk.change_status(
            ref,
            parse_status(new_status),
            note=note,
            actor="cli",
            new_resolve_date=new_resolve_date,
        )
        print(
            json.dumps(
                {
                    "ticket": change.ref,
                    "state_version": change.state_version,
                    "reply_owed": change.outbox_id is not None,
                }
            )
        )


async def privacy(settings: Settings, action: str, who: str, actor: str) -> None:
    """Export prints everything stored about the customer; erase blanks it (audited)."""
    async with open_runtime(settings) as runtime:
        async with runtime.sessions() as session:
            customer_id = await privacy_data.find_customer(session, who)
        if action == "export":
            print(
                json.dumps(
                    await privacy_data.export(runtime.sessions, customer_id),
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        erased = await channel_setup.erase_customer(runtime, customer_id, actor=actor)
        print(
            json.dumps(
                {
                    "customer": customer_id,
                    "rows": erased.rows,
                    "files": erased.forgotten.get("files", 0),
                    "redis_keys": erased.forgotten.get("redis_keys", 0),
                }
            )
        )


async def classify_texts(settings: Settings, source: TextIO, overrides: list[str]) -> None:
    thresholds = parse_thresholds(overrides)
    classifier = await open_classifier(toxicity_config(settings))
    await classify(classifier, thresholds, source, sys.stdout)


class ProgressLine:
    """A download's progress on stderr without a runtime dependency for one admin command:
    redrawn in place on a terminal; a log or CI gets only each file's finished line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.shown = -1

    def __call__(self, name: str, done: int, total: int | None, finished: bool) -> None:
        percent = done * 100 // total if total else -1
        step = percent if total else done >> 20  # an unknown size: redrawn per MiB
        if not finished and (not self.live or step == self.shown):
            return
        self.shown = -1 if finished else step
        size = f"{done / 2**20:.1f} MiB" + (f" of {total / 2**20:.1f} MiB" if total else "")
        line = f"{name}: {size}" + (f" ({percent}%)" if total else "")
        end = "\n" if finished else ""
        self.stream.write(f"\r{line}{end}" if self.live else f"{line}{end}")
        self.stream.flush()


async def fetch_models(settings: Settings, model_type: str, sha256: str | None) -> None:
    """Fetches once, on purpose, what the `auto` backend then finds at its next start."""
    folder = await model_fetch.fetch(
        model_type,
        settings.models_dir,
        checkpoint_url=settings.models_checkpoint_url,
        hub_url=settings.models_hub_url,
        checkpoint_sha256=sha256,
        progress=ProgressLine(sys.stderr),
    )
    print(f"{model_type} stored in {folder}")
    if settings.detoxify_model != model_type:
        print(f"set INTAKE_DETOXIFY_MODEL={model_type} to use it (now {settings.detoxify_model})")


async def migrate_only(settings: Settings) -> None:
    async with open_runtime(settings):
        print(f"schema up to date on {settings.effective_database_url.split('://')[0]}")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


async def users(settings: Settings, args: argparse.Namespace, password: str | None) -> None:
    """Staff accounts; a password is read from stdin (--password-stdin) or generated and
    printed once; a token is printed once and kept only as its hash."""
    async with open_runtime(settings, classifier=NoClassifier()) as runtime:  # no scoring here
        accounts = Accounts(runtime.sessions, runtime.clock)
        match args.action:
            case "add" | "password":
                made = await (
                    accounts.add(args.name, Role.parse(args.role), password=password, actor="cli")
                    if args.action == "add"
                    else accounts.set_password(args.name, password, actor="cli")
                )
                if password is None:
                    print(f"password for {args.name}: {made}")
            case "disable" | "enable":
                await accounts.set_active(args.name, args.action == "enable", actor="cli")
            case "role":
                await accounts.set_role(args.name, Role.parse(args.role), actor="cli")
            case "email":
                await accounts.set_email(args.name, args.email, actor="cli")
            case "token":
                print(await accounts.issue_token(args.name, label=args.label, actor="cli"))
            case "tokens":
                for t in await accounts.tokens(args.name):
                    state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                    print(f"{t.id:6} {t.label or '-':20} {t.created_at:%Y-%m-%d} {state}")
            case "revoke":
                await accounts.revoke_token(args.token_id, actor="cli")
            case _:
                for staff, active in await accounts.listing():
                    flag = "" if active else "  (disabled)"
                    print(f"{staff.name:30} {staff.role.label:10} {staff.email}{flag}")


def _users_parser(sub: Any) -> None:
    users_p = sub.add_parser("users", help="staff accounts of the console and the staff API")
    actions = users_p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every account, its role and whether it is active")
    add_p = actions.add_parser("add", help="a new account (password generated unless given)")
    add_p.add_argument("name")
    add_p.add_argument("--role", required=True, choices=[r.label for r in Role])
    add_p.add_argument("--password-stdin", action="store_true", help="read the password")
    for action, text in (("disable", "sign out and refuse"), ("enable", "allow again")):
        actions.add_parser(action, help=text).add_argument("name")
    role_p = actions.add_parser("role", help="change an account's role")
    role_p.add_argument("name")
    role_p.add_argument("role", choices=[r.label for r in Role])
    email_p = actions.add_parser("email", help="where the account's digests go")
    email_p.add_argument("name")
    email_p.add_argument("email")
    password_p = actions.add_parser("password", help="set a new password")
    password_p.add_argument("name")
    password_p.add_argument("--password-stdin", action="store_true", help="read the password")
    token_p = actions.add_parser("token", help="print a new personal API token, once")
    token_p.add_argument("name")
    token_p.add_argument("--label", default="", help="what the token is for")
    actions.add_parser("tokens", help="an account's tokens (never the tokens)").add_argument("name")
    actions.add_parser("revoke", help="revoke a token by its id").add_argument("token_id", type=int)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser(
        "serve", help="web app, channels and reply sender (and, embedded, the worker)"
    )
    serve_p.add_argument(
        "--with-worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the stream's worker in this process too (default: only in the embedded mode)",
    )
    sub.add_parser(
        "worker",
        help="the stream's worker only: decides messages and takes over "
        "a dead worker's; replies go out from `serve`",
    )
    replay_p = sub.add_parser("replay", help="dry-run a JSONL scenario")
    replay_p.add_argument("file", help="JSONL file, or - for stdin")
    replay_p.add_argument("--database-url")
    replay_p.add_argument("--redis-url")
    channels_p = sub.add_parser("channels", help="list, enable or disable channels")
    channels_p.add_argument("action", choices=["list", "enable", "disable"])
    channels_p.add_argument("name", nargs="?")
    policy_p = sub.add_parser("policy", help="list or set runtime limits")
    policy_p.add_argument("name", nargs="?")
    policy_p.add_argument("value", nargs="?")
    status_p = sub.add_parser("status", help="change a ticket's status (one reply)")
    status_p.add_argument("ticket")
    status_p.add_argument("status")
    status_p.add_argument(
        "--note",
        default="",
        help="told to the customer (or, on the same status, a note for staff only)",
    )
    status_p.add_argument(
        "--new-resolve-date",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="a new target date for the resolution (needs --note: the explanation)",
    )
    classify_p = sub.add_parser("classify", help="score texts, one per line, for tuning")
    classify_p.add_argument("file", nargs="?", default="-", help="text file, or - for stdin")
    classify_p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="override a threshold (repeatable)",
    )
    privacy_p = sub.add_parser("privacy", help="export or erase a customer's personal data")
    privacy_p.add_argument("action", choices=["export", "erase"])
    privacy_p.add_argument("who", help="a ticket reference, channel:address, or an email address")
    privacy_p.add_argument("--actor", default="cli", help="who asked (for the audit log)")
    _users_parser(sub)
    models_p = sub.add_parser("models", help="Detoxify's weights for the toxicity backend")
    models_actions = models_p.add_subparsers(dest="action", required=True)
    fetch_p = models_actions.add_parser(
        "fetch", help="download, verify and store a model under INTAKE_DATA_DIR/models"
    )
    fetch_p.add_argument(
        "model_type", nargs="?", default="multilingual", choices=model_fetch.FETCHABLE
    )
    fetch_p.add_argument(
        "--sha256",
        default=None,
        metavar="HEX",
        help="expect this sha256 (or its first 8+ digits) for the checkpoint instead of the "
        "published one: a checkpoint you trained, served by your mirror under that name",
    )
    sub.add_parser("migrate", help="bring the database schema up to date")
    return parser


@contextlib.contextmanager
def _opened(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8") as handle:
        yield handle


Command = Callable[[], Coroutine[Any, Any, None]]


def _command(args: argparse.Namespace, settings: Settings) -> Command:  # noqa: PLR0911
    match args.command:
        case "serve":
            return lambda: serve(settings, args.with_worker)
        case "worker":
            return lambda: worker(settings)
        case "channels":
            if args.action != "list" and not args.name:
                raise IntakeError(f"channels {args.action} needs a channel name")
            return lambda: channels(settings, args.action, args.name)
        case "policy":
            return lambda: policy(settings, args.name, args.value)
        case "status":
            return lambda: status(
                settings, args.ticket, args.status, args.note, args.new_resolve_date
            )
        case "privacy":
            return lambda: privacy(settings, args.action, args.who, args.actor)
        case "users":
            password = None
            if getattr(args, "password_stdin", False):
                password = sys.stdin.readline().rstrip("\r\n")
            return lambda: users(settings, args, password)
        case "models":
            return lambda: fetch_models(settings, args.model_type, args.sha256)
        case _:
            return lambda: migrate_only(settings)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "classify":
            with _opened(args.file) as source:
                asyncio.run(classify_texts(settings, source, args.threshold))
        elif args.command == "replay":
            overrides = {"database_url": args.database_url, "redis_url": args.redis_url}
            settings = settings.model_copy(update=overrides)
            with _opened(args.file) as source:
                asyncio.run(replay(settings, source, sys.stdout))
        else:
            asyncio.run(_command(args, settings)())
    except (IntakeError, OSError) as exc:
        print(f"intake-bot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
