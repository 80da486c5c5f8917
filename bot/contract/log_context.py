"""What a log line is about: fields bound for the work in hand, added to every record.

Around the work on one item (a message the pipeline decides, an outbox row the sender
sends, a request a channel answers), `with bind(message_id=...)` and every line logged
inside it, in any layer and any library, carries the field once a handler has the
`BoundFields` filter (the process's logging setup installs it). A field the call passes
itself in `extra=` wins over a bound one of the same name.

The fields live in a ContextVar, so each asyncio task sees its own: a task copies them
when it is created, which is why a long-lived task that serves many items is started in
`detached()`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

_NOTHING: Mapping[str, object] = MappingProxyType({})
_fields: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "intake_log_fields", default=_NOTHING
)

# A LogRecord's own attributes (and what its formatting adds): not fields of ours.
RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


@contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Every record logged inside carries `fields` (None values are left out)."""
    taken = RECORD_ATTRIBUTES.intersection(fields)
    if taken:
        raise ValueError(f"log fields that a LogRecord has already: {sorted(taken)}")
    given = {key: value for key, value in fields.items() if value is not None}
    token = _fields.set(MappingProxyType({**_fields.get(), **given}))
    try:
        yield
    finally:
        _fields.reset(token)


def bound() -> Mapping[str, object]:
    """The fields bound here and now."""
    return _fields.get()


def detached() -> contextvars.Context:
    """The current context without bound fields: for `asyncio.create_task(..., context=)`
    of a task that outlives the item it was started for or serves others too."""
    context = contextvars.copy_context()
    context.run(_fields.set, _NOTHING)
    return context


class BoundFields(logging.Filter):
    """Copies the bound fields onto each record it sees (a handler's filter: it runs where
    the line was logged, so it sees that task's fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True
