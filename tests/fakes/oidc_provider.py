"""A local OpenID Connect provider on loopback: discovery, authorize, token and JWKS.

It checks what a real provider checks: the client's id and secret (sent the way its
discovery document says), a registered redirect_uri and the same one at both ends, a code
used once and soon, and the PKCE verifier against the S256 challenge; and it signs ID
tokens RS256 with a key made here. So the console's single sign-on is tested against the
protocol, not against our own idea of it. Whoever `user` names is signed in at once (a
provider's own sign-in page is not ours to test); `misbehave` makes it issue tokens that
a client must refuse.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.test_utils import TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey
from yarl import URL

CLIENT_ID = "intake-console"
CLIENT_SECRET = "s3cret-of-the-console-client"
KEY_ID = "fake-key-1"
_CODE_TTL = timedelta(minutes=1)


class Misbehaviour(enum.Enum):
    WRONG_AUDIENCE = "the ID token is for another client (naming us its authorized party)"
    EXPIRED = "the ID token expired ten minutes ago"
    BAD_SIGNATURE = "signed by another key under the same key id"
    UNKNOWN_KEY = "signed by a key the JWKS does not hold"
    OTHER_NONCE = "the ID token carries another sign-in's nonce"
    WRONG_ISSUER = "the ID token names another issuer"
    TOKEN_ERROR = "the token endpoint answers 500"


@dataclass
class User:
    """Who the provider signs in, and what it says of them."""

    sub: str
    email: str = ""
    email_verified: bool = True
    claims: dict[str, Any] = field(default_factory=dict)  # e.g. {"roles": ["moderator"]}


@dataclass(frozen=True)
class Grant:
    user: User
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    issued_at: datetime


@dataclass(frozen=True)
class TokenCall:
    accepted: bool
    error: str  # the OAuth error code when refused


class FakeOidcProvider:
    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        auth_method: str = "client_secret_basic",
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ) -> None:
        self.now, self.auth_method = now, auth_method
        self.client_id, self.client_secret = client_id, client_secret
        self.user: User | None = None  # None: the user declines (access_denied)
        self.misbehave: set[Misbehaviour] = set()
        self.redirect_uris: set[str] = set()  # registered; the test adds the console's
        self.issuer = ""  # once running
        self.discovery_fetches = self.jwks_fetches = 0
        self.token_calls: list[TokenCall] = []
        self.issued: list[str] = []  # every code and token handed out (to look for in logs)
        self._key = _rsa_key(KEY_ID)
        self._codes: dict[str, Grant] = {}
        self.app = web.Application()
        self.app.router.add_get("/.well-known/openid-configuration", self._discovery)
        self.app.router.add_get("/authorize", self._authorize)
        self.app.router.add_post("/token", self._token)
        self.app.router.add_get("/jwks", self._jwks)

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_fetches += 1
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [self.auth_method],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": [self._key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        """Signs `user` in at once and sends the browser back with a code, as after a
        consent screen; a request it may not redirect anywhere gets a 400 page instead."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or unregistered redirect_uri")
        back = URL(redirect_uri)
        state = {"state": query["state"]} if "state" in query else {}
        problem = _authorize_problem(query)
        if problem is not None or self.user is None:
            error = problem or "access_denied"
            raise web.HTTPFound(back.update_query({"error": error, **state}))
        code = secrets.token_urlsafe(24)
        self.issued.append(code)
        self._codes[code] = Grant(
            self.user,
            self.client_id,
            redirect_uri,
            query["code_challenge"],
            query.get("nonce", ""),
            self.now(),
        )
        raise web.HTTPFound(back.update_query({"code": code, **state}))

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if Misbehaviour.TOKEN_ERROR in self.misbehave:
            return self._refuse(500, "server_error")
        if not self._client_authenticated(request, fields):
            return self._refuse(401, "invalid_client")
        if fields.get("grant_type") != "authorization_code":
            return self._refuse(400, "unsupported_grant_type")
        grant = self._codes.pop(fields.get("code", ""), None)  # a code works once
        if (
            grant is None
            or self.now() - grant.issued_at > _CODE_TTL
            or fields.get("redirect_uri") != grant.redirect_uri
            or _s256(fields.get("code_verifier", "")) != grant.challenge
        ):
            return self._refuse(400, "invalid_grant")
        self.token_calls.append(TokenCall(accepted=True, error=""))
        access_token = secrets.token_urlsafe(32)
        id_token = self._id_token(grant)
        self.issued.extend([access_token, id_token])
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    def _refuse(self, status: int, error: str) -> web.Response:
        self.token_calls.append(TokenCall(accepted=False, error=error))
        return web.json_response({"error": error}, status=status)

    def _client_authenticated(self, request: web.Request, fields: dict[str, str]) -> bool:
        """Only the way discovery announced (RFC 6749 2.3.1: Basic parts form-encoded)."""
        if self.auth_method == "client_secret_post":
            given = (fields.get("client_id"), fields.get("client_secret"))
            return "Authorization" not in request.headers and given == (
                self.client_id,
                self.client_secret,
            )
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic" or "client_secret" in fields:
            return False
        try:
            name, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (unquote(name), unquote(secret)) == (self.client_id, self.client_secret)

    def _id_token(self, grant: Grant) -> str:
        now = self.now()
        issued = now - timedelta(minutes=20) if Misbehaviour.EXPIRED in self.misbehave else now
        odd = self.misbehave
        claims: dict[str, Any] = {
            "iss": "https://elsewhere.example" if Misbehaviour.WRONG_ISSUER in odd else self.issuer,
            "sub": grant.user.sub,
            "aud": "another-client" if Misbehaviour.WRONG_AUDIENCE in odd else grant.client_id,
            "iat": int(issued.timestamp()),
            "exp": int((issued + timedelta(minutes=10)).timestamp()),
            "nonce": "another-nonce" if Misbehaviour.OTHER_NONCE in odd else grant.nonce,
            **grant.user.claims,
        }
        if Misbehaviour.WRONG_AUDIENCE in odd:  # so that only the audience is wrong
            claims["azp"] = grant.client_id
        if grant.user.email:
            claims |= {"email": grant.user.email, "email_verified": grant.user.email_verified}
        key = self._key
        if Misbehaviour.BAD_SIGNATURE in odd:
            key = _rsa_key(KEY_ID)
        elif Misbehaviour.UNKNOWN_KEY in odd:
            key = _rsa_key("fake-key-unknown")
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def _rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": "RS256"})


def _s256(verifier: str) -> str:
    """RFC 7636 4.2, written out here rather than taken from the code under test."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _authorize_problem(query: Any) -> str | None:
    if query.get("response_type") != "code":
        return "unsupported_response_type"
    if "openid" not in query.get("scope", "").split():
        return "invalid_scope"
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return "invalid_request"  # this provider insists on PKCE with S256
    return None


@asynccontextmanager
async def running_oidc_provider(
    fake: FakeOidcProvider,
) -> AsyncIterator[FakeOidcProvider]:
    """The fake on a loopback port; its `issuer` is its base URL."""
    server = TestServer(fake.app)
    await server.start_server()
    fake.issuer = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
