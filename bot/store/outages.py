"""Which failures are the infrastructure's, not the message's.

A Redis or PostgreSQL outage, a refused or dropped connection, a timeout: the message is
fine and must be tried again later, never recorded as an `error` decision. Anything else
raised while deciding a message may be the message's own (a parse, a validation, a bug it
triggers), and is recorded only when it happens again on retry.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from redis import exceptions as redis_errors
from sqlalchemy import exc as sql_errors

_TRANSIENT: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # includes a refused connection and a busy-loading server
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    ConnectionError,  # OSError's refused, reset and aborted connections
    TimeoutError,
    asyncio.TimeoutError,
    sql_errors.OperationalError,  # the server went away, cannot connect, admin shutdown
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,  # the pool had no connection to give
    socket.gaierror,  # a service's host name could not be resolved
)
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOTCONN,
    }
)
# PostgreSQL's "two transactions got in each other's way": a deadlock, a serialization
# failure, a lock not granted in time. One of them is undone and must simply run again.
_CONFLICTS = frozenset({"40P01", "40001", "55P03"})
# Redis replies that mean "the server lost its data or its role", not a bad command.
_TRANSIENT_REPLIES = ("NOGROUP", "LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN")


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from, the driver's own error included."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def conflict(exc: BaseException) -> bool:
    """Whether `exc` is PostgreSQL undoing this transaction for another's sake (workers
    deciding messages of the same customers at once): nothing is wrong with the message."""
    return any(getattr(e, "sqlstate", None) in _CONFLICTS for e in _chain(exc))


def transient(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is an outage, or a conflict between
    transactions, to wait out and try again."""
    if conflict(exc):
        return True
    for current in _chain(exc):
        if isinstance(current, _TRANSIENT):
            return True
        if isinstance(current, sql_errors.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, redis_errors.ResponseError) and str(current).startswith(
            _TRANSIENT_REPLIES
        ):
            return True
        if isinstance(current, OSError) and current.errno in _NETWORK_ERRNOS:
            return True  # a socket that could not be opened or was closed under us
    return False
