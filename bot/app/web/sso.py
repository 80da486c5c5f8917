"""Single sign-on to the console: OpenID Connect, the authorization code flow with PKCE.

GET /console/sso sends the browser to the provider (found by discovery, kept an hour) with
a random `state`, a `nonce` and a PKCE S256 challenge. GET /console/sso/callback takes the
code back and exchanges it, with the verifier, at the token endpoint (client_secret_basic
or _post, as discovery says); the ID token that comes back is believed only when its
signature checks against the provider's JWKS and its issuer, audience (our client id),
expiry and nonce are the expected ones (authlib's CodeIDToken, over joserfc: authlib's
own `authlib.jose` is deprecated). bot.staff.accounts then decides which account it is,
and the role: from the claim INTAKE_OIDC_ROLE_CLAIM names, or else from the staff table.

The pending sign-in (nonce, verifier, where to go after) waits in Redis under the state's
hash for ten minutes and is taken with GETDEL: a state works once, whichever web process
the provider sends the browser back to, and the verifier never leaves the server. A signed
cookie holding the state binds it to the browser that started it, so a callback link that
someone else started (to sign a colleague in as themselves) is refused. A signed cookie
alone could carry all of it, but could not be used only once.

Every failure is a page (4xx, or 502 when the provider is down or refuses), never a
session. The client secret, the code, the state and the tokens are never logged; a refused
sign-in is logged with its reason in words.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]  # no py.typed
    prepare_grant_uri,
)
from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped]  # no py.typed
    create_s256_code_challenge,
)
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]  # no py.typed
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy.exc import IntegrityError

from bot.app.config import Settings
from bot.app.web.console import login_page, safe_next
from bot.app.web.keys import RUNTIME, STAFF
from bot.contract.clock import Clock
from bot.contract.errors import IntakeError
from bot.staff.accounts import Role, Staff

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SSO_COOKIE = "intake_sso"
CALLBACK = "/console/sso/callback"
SCOPE = "openid email profile"
_COOKIE_PATH = "/console/sso"
_PENDING_S = 600  # from leaving for the provider to coming back
_KEPT = timedelta(hours=1)  # the discovery document and the keys
_LEEWAY_S = 60  # clock skew allowed between the provider and us
_TIMEOUT = aiohttp.ClientTimeout(total=10)
# Asymmetric only: "none" and the HS* family (keyed with the client secret) are never taken.
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_DOWN = "The single sign-on provider could not be reached. Please try again later."
_UNVERIFIED = "The single sign-on answer could not be verified. Please start again."
_RESTART = "This sign-in was not started in this browser, was used already or expired."


class Refused(Exception):
    """A sign-in that stops here: the page tells `message`; the log, `reason`."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.message, self.reason = status, message, reason


@dataclass(frozen=True)
class Provider:
    """What discovery says this client needs."""

    issuer: str
    authorize_url: str
    token_url: str
    jwks_url: str
    basic_auth: bool  # client_secret_basic, else client_secret_post
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to the provider, kept under its state until the browser is back."""

    nonce: str
    verifier: str
    next: str
    redirect_uri: str


class OidcClient:
    """One per web app: the provider's discovery document and keys, fetched when first
    needed and kept an hour; the keys again at once when a token names one not seen yet
    (the provider rolled them over)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings, self._clock = settings, clock
        self._provider: tuple[datetime, Provider] | None = None
        self._keys: KeySet | None = None

    async def provider(self) -> Provider:
        now = self._clock.now()
        if self._provider is None or now >= self._provider[0]:
            issuer = self.settings.oidc_issuer
            status, document = await _call(
                "GET", f"{issuer.rstrip('/')}/.well-known/openid-configuration"
            )
            if status != 200:
                raise Refused(502, _DOWN, f"discovery answered {status}")
            self._provider, self._keys = (now + _KEPT, _provider_of(document, issuer)), None
        return self._provider[1]

    async def keys(self, provider: Provider, *, fresh: bool = False) -> KeySet:
        if self._keys is None or fresh:
            status, document = await _call("GET", provider.jwks_url)
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, KeyError, TypeError, ValueError) as exc:
                raise Refused(502, _DOWN, f"JWKS unusable ({status}, {_why(exc)})") from None
        return self._keys

    async def exchange(self, provider: Provider, code: str, pending: Pending) -> dict[str, Any]:
        """The code and the verifier for the provider's tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
        }
        headers = {"Accept": "application/json"}
        client_id, secret = self.settings.oidc_client_id, self.settings.oidc_client_secret
        if secret and provider.basic_auth:  # RFC 6749 2.3.1: each part form-encoded first
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:  # client_secret_post; or, without a secret, a public client (PKCE alone)
            form["client_id"] = client_id
            if secret:
                form["client_secret"] = secret
        status, tokens = await _call("POST", provider.token_url, data=form, headers=headers)
        if status != 200 or not isinstance(tokens.get("id_token"), str):
            error = _word(tokens.get("error"))
            raise Refused(
                502,
                f"The single sign-on provider refused to finish the sign-in ({error}).",
                f"token endpoint answered {status} {error}",
            )
        return tokens

    async def verify(
        self, provider: Provider, tokens: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims, if it is the provider's, for us, fresh and this sign-in's."""
        registry = JWSRegistry(algorithms=provider.algorithms, strict_check_header=False)
        client_id = self.settings.oidc_client_id
        try:
            try:
                token = jwt.decode(tokens["id_token"], await self.keys(provider), registry=registry)
            except InvalidKeyIdError:
                keys = await self.keys(provider, fresh=True)
                token = jwt.decode(tokens["id_token"], keys, registry=registry)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": provider.issuer},
                    "aud": {"essential": True, "value": client_id},
                },
                {
                    "nonce": nonce,
                    "client_id": client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(now=int(self._clock.now().timestamp()), leeway=_LEEWAY_S)
        except (JoseError, ValueError) as exc:
            raise Refused(403, _UNVERIFIED, f"ID token refused: {_why(exc)}") from None
        subject = token.claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise Refused(403, _UNVERIFIED, "ID token's sub is not 1 to 255 characters")
        return token.claims


# --- the two steps --------------------------------------------------------------------------


@routes.get("/console/sso")
async def sso_start(request: web.Request) -> web.StreamResponse:
    oidc, next_path = _oidc(request), safe_next(request.query.get("next", "/console"))
    try:
        provider = await oidc.provider()
    except Refused as refused:
        log.warning("single sign-on could not start: %s", refused.reason)
        return login_page(
            request, next_path=next_path, problem=refused.message, status=refused.status
        )
    state = secrets.token_urlsafe(32)
    pending = Pending(
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),  # 64 characters of RFC 7636's alphabet
        next=next_path,
        redirect_uri=(oidc.settings.public_url.rstrip("/") or str(request.url.origin())) + CALLBACK,
    )
    runtime = request.app[RUNTIME]
    await runtime.redis.set(
        _pending_key(request, state), json.dumps(asdict(pending)), ex=_PENDING_S
    )
    target = prepare_grant_uri(
        provider.authorize_url,
        oidc.settings.oidc_client_id,
        "code",
        redirect_uri=pending.redirect_uri,
        scope=SCOPE,
        state=state,
        nonce=pending.nonce,
        code_challenge=create_s256_code_challenge(pending.verifier),
        code_challenge_method="S256",
    )
    response = web.Response(
        status=303, headers={"Location": str(target), "Cache-Control": "no-store"}
    )
    response.set_cookie(
        SSO_COOKIE,
        request.app[STAFF].sign(state),
        max_age=_PENDING_S,
        path=_COOKIE_PATH,
        httponly=True,
        samesite="Lax",  # the provider's redirect back is a cross-site top-level GET
        secure=oidc.settings.public_url.startswith("https://"),
    )
    return response


@routes.get(CALLBACK)
async def sso_callback(request: web.Request) -> web.StreamResponse:
    oidc, next_path = _oidc(request), "/console"
    try:
        pending = await _take_pending(request)
        next_path = pending.next
        staff = await _sign_in(request, oidc, pending)
    except Refused as refused:
        log.warning("single sign-on refused: %s", refused.reason)
        response = login_page(
            request, next_path=next_path, problem=refused.message, status=refused.status
        )
    else:
        response = web.Response(
            status=303, headers={"Location": safe_next(pending.next), "Cache-Control": "no-store"}
        )
        await request.app[STAFF].start(staff, response)
        log.info("single sign-on: %s signed in as %s", staff.name, staff.role.label)
    response.del_cookie(SSO_COOKIE, path=_COOKIE_PATH)
    return response


async def _take_pending(request: web.Request) -> Pending:
    """This browser's pending sign-in, once: the state sent back must be the one its cookie
    holds, and is then gone."""
    state = request.query.get("state", "")
    kept = request.app[STAFF].unsign(request.cookies.get(SSO_COOKIE, ""))
    if not state or kept is None or not hmac.compare_digest(kept.encode(), state.encode()):
        raise Refused(400, _RESTART, "the state is not the one this browser's cookie holds")
    raw = await request.app[RUNTIME].redis.getdel(_pending_key(request, state))
    if raw is None:
        raise Refused(400, _RESTART, "the state was used already or expired")
    return Pending(**json.loads(raw))


async def _sign_in(request: web.Request, oidc: OidcClient, pending: Pending) -> Staff:
    if "error" in request.query:  # the provider's own refusal (RFC 6749 4.1.2.1)
        error = _word(request.query["error"])
        raise Refused(
            403,
            f"The single sign-on provider did not sign you in ({error}).",
            f"provider said {error}",
        )
    code = request.query.get("code", "")
    if not code:
        raise Refused(400, _UNVERIFIED, "no code in the callback")
    provider = await oidc.provider()
    tokens = await oidc.exchange(provider, code, pending)
    claims = await oidc.verify(provider, tokens, pending.nonce)
    role_claim = oidc.settings.oidc_role_claim
    role = _role(claims.get(role_claim)) if role_claim else None
    if role_claim and role is None:
        raise Refused(
            403,
            "No console access: the provider gives you no console role.",
            f"{role_claim} names no role",
        )
    email = claims.get("email")
    verified = claims.get("email_verified") is True or claims.get("email_verified") == "true"
    try:
        return await request.app[STAFF].accounts.single_sign_on(
            claims["sub"],
            email=email if isinstance(email, str) else "",
            email_verified=verified,
            role=role,
        )
    except IntakeError as exc:
        raise Refused(403, f"No console access: {exc}.", str(exc)) from None
    except IntegrityError:  # two first sign-ins of one person at once: the other one won
        raise Refused(409, "Please sign in again.", "a concurrent first sign-in") from None


# --- small parts ----------------------------------------------------------------------------

_CLIENTS: weakref.WeakKeyDictionary[web.Application, OidcClient] = weakref.WeakKeyDictionary()


def _oidc(request: web.Request) -> OidcClient:
    """The app's client (made on first use: the route table brings no state of its own);
    404 while single sign-on is not configured."""
    runtime = request.app[RUNTIME]
    if not (runtime.settings.oidc_issuer and runtime.settings.oidc_client_id):
        raise web.HTTPNotFound(text="single sign-on is not configured")
    client = _CLIENTS.get(request.app)
    if client is None:
        client = _CLIENTS[request.app] = OidcClient(runtime.settings, runtime.clock)
    return client


def _pending_key(request: web.Request, state: str) -> str:
    digest = hashlib.sha256(state.encode()).hexdigest()
    return request.app[RUNTIME].keys.one_time_link("sso", digest)


async def _call(method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One request to the provider: its status and JSON object ({} when it sent none)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as http,
            http.request(method, url, allow_redirects=False, **kwargs) as answer,
        ):
            body = await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Refused(502, _DOWN, f"{method} {url} failed: {type(exc).__name__}") from None
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return status, document if isinstance(document, dict) else {}


def _provider_of(document: dict[str, Any], issuer: str) -> Provider:
    urls = [document.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise Refused(502, _DOWN, f"discovery names another issuer: {_word(named)}")
    if not all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in urls):
        raise Refused(502, _DOWN, "discovery lacks an endpoint")
    methods = _strings(document.get("token_endpoint_auth_methods_supported")) or [
        "client_secret_basic"  # the default (OpenID Connect Discovery 1.0, section 3)
    ]
    offered = _strings(document.get("id_token_signing_alg_values_supported")) or ["RS256"]
    algorithms = tuple(a for a in _ALGORITHMS if a in offered)
    if not algorithms:
        raise Refused(502, _DOWN, "the provider signs ID tokens with no algorithm we take")
    authorize, token, jwks = (str(u) for u in urls)
    basic = "client_secret_basic" in methods or "client_secret_post" not in methods
    return Provider(named, authorize, token, jwks, basic, algorithms)


def _role(value: object) -> Role | None:
    """The highest console role a claim names (a string, or a list of them)."""
    values = value if isinstance(value, list) else [value]
    names = {v.strip().upper() for v in values if isinstance(v, str)}
    return max((Role[n] for n in names if n in Role.__members__), default=None)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _word(value: object) -> str:
    """A provider's error code as it may be shown and logged: short, plain characters."""
    text = value if isinstance(value, str) else ""
    return "".join(c for c in text[:60] if c.isalnum() or c in "_-.:/") or "no reason given"


def _why(exc: Exception) -> str:
    """A JOSE failure in words (never the token)."""
    return (
        f"{type(exc).__name__} {exc.description}"
        if isinstance(exc, JoseError)
        else type(exc).__name__
    )
