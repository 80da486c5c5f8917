"""Chat sessions in Redis: the dialog, the history and the live feed of each session.

A session lives in three keys under `<prefix>:webchat:` (the fields, the history list
and the message states), all refreshed to the TTL on every write, so a customer who
comes back within the TTL finds the conversation as they left it. An entry's id is
its position in the history list (RPUSH answers it atomically), so a client resumes
with "everything after id N". Every new entry and state change is published on one
channel; each web process forwards it to its own open panels of that session.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from bot.contract.domain import Channel
from bot.contract.keys import Keys
from bot.contract.ports import Traces

From = Literal["customer", "bot"]
MAX_ENTRIES = 5000  # a session is a conversation, not a storage service
MAX_HISTORY_BYTES = 2 * 1024 * 1024  # and its history is bounded in size, not only count
_AWAITING = "awaiting:"  # a session field per submitted entry that waits for its decision
_SAID = "said"  # a session field: the bot's last words, so a repeat is refused atomically
# The field's old value, and the new one set, in one step: two follow-ups of one session
# (on any web process) cannot both see "not said yet".
_SWAP_SAID = "local old = redis.call('HGET', KEYS[1], ARGV[1]) "
_SWAP_SAID += "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return old"


@dataclass(frozen=True)
class Entry:
    id: int
    sender: From
    text: str
    at: str  # ISO 8601
    state: str = ""  # a customer entry: sent, delivered, failed
    ref: str = ""  # a bot entry about a ticket: its reference
    choices: tuple[str, ...] = ()  # a bot question's answers, offered as buttons too
    kind: str = ""  # a bot entry the widget shows apart: "held" (notice), "privacy"

    def frame(self) -> dict[str, Any]:
        return {"type": "entry", "entry": asdict(self)}


@dataclass
class Session:
    id: str
    language: str
    dialog: dict[str, Any]
    ticket_ref: str = ""


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SessionFull(Exception):
    """The session's history reached MAX_ENTRIES."""


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self.keys = Keys(prefix).webchat  # the session's keys (bot.contract.keys)
        self._ttl = ttl_s

    def _all(self, sid: str) -> list[str]:
        k = self.keys
        return [
            k.session(sid),
            k.history(sid),
            k.states(sid),
            k.client_ids(sid),
            k.history_bytes(sid),
        ]

    async def _touch(self, sid: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in self._all(sid):
                pipe.expire(key, self._ttl)
            await pipe.execute()

    async def create(self, language: str, dialog: dict[str, Any]) -> Session:
        session = Session(id=secrets.token_urlsafe(18), language=language, dialog=dialog)
        await self.save(session)
        return session

    async def load(self, sid: str) -> Session | None:
        if not sid or len(sid) > 64:
            return None
        fields = await self._redis.hgetall(self.keys.session(sid))
        if not fields:
            return None
        data = {_str(k): _str(v) for k, v in fields.items()}
        return Session(
            id=sid,
            language=data.get("language", "en"),
            dialog=json.loads(data.get("dialog", "{}")),
            ticket_ref=data.get("ticket_ref", ""),
        )

    async def exists(self, sid: str) -> bool:
        return bool(sid) and bool(await self._redis.exists(self.keys.session(sid)))

    async def save(self, session: Session) -> None:
        """The fields this process changes; the ticket reference is the sender's (set_ref)."""
        mapping: dict[FieldT, EncodableT] = {
            "language": session.language,
            "dialog": json.dumps(session.dialog),
        }
        await self._redis.hset(self.keys.session(session.id), mapping=mapping)
        await self._touch(session.id)

    async def await_decision(self, sid: str, entry_id: int, kind: str) -> None:
        """Entry `entry_id` was submitted and waits for the worker's decision: a panel that
        comes back (after a restart of this process, say) follows it up again."""
        await self._redis.hset(self.keys.session(sid), f"{_AWAITING}{entry_id}", kind)

    async def decision_told(self, sid: str, entry_id: int) -> None:
        await self._redis.hdel(self.keys.session(sid), f"{_AWAITING}{entry_id}")

    async def awaiting(self, sid: str) -> dict[int, str]:
        """Entry id -> follow-up kind of the submitted entries not followed up yet."""
        fields = await self._redis.hgetall(self.keys.session(sid))
        found = {_str(k): _str(v) for k, v in fields.items()}
        return {
            int(name.removeprefix(_AWAITING)): kind
            for name, kind in found.items()
            if name.startswith(_AWAITING) and name.removeprefix(_AWAITING).isdigit()
        }

    async def say_once(self, sid: str, text: str) -> bool:
        """Record that the bot says `text` now; False when those were its last words."""
        old = await self._redis.eval(_SWAP_SAID, 1, self.keys.session(sid), _SAID, text)
        return old is None or _str(old) != text

    async def said(self, sid: str, text: str) -> None:
        """The bot's words that are not a receipt: a receipt may follow them again."""
        await self._redis.hset(self.keys.session(sid), _SAID, text)

    async def set_ref(self, sid: str, ref: str) -> None:
        await self._redis.hset(self.keys.session(sid), "ticket_ref", ref)

    async def append(
        self,
        sid: str,
        sender: From,
        text: str,
        at: datetime,
        state: str = "",
        ref: str = "",
        *,
        choices: tuple[str, ...] = (),
        kind: str = "",
    ) -> Entry:
        fields: dict[str, Any] = {"sender": sender, "text": text, "at": at.isoformat(), "ref": ref}
        if choices:
            fields["choices"] = list(choices)
        if kind:
            fields["kind"] = kind
        record = json.dumps(fields)
        size = int(await self._redis.incrby(self.keys.history_bytes(sid), len(record)))
        if size > MAX_HISTORY_BYTES:  # counted first, so parallel appends cannot pass it
            await self._redis.decrby(self.keys.history_bytes(sid), len(record))
            raise SessionFull(f"a chat session holds at most {MAX_HISTORY_BYTES} bytes")
        length = int(await self._redis.rpush(self.keys.history(sid), record))
        entry = Entry(
            id=length - 1,
            sender=sender,
            text=text,
            at=at.isoformat(),
            state=state,
            ref=ref,
            choices=choices,
            kind=kind,
        )
        if length > MAX_ENTRIES:
            await self._redis.rpop(self.keys.history(sid))
            await self._redis.decrby(self.keys.history_bytes(sid), len(record))
            raise SessionFull(f"a chat session holds at most {MAX_ENTRIES} messages")
        if state:
            await self._redis.hset(self.keys.states(sid), str(entry.id), state)
        await self._touch(sid)
        return entry

    async def set_state(self, sid: str, ids: list[int], state: str) -> None:
        if ids:
            mapping: dict[FieldT, EncodableT] = {str(i): state for i in ids}
            await self._redis.hset(self.keys.states(sid), mapping=mapping)

    async def states(self, sid: str) -> dict[str, str]:
        """Entry id -> state of the customer's entries (sent, delivered, failed)."""
        raw = await self._redis.hgetall(self.keys.states(sid))
        return {_str(k): _str(v) for k, v in raw.items()}

    async def history(self, sid: str, after: int = -1) -> list[Entry]:
        raw = await self._redis.lrange(self.keys.history(sid), max(after + 1, 0), -1)
        states = {
            _str(k): _str(v) for k, v in (await self._redis.hgetall(self.keys.states(sid))).items()
        }
        entries = []
        for offset, item in enumerate(raw):
            record = json.loads(item)
            index = max(after + 1, 0) + offset
            entries.append(
                Entry(
                    id=index,
                    sender=record["sender"],
                    text=record["text"],
                    at=record["at"],
                    state=states.get(str(index), ""),
                    ref=record.get("ref", ""),
                    choices=tuple(str(c) for c in record.get("choices") or ()),
                    kind=str(record.get("kind", "")),
                )
            )
        return entries

    async def last_from(self, sid: str, sender: From, within: int = 200) -> Entry | None:
        """The newest entry of `sender` among the last `within` entries."""
        length = int(await self._redis.llen(self.keys.history(sid)))
        recent = await self.history(sid, length - within - 1) if length else []
        return next((e for e in reversed(recent) if e.sender == sender), None)

    async def remember_client_id(self, sid: str, cid: str, entry_id: int) -> None:
        """Which entry a client's message id became: a resend after a reconnect is not new."""
        await self._redis.hset(self.keys.client_ids(sid), cid[:64], entry_id)

    async def known_client_id(self, sid: str, cid: str) -> int | None:
        known = await self._redis.hget(self.keys.client_ids(sid), cid[:64])
        return None if known is None else int(known)

    async def forget(self, traces: Traces) -> dict[str, int]:
        """An erased customer's sessions, all their keys: a chat identity's address (and a
        chat message's sender) is its session id."""
        sids = traces.addresses.get(Channel.WEBCHAT, frozenset())
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (key for sid in sorted(sids) if sid for key in self._all(sid)):
                pipe.delete(key)  # one key a command: the keys of a session share no slot
            deleted = await pipe.execute()
        return {"redis_keys": sum(int(n) for n in deleted)}

    async def publish(self, sid: str, origin: str, frame: dict[str, Any]) -> None:
        payload = json.dumps({"sid": sid, "origin": origin, "frame": frame})
        await self._redis.publish(self.keys.live, payload)
