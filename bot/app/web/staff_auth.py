"""Who is at the console or calls the staff API, and whether their role may.

Console sessions live in Redis under the hash of a random id; the browser holds the id in
a cookie signed with the deployment's secret key (HttpOnly, SameSite=Lax, Secure behind
https), which expires with the session. Every request loads the account again: a disabled
account or a changed role takes effect at once. Every form carries the session's CSRF
token (the sign-in form a token of its own, before there is a session).

Sign-in attempts are counted per account name and per client address *before* the
password is checked (one atomic count each, bot.contract.limits), so parallel guesses
cannot slip past the limit; a successful sign-in gives its count back.

The staff API takes personal tokens (`intake-bot users token NAME`); the shared ingest
token (INTAKE_API_TOKEN) may only post messages and gets 403 here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.app.config import kept_secret
from bot.app.runtime import Runtime
from bot.contract.limits import Allowance, Limiter
from bot.staff.accounts import Accounts, Role, Staff
from channels.client_address import client_ip

SESSION_COOKIE = "intake_console"
FORM_COOKIE = "intake_console_form"  # the sign-in form's CSRF token, before a session
_WINDOW_S = 15 * 60


@dataclass(frozen=True)
class SignedIn:
    staff: Staff
    csrf: str  # what every form of this session must send back
    session: str  # the session id's hash (its Redis key)


@dataclass(frozen=True)
class Attempt:
    staff: Staff | None
    locked: Allowance | None = None  # set when a limit refused the attempt unchecked


class StaffAuth:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.accounts = Accounts(runtime.sessions, runtime.clock)
        self._redis, self._keys, self._clock = runtime.redis, runtime.keys, runtime.clock
        self._secret = kept_secret(settings, settings.secret_key, "secret_key").encode()
        self._ttl_s = int(settings.staff_session_hours * 3600)
        self._secure = settings.public_url.startswith("https://")
        self._proxies = settings.trusted_proxies
        self._ingest_token = settings.api_token or ""
        redis, keys = runtime.redis, runtime.keys
        self.per_account = Limiter(
            redis, keys, "signin-account", settings.staff_sign_in_failures_per_account, _WINDOW_S
        )
        self.per_ip = Limiter(
            redis, keys, "signin-ip", settings.staff_sign_in_failures_per_ip, _WINDOW_S
        )

    # --- signing ---------------------------------------------------------------------------

    def sign(self, value: str) -> str:
        mac = hmac.new(self._secret, value.encode(), hashlib.sha256).digest()
        return f"{value}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def unsign(self, signed: str) -> str | None:
        value, _, _mac = signed.rpartition(".")
        if not value or len(signed) > 200:
            return None
        return value if hmac.compare_digest(self.sign(value), signed) else None

    def client_ip(self, request: web.Request) -> str:
        return client_ip(request, self._proxies)

    # --- signing in ------------------------------------------------------------------------

    async def attempt(self, name: str, password: str, ip: str) -> Attempt:
        """Count the attempt against the account and the address, then check it."""
        now = self._clock.now()
        subject = name.strip().lower()[:100] or "-"
        by_account = await self.per_account.hit(subject, now)
        by_ip = await self.per_ip.hit(ip, now)
        if not (by_account.allowed and by_ip.allowed):
            return Attempt(None, by_account if not by_account.allowed else by_ip)
        staff = await self.accounts.verify(name, password)
        if staff is not None:  # only failures count towards a lock-out
            await self.per_account.hit(subject, now, cost=-1)
            await self.per_ip.hit(ip, now, cost=-1)
        return Attempt(staff)

    async def start(self, staff: Staff, response: web.StreamResponse) -> SignedIn:
        session_id = secrets.token_urlsafe(32)
        digest = _digest(session_id)
        signed_in = SignedIn(staff, secrets.token_urlsafe(24), digest)
        record = {"user": staff.id, "csrf": signed_in.csrf, "at": self._clock.now().isoformat()}
        await self._redis.set(self._keys.staff_session(digest), json.dumps(record), ex=self._ttl_s)
        response.set_cookie(
            SESSION_COOKIE,
            self.sign(session_id),
            max_age=self._ttl_s,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self._secure,
        )
        return signed_in

    async def end(self, request: web.Request, response: web.StreamResponse) -> None:
        session_id = self.unsign(request.cookies.get(SESSION_COOKIE, ""))
        if session_id is not None:
            await self._redis.delete(self._keys.staff_session(_digest(session_id)))
        response.del_cookie(SESSION_COOKIE, path="/")

    async def current(self, request: web.Request) -> SignedIn | None:
        session_id = self.unsign(request.cookies.get(SESSION_COOKIE, ""))
        if session_id is None:
            return None
        digest = _digest(session_id)
        raw = await self._redis.get(self._keys.staff_session(digest))
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        staff = await self.accounts.by_id(int(record["user"]))
        return None if staff is None else SignedIn(staff, str(record["csrf"]), digest)

    def form_token(self, request: web.Request, response: web.StreamResponse) -> str:
        """The sign-in form's CSRF token: kept in a cookie, sent back in the form."""
        token = self.unsign(request.cookies.get(FORM_COOKIE, "")) or secrets.token_urlsafe(24)
        response.set_cookie(
            FORM_COOKIE,
            self.sign(token),
            max_age=3600,
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=self._secure,
        )
        return token

    def form_token_ok(self, request: web.Request, sent: str) -> bool:
        kept = self.unsign(request.cookies.get(FORM_COOKIE, ""))
        return kept is not None and hmac.compare_digest(kept.encode(), sent.encode())

    # --- on every page and API call --------------------------------------------------------

    async def page(self, request: web.Request, role: Role) -> SignedIn:
        """The signed-in account, if its role may: else to the sign-in page, or 403."""
        signed_in = await self.current(request)
        if signed_in is None:
            target = quote(request.path_qs, safe="/?=&")
            raise web.HTTPSeeOther(f"/console/login?next={target}")
        if not signed_in.staff.may(role):
            raise Forbidden(signed_in, role)
        return signed_in

    async def form(self, request: web.Request, role: Role) -> tuple[SignedIn, dict[str, str]]:
        """A console form sent back: signed in, allowed, and its CSRF token the session's."""
        signed_in = await self.page(request, role)
        posted = await request.post()
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        if not hmac.compare_digest(form.get("csrf", "").encode(), signed_in.csrf.encode()):
            raise web.HTTPForbidden(text="the form is stale or was not sent from the console")
        return signed_in, form

    async def api(self, request: web.Request, role: Role) -> Staff | web.Response:
        """The account of the request's personal Bearer token, if its role may."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _problem(401, "a personal staff token is needed (intake-bot users token NAME)")
        if self._ingest_token and hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), self._ingest_token.encode()
        ):
            return _problem(403, "the ingest token may only post messages; use a staff token")
        staff = await self.accounts.by_token(token)
        if staff is None:
            return _problem(401, "unknown or revoked staff token")
        if not staff.may(role):
            return _problem(
                403, f"this needs the {role.label} role; the token's is {staff.role.label}"
            )
        return staff


class Forbidden(Exception):
    """A signed-in account whose role may not see the page (rendered as a 403 page)."""

    def __init__(self, signed_in: SignedIn, needed: Role) -> None:
        super().__init__(f"needs the {needed.label} role")
        self.signed_in, self.needed = signed_in, needed


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
