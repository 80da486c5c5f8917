"""Staff accounts: who may use the console and the staff API, and with which role.

Roles are ordered, agent < moderator < admin: each may do what the ones below may.
Passwords are kept as argon2id hashes (argon2-cffi); a name that has no account is
checked against a dummy hash, so a sign-in takes as long whether the name exists or not.
Personal API tokens are random, shown once, and kept as a SHA-256 hash (they carry 256
bits: a slow hash would add nothing but latency to every API call); a revoked token, or
one of a disabled account, stops at once.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contract.clock import Clock
from bot.contract.errors import IntakeError
from bot.store import audit
from bot.store.models import StaffToken, StaffUser

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; a megabyte "password" is only a cost
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
TOKEN_PREFIX = "itk_"  # noqa: S105 -- a prefix, telling a personal token from the ingest one
_USED_EVERY = timedelta(minutes=1)  # how fresh a token's "last used" is kept
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash(secrets.token_hex(16))


class Role(enum.IntEnum):
    AGENT = 1
    MODERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            known = ", ".join(r.label for r in cls)
            raise IntakeError(f"unknown role {name[:40]!r}; known: {known}") from None


@dataclass(frozen=True)
class Staff:
    """A signed-in account, as a request sees it."""

    id: int
    name: str
    role: Role
    email: str = ""

    def may(self, role: Role) -> bool:
        return self.role >= role


@dataclass(frozen=True)
class TokenInfo:
    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise IntakeError(
            "a user name is 1 to 100 letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise IntakeError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def new_password() -> str:
    return secrets.token_urlsafe(18)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _staff(user: StaffUser) -> Staff:
    return Staff(user.id, user.username, Role.parse(user.role), user.email)


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions, self._clock = sessions, clock

    async def add(
        self, name: str, role: Role, *, password: str | None, actor: str, email: str = ""
    ) -> str:
        """Create an account; returns its password (a generated one when none is given,
        to be shown once)."""
        name, now = check_name(name), self._clock.now()
        password = check_password(password) if password is not None else new_password()
        async with self._sessions.begin() as session:
            if await _by_name(session, name) is not None:
                raise IntakeError(f"user {name!r} exists already")
            session.add(
                StaffUser(
                    username=name,
                    password_hash=_HASHER.hash(password),
                    role=role.label,
                    active=True,
                    created_at=now,
                    email=email.strip()[:320],
                )
            )
            audit.record(
                session, at=now, actor=actor, action="user.add", target=name, role=role.label
            )
        return password

    async def listing(self) -> list[tuple[Staff, bool]]:
        """Every account with whether it is active, by name."""
        async with self._sessions() as session:
            users = await session.scalars(select(StaffUser).order_by(StaffUser.username))
            return [(_staff(u), u.active) for u in users]

    async def set_active(self, name: str, active: bool, *, actor: str) -> None:
        await self._change(name, actor, "user.enable" if active else "user.disable", active=active)

    async def set_role(self, name: str, role: Role, *, actor: str) -> None:
        await self._change(name, actor, "user.role", role=role.label)

    async def set_email(self, name: str, email: str, *, actor: str) -> None:
        await self._change(name, actor, "user.email", email=email.strip()[:320])

    async def set_password(self, name: str, password: str | None, *, actor: str) -> str:
        password = check_password(password) if password is not None else new_password()
        await self._change(name, actor, "user.password", password_hash=_HASHER.hash(password))
        return password

    async def _change(self, name: str, actor: str, action: str, **values: object) -> None:
        async with self._sessions.begin() as session:
            user = await _by_name(session, name)
            if user is None:
                raise IntakeError(f"no user {name!r}")
            for column, value in values.items():
                setattr(user, column, value)
            shown = {k: v for k, v in values.items() if k != "password_hash"}
            audit.record(
                session, at=self._clock.now(), actor=actor, action=action, target=name, **shown
            )

    async def verify(self, name: str, password: str) -> Staff | None:
        """The active account whose password this is; None otherwise, in the same time."""
        async with self._sessions() as session:
            user = await _by_name(session, name.strip()[:100]) if name.strip() else None
            stored = user.password_hash if user is not None and user.password_hash else _DUMMY
            try:  # some 50 ms of work by design: not on the event loop
                await asyncio.to_thread(_HASHER.verify, stored, password[:MAX_PASSWORD])
            except (VerificationError, InvalidHashError):
                return None
            if user is None or not user.active or not user.password_hash:
                return None
            if _HASHER.check_needs_rehash(stored):
                user.password_hash = _HASHER.hash(password)
            user.last_sign_in_at = self._clock.now()
            await session.commit()
            return _staff(user)

    async def by_id(self, user_id: int) -> Staff | None:
        """The account a session names, if it is still active (a disabled one signs out)."""
        async with self._sessions() as session:
            user = await session.get(StaffUser, user_id)
            return _staff(user) if user is not None and user.active else None

    async def issue_token(self, name: str, *, label: str, actor: str) -> str:
        """A new personal token for `name`, shown once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            user = await _by_name(session, name)
            if user is None:
                raise IntakeError(f"no user {name!r}")
            session.add(
                StaffToken(
                    user_id=user.id,
                    token_hash=token_digest(token),
                    label=label.strip()[:100],
                    created_at=now,
                )
            )
            audit.record(
                session, at=now, actor=actor, action="token.issue", target=name, label=label
            )
        return token

    async def tokens(self, name: str) -> list[TokenInfo]:
        async with self._sessions() as session:
            user = await _by_name(session, name)
            if user is None:
                raise IntakeError(f"no user {name!r}")
            rows = await session.scalars(
                select(StaffToken).where(StaffToken.user_id == user.id).order_by(StaffToken.id)
            )
            return [
                TokenInfo(t.id, t.label, t.created_at, t.last_used_at, t.revoked_at) for t in rows
            ]

    async def revoke_token(self, token_id: int, *, actor: str, owner: str | None = None) -> None:
        """Revoke one token (`owner`: only if it is that user's, for a non-admin's own)."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            query = select(StaffToken, StaffUser.username).join(
                StaffUser, StaffUser.id == StaffToken.user_id
            )
            found = (await session.execute(query.where(StaffToken.id == token_id))).first()
            if found is None or (owner is not None and found.username != owner):
                raise IntakeError(f"no token {token_id}")
            token, name = found
            if token.revoked_at is None:
                token.revoked_at = now
            audit.record(
                session, at=now, actor=actor, action="token.revoke", target=name, token=token_id
            )

    async def by_token(self, token: str) -> Staff | None:
        """The active account a personal token belongs to, unless it was revoked."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        digest = token_digest(token)
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(StaffUser, StaffToken.id, StaffToken.last_used_at)
                    .join(StaffToken, StaffToken.user_id == StaffUser.id)
                    .where(StaffToken.token_hash == digest, StaffToken.revoked_at.is_(None))
                )
            ).first()
            if found is None or not found[0].active:
                return None
            user, token_id, last_used = found
            now = self._clock.now()
            if last_used is None or now - last_used >= _USED_EVERY:  # not a write per call
                await session.execute(
                    update(StaffToken).where(StaffToken.id == token_id).values(last_used_at=now)
                )
                await session.commit()
            return _staff(user)

    async def single_sign_on(
        self, subject: str, *, email: str, email_verified: bool, role: Role | None
    ) -> Staff:
        """The account a provider-verified identity opens; IntakeError says why none may.

        Found by the provider's `sub`. Else an account named by, or kept with, the email is
        linked to it, but only when the provider verified that email: an unverified one is
        a claim, and could name anyone's account. Else, when the provider names a `role`,
        an account is made with no password (it signs in by single sign-on only). A given
        `role` is written to the account on every sign-in (the provider decides); None
        leaves roles to this table, and lets in only accounts that are in it.
        """
        now = self._clock.now()
        email = email.strip().lower()[:320] if email_verified else ""
        async with self._sessions.begin() as session:

            def note(action: str, user: StaffUser, **details: str) -> None:
                audit.record(
                    session,
                    at=now,
                    actor="sso",
                    action=action,
                    target=user.username,
                    subject=subject,
                    **details,
                )

            user = await session.scalar(select(StaffUser).where(StaffUser.oidc_subject == subject))
            if user is None and email:
                named = func.lower(StaffUser.username) == email
                mailed = func.lower(StaffUser.email) == email
                found = list(
                    await session.scalars(select(StaffUser).where(named | mailed).limit(2))
                )
                if len(found) > 1 or (found and found[0].oidc_subject is not None):
                    raise IntakeError("this email belongs to another account; ask an admin")
                if found:
                    user = found[0]
                    user.oidc_subject = subject
                    note("user.sso_link", user)
            if user is None:
                if role is None:
                    raise IntakeError("no staff account is yours; an admin can add one")
                name = email if _NAME.fullmatch(email) else "sso-" + token_digest(subject)[:12]
                user = StaffUser(
                    username=name,
                    password_hash="",
                    role=role.label,
                    active=True,
                    created_at=now,
                    email=email,
                    oidc_subject=subject,
                )
                session.add(user)
                note("user.sso_create", user, role=role.label)
            if not user.active:
                raise IntakeError("this account is disabled")
            if role is not None and user.role != role.label:
                user.role = role.label
                note("user.role", user, role=role.label)
            user.last_sign_in_at = now
            await session.flush()
            return _staff(user)


async def _by_name(session: AsyncSession, name: str) -> StaffUser | None:
    return await session.scalar(select(StaffUser).where(StaffUser.username == name))
