"""Processes, databases and Redis keys the bench creates, and removes again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def intake_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without any INTAKE_* of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return {**env, **extra}


class Service:
    """One child process with its output in a log file; stopped by its own pid/group."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, dict(env), log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_healthy(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy at {url}:\n{self.tail()}")

    async def stop(self, timeout_s: float = 20.0) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its group: an embedded valkey too
            return await proc.wait()

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> tuple[int, int, list[str]]:
        """(ERROR lines, tracebacks, the first distinct problem lines) of the log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        errors = [ln for ln in text.splitlines() if re.search(r" (ERROR|CRITICAL) ", ln)]
        distinct = list(dict.fromkeys(re.sub(r"^\S+ \S+ ", "", ln)[:160] for ln in errors))
        return len(errors), text.count("Traceback (most recent call last)"), distinct[:3]


@contextlib.asynccontextmanager
async def temp_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database; yields its asyncpg DSN and drops it afterwards."""
    name = f"intake_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def forget_keys(prefix: str) -> int:
    """Delete every Redis key under `prefix:`; returns how many."""
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await redis.unlink(*keys[i : i + 500])
        return len(keys)
    finally:
        await redis.aclose()
