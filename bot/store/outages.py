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
# Redis replies that mean "the server lost its data or its role", not a bad command.
_TRANSIENT_REPLIES = ("NOGROUP", "LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN")


def transient(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is an outage to wait out."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
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
        current = current.__cause__ or current.__context__
    return False
