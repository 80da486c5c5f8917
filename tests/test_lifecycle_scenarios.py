"""The complaint lifecycle, replayed as customers and staff live it, on both backends.

Each `tests/scenarios/lifecycle/NAME.jsonl` is a replay (README: Replay) and
`NAME.expect.jsonl` its expected output, one line per event: every key given must match
(objects as subsets, lists item by item), and a reply's text is the whole text, with each
ticket's reference written `@N` (the Nth ticket of the replay: ids differ between runs on
a shared database). After a deliberate change of behaviour or wording, print a scenario's
output in that form with `.venv/bin/python -m tests.test_lifecycle_scenarios NAME`, read
it, and keep what it must say.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bot.app.config import Settings
from bot.app.replay import Replayer
from bot.app.runtime import Runtime, open_runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply
from channels.capture import capture_senders

SCENARIOS = Path(__file__).parent / "scenarios" / "lifecycle"
NAMES = sorted(
    p.name.removesuffix(".jsonl") for p in SCENARIOS.glob("*.jsonl") if ".expect" not in p.name
)
_REF = re.compile(r"C-\d{4}-\d{6}")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def _run(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply], name: str
) -> list[dict[str, Any]]:
    replayer = Replayer(runtime, clock, captured)
    out = [line async for line in replayer.run(_lines(SCENARIOS / f"{name}.jsonl"))]
    portable: list[dict[str, Any]] = _portable(out, replayer.ticket_index)
    return portable


def _portable(value: Any, index: dict[str, int]) -> Any:
    """References written as @N, the ticket's number in this replay."""
    if isinstance(value, dict):
        return {k: _portable(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v, index) for v in value]
    if isinstance(value, str):
        return _REF.sub(lambda m: f"@{index[m.group(0)]}" if m.group(0) in index else "@?", value)
    return value


def _match(want: Any, got: Any, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {got!r}"
        for key, value in want.items():
            assert key in got, f"{where}: no {key!r} in {got!r}"
            _match(value, got[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{where}: expected a list, got {got!r}"
        assert len(got) == len(want), f"{where}: {len(got)} items, expected {len(want)}: {got!r}"
        for n, (w, g) in enumerate(zip(want, got, strict=True)):
            _match(w, g, f"{where}[{n}]")
    else:
        assert got == want, f"{where}: got {got!r}, expected {want!r}"


@pytest.mark.parametrize("name", NAMES)
async def test_lifecycle_scenario(
    name: str, runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    expected = [json.loads(line) for line in _lines(SCENARIOS / f"{name}.expect.jsonl")]
    out = await _run(runtime, clock, captured, name)
    assert len(out) == len(expected), f"{name}: {len(out)} output lines, expected {len(expected)}"
    for got, want in zip(out, expected, strict=True):
        _match(want, got, f"{name} event {got['event']}")


def test_every_scenario_has_its_expected_output() -> None:
    assert NAMES
    for name in NAMES:
        assert (SCENARIOS / f"{name}.expect.jsonl").exists(), name


async def _print(name: str) -> None:
    """The output of one scenario on the embedded store, in the expectations' form."""
    with tempfile.TemporaryDirectory() as data_dir:
        captured: dict[int, OutboundReply] = {}
        clock = VirtualClock(_first_time(name))
        settings = Settings(data_dir=Path(data_dir))
        async with open_runtime(
            settings, clock=clock, senders=capture_senders(captured, now=clock.now)
        ) as runtime:
            for line in await _run(runtime, clock, captured, name):
                print(json.dumps(line, ensure_ascii=False))


def _first_time(name: str) -> Any:
    from bot.app.replay import first_time  # noqa: PLC0415

    return first_time(_lines(SCENARIOS / f"{name}.jsonl"))


if __name__ == "__main__":
    asyncio.run(_print(sys.argv[1]))
