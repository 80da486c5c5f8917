"""The policy's flood case, replayed through the real pipeline on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.app.replay import Replayer
from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply

SCENARIOS = Path(__file__).parent / "scenarios"


async def _replay(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply], lines: list[str]
) -> list[dict[str, Any]]:
    return [line async for line in Replayer(runtime, clock, captured).run(lines)]


def _by_id(lines: list[str], out: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Output lines keyed by the input event's id (first occurrence)."""
    result: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        event = json.loads(line)
        if "id" in event:
            result.setdefault(event["id"], next(o for o in out if o["event"] == number))
    return result


def check_flood(lines: list[str], out: list[dict[str, Any]]) -> None:
    events = [json.loads(line) for line in lines]
    replies = [o for o in out if o.get("reply")]
    # One acknowledgment, by email, in Italian, with the ticket reference; one status reply.
    assert [o["type"] for o in replies] == ["message", "status"]
    ack, status = replies
    assert ack["reply"]["channel"] == "email"
    assert ack["reply"]["to"] == "mario.rossi@example.it"
    assert ack["reply"]["language"] == "it"
    assert ack["ticket"] in ack["reply"]["text"]
    assert status["reply"]["to"] == "mario.rossi@example.it"
    assert "tecnico" in status["reply"]["text"]
    # Nothing answered on WhatsApp: its messages are stored as channel_closed.
    whatsapp = [o for o, e in zip(out, events, strict=True) if e.get("channel") == "whatsapp"]
    assert whatsapp
    assert all(o["decision"] == "channel_closed" for o in whatsapp)
    # Every channel's message is seen on the one ticket; repeats and claims collapse.
    assert {o["ticket_index"] for o in out if o["ticket_index"] is not None} == {1}
    by_id = _by_id(lines, out)
    assert by_id["m2"]["decision"] == "collapsed"  # near-duplicate of m1
    assert by_id["m3"]["decision"] == "collapsed"  # instagram, same state
    # The 11th answerable message of the hour, but Mario's own mail: what the other
    # channels merely claim counts against them, never against the customer they name.
    assert by_id["m13"]["decision"] == "collapsed"
    assert all(by_id[m]["decision"] == "collapsed" for m in ("m3", "m5", "m8", "m10", "m12"))
    assert [o["decision"] for o in out if o["event"] == 15] == ["duplicate"]
    after_status = out[out.index(status) + 1 :]
    assert after_status
    assert all(o["decision"] == "collapsed" for o in after_status)


async def test_flood_scenario_on_both_backends(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    lines = (SCENARIOS / "flood.jsonl").read_text(encoding="utf-8").splitlines()
    out = await _replay(runtime, clock, captured, lines)
    assert not [o for o in out if "error" in o]
    check_flood(lines, out)
    assert len(captured) == 2  # the sender really sent (captured) exactly two replies


def test_replay_cli_runs_the_scenario_on_a_fresh_embedded_store(tmp_path: Path) -> None:
    scenario = SCENARIOS / "flood.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "replay", "-"],
        input=scenario.read_text("utf-8"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "INTAKE_DATA_DIR": str(tmp_path)},
    )
    out = [json.loads(line) for line in result.stdout.splitlines()]
    check_flood(scenario.read_text("utf-8").splitlines(), out)
    assert not list(tmp_path.glob("**/intake.db")), "the replay must not touch the data dir"


async def test_malformed_lines_are_reported_and_the_replay_goes_on(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    lines = [
        "{not json",
        '["a list"]',
        '{"type":"fax","at":"2026-11-02T09:00:00+01:00"}',
        '{"type":"message","channel":"ebay","sender":"x","text":"hi","at":"2026-11-02T09:00:00Z"}',
        '{"type":"message","channel":"email","sender":"a@b.it","text":"hi","at":"2026-11-02T09:00:00"}',
        '{"type":"status","ticket":"@7","status":"investigating"}',
        '{"type":"message","channel":"email","sender":"a@b.it","text":"Il mio inverter è rotto da una settimana","at":"2026-11-02T09:01:00Z","id":"ok"}',
        '{"type":"status","ticket":"@1","status":"teleported"}',
        '{"type":"moderate","message":"nope","action":"release"}',
    ]
    out = await _replay(runtime, clock, captured, lines)
    errors = {o["event"]: o["error"] for o in out if "error" in o}
    assert set(errors) == {1, 2, 3, 4, 5, 6, 8, 9}
    assert all(text.startswith(f"line {n}:") for n, text in errors.items())
    assert "ebay" in errors[4]
    assert "time zone" in errors[5]
    assert "teleported" in errors[8]
    assert next(o for o in out if o["event"] == 7)["decision"] == "answered"


async def test_channel_event_opens_whatsapp_at_runtime(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    lines = [
        '{"type":"message","channel":"whatsapp","sender":"+31 6 12345678","text":"Mijn omvormer is kapot, bestelling 778812","at":"2026-11-02T09:00:00+01:00"}',
        '{"type":"channel","channel":"whatsapp","accepted":true,"at":"2026-11-02T09:05:00+01:00"}',
        '{"type":"message","channel":"whatsapp","sender":"+31 6 12345678","text":"Hallo? Mijn omvormer doet het nog steeds niet, wat nu?","at":"2026-11-02T09:10:00+01:00"}',
    ]
    out = await _replay(runtime, clock, captured, lines)
    assert [o["decision"] for o in out] == ["channel_closed", None, "answered"]
    reply = out[2]["reply"]
    assert reply["channel"] == "whatsapp"
    assert reply["to"] == "31612345678"
    assert reply["language"] == "nl"


async def test_insults_added_to_the_flood_are_held_and_nothing_else(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    assert runtime.classifier.name == "lexicon"  # the embedded default without weights
    lines = (SCENARIOS / "flood_insults.jsonl").read_text(encoding="utf-8").splitlines()
    out = await _replay(runtime, clock, captured, lines)
    check_flood(lines, out)
    by_id = _by_id(lines, out)
    assert {i for i, o in by_id.items() if o["decision"] == "flagged"} == {"i1", "i2"}
    assert by_id["c1"]["decision"] != "flagged"  # furious but civil
