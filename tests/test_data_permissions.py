"""The data directory is the bot's alone: directories 0700, files 0600, whatever the umask.

It holds every customer's messages (the SQLite database and its log, Valkey's
append-only file), their uploaded photos and the form's signing secret. Checked after a
real start (embedded: the bot's own Valkey in the data directory) and a form post with a
photo, under the permissive umask 022 a service account often has.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import channel_setup
from bot.app.config import Settings
from bot.app.runtime import open_runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply
from channels.capture import capture_senders
from tests.test_erasure_complete import fill_in_the_form

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def loose(directory: Path) -> dict[str, str]:
    """Everything under `directory` (itself included) that others may read, enter or use."""
    found = {}
    for path in [directory, *directory.rglob("*")]:
        mode = path.lstat().st_mode
        wanted = 0o600 if stat.S_ISREG(mode) else 0o700  # a directory, or Valkey's socket
        if stat.S_IMODE(mode) & ~wanted:
            found[str(path.relative_to(directory))] = oct(stat.S_IMODE(mode))
    return found


@pytest.mark.usefixtures("permissive_umask")
async def test_what_the_bot_writes_under_the_data_directory_is_private(
    settings: Settings, tmp_path: Path, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    data_dir = tmp_path / "data"
    update: dict[str, object] = {"data_dir": data_dir}
    if settings.database_url is None:
        update["redis_url"] = None  # embedded: the bot's own Valkey, in the data directory
    own = settings.model_copy(update=update)
    async with open_runtime(own, clock=clock, senders=capture_senders(captured)) as runtime:
        async with TestClient(
            TestServer(make_app(runtime, plugs=channel_setup.plugs(runtime)))
        ) as client:
            await fill_in_the_form(client, "perms")
            await runtime.worker.drain()
            await runtime.sender.run_once()
        written = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*")}
        assert loose(data_dir) == {}
        async for key in runtime.redis.scan_iter(match=runtime.keys.pattern, count=500):
            await runtime.redis.delete(key)
    assert "form_secret" in written
    assert len(list((data_dir / "uploads").iterdir())) == 1
    if runtime.embedded:  # what the stores made themselves was checked too
        assert {"intake.db", "intake.db-wal", "valkey/appendonlydir"} <= written
