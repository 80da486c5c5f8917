"""The admin CLI as an admin runs it: a fresh embedded data dir, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_replay import SCENARIOS, check_flood


def cli(
    data_dir: Path, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "INTAKE_DATA_DIR": str(data_dir), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_staff_accounts_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    added = cli(
        tmp_path,
        "users",
        "add",
        "luca",
        "--role",
        "moderator",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    generated = cli(tmp_path, "users", "add", "anna", "--role", "admin")
    short = cli(tmp_path, "users", "add", "eve", "--role", "agent", "--password-stdin", stdin="x\n")
    token = cli(tmp_path, "users", "token", "luca", "--label", "ci")
    cli(tmp_path, "users", "disable", "anna")
    listed = cli(tmp_path, "users", "list").stdout
    tokens = cli(tmp_path, "users", "tokens", "luca").stdout

    assert (added.returncode, added.stdout) == (0, "")  # a given password is not printed
    assert generated.stdout.startswith("password for anna: ")
    assert (short.returncode, "12 to 1024 characters" in short.stderr) == (2, True)
    assert token.stdout.startswith("itk_")
    assert "anna" in listed
    assert "(disabled)" in listed.split("anna")[1].splitlines()[0]
    assert "ci" in tokens
    assert token.stdout.strip() not in tokens


def test_channels_can_be_listed_enabled_and_disabled(tmp_path: Path) -> None:
    listed = cli(tmp_path, "channels", "list")
    assert listed.returncode == 0, listed.stderr
    assert "whatsapp   closed" in listed.stdout
    assert "email      accepted" in listed.stdout
    assert cli(tmp_path, "channels", "enable", "WhatsApp").returncode == 0
    assert cli(tmp_path, "channels", "disable", "email").returncode == 0
    after = cli(tmp_path, "channels", "list").stdout
    assert "whatsapp   accepted" in after
    assert "email      closed" in after


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("channels", "enable", "ebay"), "unknown channel 'ebay'"),
        (("channels", "enable"), "needs a channel name"),
        (("policy", "throttle.flood_limit", "-3"), "must not be negative"),
        (("policy", "throttle.bogus", "3"), "unknown setting"),
        (("status", "C-2026-999999", "resolved"), "no ticket"),
        (("status", "C-2026-999999", "teleported"), "unknown status"),
        (("replay", "/nonexistent/scenario.jsonl"), "No such file"),
        (("users", "add", "<b>", "--role", "admin"), "a user name is"),
        (("users", "role", "nobody", "admin"), "no user 'nobody'"),
        (("users", "revoke", "99"), "no token 99"),
    ],
)
def test_bad_admin_input_is_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_policy_values_persist_across_runs(tmp_path: Path) -> None:
    assert cli(tmp_path, "policy", "throttle.flood_limit", "20").returncode == 0
    assert "throttle.flood_limit             20" in cli(tmp_path, "policy").stdout


async def test_replay_runs_on_postgres_and_redis_and_leaves_no_keys(
    tmp_path: Path, postgres_url: str, real_redis_url: str
) -> None:
    import asyncio  # noqa: PLC0415 - only this test needs a subprocess without blocking

    from redis.asyncio import Redis  # noqa: PLC0415

    scenario = (SCENARIOS / "flood.jsonl").read_text("utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        "replay",
        "-",
        "--database-url",
        postgres_url,
        "--redis-url",
        real_redis_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "INTAKE_DATA_DIR": str(tmp_path)},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(scenario.encode()), 120)
    assert process.returncode == 0, stderr.decode()
    out = [json.loads(line) for line in stdout.decode().splitlines()]
    check_flood(scenario.splitlines(), out)
    redis = Redis.from_url(real_redis_url)
    try:
        assert [k async for k in redis.scan_iter(match="replay-*")] == []
    finally:
        await redis.aclose()
