"""The embedded deployment as a user runs it: `intake-bot serve` with no services configured.

Each test starts the real console script as a subprocess in a fresh INTAKE_DATA_DIR
(SQLite file + a Valkey server the bot starts on a unix socket), talks to it over
HTTP and reads its SQLite file directly. Every process a test starts, including a
valkey-server a killed bot leaves behind, is killed by the `deployment` fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TOKEN = "serve-test-token"
STARTUP_S = 30.0
DECIDE_S = 15.0
EXIT_S = 20.0


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "intake-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.app.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def live_processes_mentioning(marker: str) -> list[int]:
    """Pids (not zombies, not this one) whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(
    condition: Callable[[], bool], seconds: float, what: str, log: Callable[[], str] = lambda: ""
) -> None:
    """Poll a real condition until it holds; fail naming it after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}\n{log()}")
        time.sleep(0.05)


class Bot:
    """One `intake-bot serve` process, leader of its own process group."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=EXIT_S)

    def kill(self, whole_group: bool) -> None:
        assert self.alive(), self.log()
        if whole_group:
            os.killpg(self.pid, signal.SIGKILL)  # the bot and the valkey-server it started
        else:
            os.kill(self.pid, signal.SIGKILL)
        assert self.process.wait(timeout=EXIT_S) == -signal.SIGKILL


class Deployment:
    """A data dir and the bots run on it, one after another."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = (root / "data").resolve()
        self.socket = self.data_dir / "valkey" / "valkey.sock"
        self.database = self.data_dir / "intake.db"
        self.port = free_port()
        self.bots: list[Bot] = []

    # --- processes ---

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        env.update(
            INTAKE_DATA_DIR=str(self.data_dir),
            INTAKE_API_TOKEN=TOKEN,
            INTAKE_HTTP_HOST="127.0.0.1",
            INTAKE_HTTP_PORT=str(self.port),
            INTAKE_LOG_LEVEL="INFO",
            # The safety net that re-adds undecided rows must not mask a lost stream
            # entry: only the entry persisted in valkey's append-only file may decide it.
            INTAKE_REQUEUE_AFTER_S="3600",
        )
        return env

    def start(self, *options: str) -> Bot:
        log_path = self.root / f"bot-{len(self.bots) + 1}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [*console_script(), "serve", *options],
                env=self.environment(),
                cwd=self.root,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        bot = Bot(process, log_path)
        self.bots.append(bot)
        wait_for(lambda: not bot.alive() or self.healthy(), STARTUP_S, "/healthz 200", bot.log)
        assert bot.alive(), f"the bot exited with {bot.process.returncode}\n{bot.log()}"
        return bot

    def valkey_pids(self) -> list[int]:
        return live_processes_mentioning(str(self.data_dir))

    def cleanup(self) -> None:
        for bot in self.bots:
            if bot.alive():
                bot.process.kill()
                bot.process.wait(timeout=EXIT_S)
        for pid in self.valkey_pids():  # a valkey-server orphaned by a killed bot
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self.valkey_pids(), EXIT_S, "leftover valkey-server to exit")

    # --- HTTP ---

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def healthy(self) -> bool:
        try:
            status, _ = self.request("GET", "/healthz")
        except OSError:
            return False
        return status == 200

    def health(self) -> dict[str, Any]:
        status, report = self.request("GET", "/healthz")
        assert status == 200, report
        return report

    def post(self, external_id: str, text: str) -> int:
        status, answer = self.request(
            "POST",
            "/api/v1/messages",
            {
                "channel": "webform",
                "external_id": external_id,
                "sender": "marco.bianchi@example.com",
                "display_name": "Marco Bianchi",
                "text": text,
                "received_at": "2026-11-02T09:15:00+01:00",
            },
        )
        assert (status, answer["duplicate"]) == (202, False), answer
        return int(answer["id"])

    # --- the SQLite file ---

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            return connection.execute(sql, params).fetchall()

    def message(self, message_id: int) -> tuple[str | None, int | None]:
        [(decision, ticket_id)] = self.query(
            "SELECT decision, ticket_id FROM messages WHERE id = ?", message_id
        )
        return decision, ticket_id

    def wait_decided(self, message_id: int, bot: Bot) -> tuple[str, int]:
        """Until the decision is committed and the worker has acknowledged the stream entry."""
        wait_for(
            lambda: self.message(message_id)[0] is not None,
            DECIDE_S,
            f"message {message_id} to be decided",
            bot.log,
        )
        # The worker XACKs right after its commit: wait for that too, so a kill that follows
        # leaves no entry pending for a dead consumer.
        wait_for(
            lambda: self.health()["stream_pending"] == 0,
            DECIDE_S,
            "the stream entry to be acknowledged",
            bot.log,
        )
        decision, ticket_id = self.message(message_id)
        assert decision is not None
        assert ticket_id is not None, decision
        return decision, ticket_id


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path)
    try:
        yield deployed
    finally:
        deployed.cleanup()


def test_serve_answers_a_complaint_and_stops_cleanly_on_sigterm(deployment: Deployment) -> None:
    bot = deployment.start()
    report = deployment.health()
    assert (report["database"], report["redis"]) == ("sqlite", "embedded valkey")
    assert answers_ping(deployment.socket)
    [valkey] = deployment.valkey_pids()

    message_id = deployment.post("form-1", "My inverter SUN-5K-G03 shows error F23.")
    decision, ticket_id = deployment.wait_decided(message_id, bot)

    assert decision == "answered"
    assert deployment.query("SELECT id FROM tickets") == [(ticket_id,)]
    assert deployment.query("SELECT count(*) FROM outbox WHERE ticket_id = ?", ticket_id) == [(1,)]

    assert bot.stop() == 0, bot.log()

    assert "Traceback" not in bot.log()
    assert not answers_ping(deployment.socket)
    assert valkey not in deployment.valkey_pids()
    assert deployment.message(message_id) == ("answered", ticket_id)


@pytest.mark.parametrize("whole_group", [False, True], ids=["bot-only", "process-group"])
def test_killed_bot_restarts_on_its_data_and_decides_what_it_had_accepted(
    deployment: Deployment, whole_group: bool
) -> None:
    first = deployment.start()
    earlier = deployment.post("form-1", "My inverter SUN-5K-G03 shows error F23.")
    earlier_decision, ticket_id = deployment.wait_decided(earlier, first)
    [valkey] = deployment.valkey_pids()

    first.kill(whole_group)

    if whole_group:
        assert deployment.valkey_pids() == []
        assert deployment.socket.exists()  # left behind by the killed server
        assert not answers_ping(deployment.socket)
    else:
        assert deployment.valkey_pids() == [valkey]
        assert answers_ping(deployment.socket)

    # A web process without the worker: what it accepts waits, undecided, on the stream.
    web_only = deployment.start("--no-with-worker")
    if whole_group:
        [replacement] = deployment.valkey_pids()
        assert replacement != valkey
    else:
        assert deployment.valkey_pids() == [valkey]  # the live server was reused
    assert deployment.message(earlier) == (earlier_decision, ticket_id)
    pending = deployment.post("form-2", "Any news? The serial number is SN-4471-0098.")
    assert deployment.message(pending) == (None, None)

    web_only.kill(whole_group)

    restarted = deployment.start()
    decision, pending_ticket = deployment.wait_decided(pending, restarted)

    assert decision != "error"
    assert pending_ticket == ticket_id  # the same customer's open ticket
    assert deployment.message(earlier) == (earlier_decision, ticket_id)
    assert deployment.query("SELECT id FROM tickets") == [(ticket_id,)]
    assert deployment.query("SELECT count(*) FROM messages") == [(2,)]
    assert restarted.stop() == 0, restarted.log()


def test_clean_stop_after_a_crash_leaves_no_valkey_server_running(deployment: Deployment) -> None:
    deployment.start().kill(whole_group=False)
    assert answers_ping(deployment.socket)  # orphaned by the crash
    restarted = deployment.start()

    assert restarted.stop() == 0, restarted.log()

    assert deployment.valkey_pids() == []
    assert not answers_ping(deployment.socket)
