"""The web contact form: GET/POST /form, its confirmation page, and its way out.

A form message goes through the same stream as an email: throttle, classifier and
channel gate decide it. The form works without JavaScript and inside an iframe.

- Who writes: the browser. GET /form gives it a random visitor id in an HttpOnly,
  SameSite=Lax cookie; the visitor id is the message's sender, which the browser
  proves by holding it (a contact typed into the form proves nothing: it is a claim,
  and the core treats it as one). A browser that keeps no cookie (a cross-site
  iframe) writes as its submission alone.
- CSRF and double posts: GET /form issues a token HMAC(secret, submission id + issue
  time + the visitor id it was given). A post must carry the same visitor cookie, or,
  from a browser that kept none, an Origin header of this site or of one allowed to
  frame it. The submission id is also the message's external id, so a form sent twice
  is the ingest's duplicate and leads to the same confirmation.
- Uploads are read from the multipart stream with our own limits (the app's
  client_max_size does not apply to streamed reads); a file's type is taken from its
  first bytes, never from what the browser declares. Files are stored under random
  names in `upload_dir` and not served publicly (staff only).
- The honeypot: a field no human sees or tabs to. Filled in, the sender is a bot:
  the page pretends success and nothing is stored, since storing bots' messages
  would fill the inbox and create verified identities for addresses a bot typed.
- Asks only what it must: the order number "if you have one"; the model is marked as
  needed for product complaints and the description's minimum is said before any error.
  After a failed post the error summary (each error a link to its field) is focused by
  `autofocus`, without a line of script. The language buttons on the form are submit
  buttons of the form itself (`relang`): what was typed comes back in the new language.
- The confirmation page waits for the acknowledgment the worker writes (this
  module's ReplySender keeps it in Redis under the submission) and refreshes itself
  with a meta refresh until then; after `done_polls` refreshes it stops waiting. It
  shows what was sent (personal data) only to the browser that sent it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from bot.contract.clock import Now, utc_now
from bot.contract.domain import Channel, InboundMessage, OutboundReply, SendResult
from bot.contract.keys import FormKeys as FormKeys  # noqa: PLC0414 -- re-exported
from bot.contract.keys import Keys
from bot.contract.limits import Limiter
from bot.contract.ports import (
    MessageSink,
    Plug,
    ReplySender,
    StatusLabel,
    TicketLookup,
    Traces,
    plain_status_label,
)
from channels import page_texts, status_page
from channels.form_uploads import (
    CONTROL,
    FILE_TYPES,
    MIB,
    BadToken,
    FileTexts,
    Posted,
    PostReader,
    TooLarge,
    UploadRules,
)
from channels.form_uploads import forget as forget_uploads
from channels.page_render import (
    Pages,
    page_language,
    security_headers,
    stylesheet_route,
    translated,
)

log = logging.getLogger(__name__)

_SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TOKEN = re.compile(r"(?P<sid>[A-Za-z0-9_-]{16,64})\.(?P<issued>\d{1,12})\.(?P<sig>[0-9a-f]{64})")
VISITOR_COOKIE = "intake_visitor"
_VISITOR = re.compile(r"[A-Za-z0-9_-]{22,64}")

# Characters per field; the description's own limit comes from the config.
LIMITS: Mapping[str, int] = {
    "name": 200,
    "contact": 254,
    "order": 64,
    "model": 100,
    "serial": 64,
    "solution": 1000,
    "type": 16,
    "csrf": 160,
    "lang": 16,
    "relang": 16,  # a language button: the same post, shown again in that language
    "checked": 1,  # "1" when the page showed errors: a language switch shows them again
    "website": 200,
}
_SINGLE_LINE = ("name", "contact", "order", "model", "serial")
MIN_DESCRIPTION_CHARS = 20


@dataclass(frozen=True)
class WebformConfig:
    key_prefix: str  # the runtime's key prefix; this channel's keys go under <prefix>:webform
    secret: str  # signs the form tokens (INTAKE_FORM_SECRET, or a generated file secret)
    upload_dir: Path
    max_file_bytes: int = 5 * MIB
    max_files: int = 5
    allowed_types: frozenset[str] = frozenset(FILE_TYPES)
    per_ip_per_hour: int = 20
    default_language: str = "en"
    max_description_chars: int = 8000
    token_max_age_s: int = 24 * 3600
    done_polls: int = 8  # confirmation page refreshes (2 s apart) before it stops waiting
    done_ttl_s: int = 7 * 24 * 3600
    frame_ancestors: str = "*"  # CSP frame-ancestors: who may embed the pages
    timezone: str = "Europe/Rome"
    trusted_proxies: int = 0  # INTAKE_TRUSTED_PROXIES: X-Forwarded-For hops believed
    # The core's status names in a language (bot.text.i18n.status_label): channels cannot import it.
    status_label: StatusLabel = plain_status_label
    privacy_url: str = ""  # INTAKE_PRIVACY_URL: linked from the form's privacy notice
    status_adds_per_hour: int = 20  # messages a status page viewer may add in an hour

    @property
    def uploads(self) -> UploadRules:
        return UploadRules(
            self.upload_dir,
            self.max_file_bytes,
            self.max_files,
            self.allowed_types,
            {**LIMITS, "description": self.max_description_chars},
        )


# --- the token -----------------------------------------------------------------------


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue_token(secret: str, sid: str, issued: int, visitor: str = "") -> str:
    payload = f"{sid}.{issued}"
    return f"{payload}.{_sign(secret, f'{payload}.{visitor}')}"


def check_token(
    secret: str, token: str, now: int, max_age_s: int, visitor: str = ""
) -> tuple[str, bool] | None:
    """(submission id, still fresh) for a token we issued to this visitor; None for a
    missing or forged one, or one issued to another browser."""
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        return None
    expected = _sign(secret, f"{match['sid']}.{match['issued']}.{visitor}")
    if not hmac.compare_digest(expected, match["sig"]):
        return None
    age = now - int(match["issued"])
    return match["sid"], -300 <= age <= max_age_s  # a little skew between processes is fine


# --- checking a post -----------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]{1,64}@[^@\s<>()\[\],;:\"]{1,189}\.[A-Za-z]{2,63}")
_PHONE = re.compile(r"\+?[0-9(][0-9 ()./-]{4,28}")


def contact_address(value: str) -> str | None:
    """The identity address a contact becomes: an email lowercased, a phone's digits."""
    value = value.strip()
    if "@" in value:
        return value.lower() if len(value) <= 254 and _EMAIL.fullmatch(value) else None
    if _PHONE.fullmatch(value):
        digits = re.sub(r"\D", "", value)
        return digits if 6 <= len(digits) <= 15 else None
    return None


def clean(fields: Mapping[str, str]) -> dict[str, str]:
    """Control characters out, one-line fields on one line; bidi marks stay (shown as text)."""
    values = {
        name: CONTROL.sub("", fields.get(name, "")).strip()
        for name in (*_SINGLE_LINE, "description", "solution", "type")
    }
    for name in _SINGLE_LINE:
        values[name] = " ".join(values[name].split())
    values["description"] = values["description"].replace("\r\n", "\n")
    values["solution"] = " ".join(values["solution"].split())
    return values


def problems(
    values: Mapping[str, str], too_long: set[str], config: WebformConfig, texts: Mapping[str, str]
) -> dict[str, str]:
    """Field -> what is wrong with it, in the page's language."""
    errors: dict[str, str] = {}
    if values["type"] not in ("product", "service"):
        errors["type"] = texts["err_type"]
    required = ["name", "contact", "description", "solution"]  # the order only if they have one
    if values["type"] == "product":
        required.append("model")
    for name in required:
        if not values[name]:
            errors[name] = texts["err_required"]
    if "contact" not in errors and contact_address(values["contact"]) is None:
        errors["contact"] = texts["err_contact"]
    if "description" not in errors and len(values["description"]) < MIN_DESCRIPTION_CHARS:
        errors["description"] = translated(
            texts, "err_description_short", min=MIN_DESCRIPTION_CHARS
        )
    limits = {**LIMITS, "description": config.max_description_chars}
    for name in (*_SINGLE_LINE, "description", "solution"):
        if name in too_long or len(values[name]) > limits[name]:
            errors[name] = translated(texts, "err_too_long", max=limits[name])
    return errors


def compose(values: Mapping[str, str]) -> str:
    """The message text: the description first (the core reads it as the description), then
    each field behind a label the core's detail extraction recognises."""
    kind = (
        "product" if values["type"] == "product" else "service (customer service)"
    )  # a word the category vote counts
    contact = values["contact"]
    lines = [
        values["description"],
        "",
        f"Complaint type: {kind}",
    ]
    if values["order"]:
        lines.append(f"Order number: {values['order']}")
    if values["model"]:
        lines.append(f"Model: {values['model']}")
    if values["serial"]:
        lines.append(f"Serial number: {values['serial']}")
    lines.append(f"Desired solution (repair, replacement or refund): {values['solution']}")
    lines.append(f"Email: {contact}" if "@" in contact else f"Phone: {contact}")
    return "\n".join(lines)


def given_details(values: Mapping[str, str]) -> dict[str, str]:
    """The fields by the core's detail names: taken as given, not read back from the text."""
    contact = values["contact"]
    return {
        "category": "product" if values["type"] == "product" else "service",
        "name": values["name"],
        "email" if "@" in contact else "phone": contact,
        "order_number": values["order"],
        "product_model": values["model"],
        "serial_number": values["serial"],
        "description": values["description"],
        "desired_solution": values["solution"],
    }


_SUMMARY = ("type", "name", "contact", "order", "model", "serial", "description", "solution")
# Where the error summary's link for a field goes (the first radio for the type).
_ANCHORS = {name: name for name in (*_SUMMARY, "attachments")} | {"type": "type-product"}
_SAFE_URL = re.compile(r"(https?://|/)[^\s\"'<>]*", re.IGNORECASE)


def error_list(errors: Mapping[str, str], texts: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(anchor, field label, message) in the form's order: the summary's links."""
    return [
        (_ANCHORS[name], texts[name], errors[name])
        for name in (*_SUMMARY, "attachments")
        if name in errors
    ]


def privacy_link(url: str) -> str:
    """The privacy notice's URL when it is a web address (never a javascript: one)."""
    return url if _SAFE_URL.fullmatch(url.strip()) else ""


# --- the sender ----------------------------------------------------------------------

UnderCap = Callable[[str], Awaitable[bool]]  # may this inbox get one more reply today?


@dataclass(frozen=True)
class MailFallback:
    """Where a later reply goes: a confirmation page shows only the first.

    A later reply (a status change) is mailed to the email address typed into the
    submission it answers, if one was (the update is about the visitor's own complaint),
    through the email channel's sender `mail`, once `under_cap` (the outbox's daily cap,
    which counts the reply's own address, not this one) allows that inbox one more.
    bot.app.channel_setup wires it when email is configured, and the plug's status says
    so; without it a later reply is refused (see WebformSender).
    """

    mail: ReplySender
    under_cap: UnderCap | None = None

    async def send(self, reply: OutboundReply, email: str) -> SendResult:
        if self.under_cap is not None and not await self.under_cap(email):
            return SendResult(
                ok=False, permanent=True, error=f"not sent: {email} already got the day's replies"
            )
        result = await self.mail.send(reply.model_copy(update={"to": email}))
        return result.model_copy(update={"delivered_to": email}) if result.ok else result


class WebformSender:
    """Delivers a reply to the confirmation page of the submission it answers.

    The page shows one reply. A later one (a status change) goes to the MailFallback made
    of `later` and `under_cap`, when there is one and the customer gave an email address;
    otherwise it is refused as permanent, so staff see on the ticket that it was not
    delivered and the customer finds it on the status page.
    """

    channel = Channel.WEBFORM

    def __init__(
        self,
        redis: Redis,
        keys: FormKeys,
        ttl_s: int,
        later: ReplySender | None = None,
        under_cap: UnderCap | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s
        self.fallback = None if later is None else MailFallback(later, under_cap)

    async def send(self, reply: OutboundReply) -> SendResult:
        shown = await self._show(reply)
        if shown.ok or self.fallback is None:
            return shown
        email = await self._email_given(reply)
        return await self.fallback.send(reply, email) if email else shown

    async def _email_given(self, reply: OutboundReply) -> str:
        """The email typed into the submission the reply answers: a later update about the
        visitor's own complaint goes there (it is theirs, whoever owns the address)."""
        sid = (reply.in_reply_to or "").removeprefix("form:")
        raw = (
            await self._redis.get(self._keys.submission(sid))
            if _SUBMISSION.fullmatch(sid)
            else None
        )
        contact = str((json.loads(raw).get("values") or {}).get("contact", "")) if raw else ""
        return contact_address(contact) or "" if "@" in contact else ""

    async def _show(self, reply: OutboundReply) -> SendResult:
        sid = (reply.in_reply_to or "").removeprefix("form:")
        if not _SUBMISSION.fullmatch(sid) or not await self._redis.exists(
            self._keys.submission(sid)
        ):
            return SendResult(
                ok=False,
                permanent=True,
                error=(
                    "the web form shows replies only on a fresh confirmation page; "
                    f"this one has none or it expired: contact {reply.to} another way"
                ),
            )
        stored = json.dumps(
            {
                "outbox_id": reply.outbox_id,
                "ref": reply.ticket_ref,
                "text": reply.text,
                "language": reply.language,
            }
        )
        if await self._redis.set(self._keys.reply(sid), stored, nx=True, ex=self._ttl_s):
            return SendResult(ok=True, provider_id=f"form:{sid}")
        earlier = json.loads(await self._redis.get(self._keys.reply(sid)) or "{}")
        if earlier.get("outbox_id") == reply.outbox_id:  # a retry of this very reply
            return SendResult(ok=True, provider_id=f"form:{sid}")
        return SendResult(
            ok=False,
            permanent=True,
            error=(
                "the web form cannot deliver a later update (the customer sees it on the status "
                f"page); contact {reply.to} another way if it matters"
            ),
        )


# --- the pages -----------------------------------------------------------------------


class WebForm:
    """GET/POST /form and GET /form/done/{submission}."""

    def __init__(
        self,
        config: WebformConfig,
        sink: MessageSink,
        lookup: TicketLookup,
        redis: Redis,
        accepted: Callable[[], frozenset[Channel]],
        now: Now,
        pages: Pages,
    ) -> None:
        self.config, self.sink, self.lookup, self.redis = config, sink, lookup, redis
        self.accepted, self.now, self.pages = accepted, now, pages
        keys = Keys(config.key_prefix)
        self.keys = keys.webform
        self.limit = Limiter(redis, keys, "form-ip", config.per_ip_per_hour, 3600)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/form", self.show),
            web.post("/form", self.submit),
            web.get("/form/done/{submission}", self.done),
        ]

    # GET /form ---------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.config.default_language)
        if Channel.WEBFORM not in self.accepted():
            return self._unavailable(request, lang)
        values = {"order": request.query.get("order", "")[: LIMITS["order"]]}
        return self._form(request, lang, values, {}, sid=secrets.token_urlsafe(16))

    def _visitor(self, request: web.Request) -> str:
        """The visitor id the browser holds ('' without a valid cookie)."""
        value = request.cookies.get(VISITOR_COOKIE, "")
        return value if _VISITOR.fullmatch(value) else ""

    def _origin_ok(self, request: web.Request) -> bool:
        """A browser's post comes from this site, or from a page allowed to frame it."""
        origin = request.headers.get("Origin", "")
        if not origin:
            return False
        host = origin.split("://", 1)[-1]
        if host == request.host:
            return True
        allowed = self.config.frame_ancestors.split()
        return "*" in allowed or any(
            origin == a or host == a.split("://", 1)[-1]
            for a in allowed
            if a not in ("'self'", "'none'")
        )

    def _unavailable(self, request: web.Request, lang: str) -> web.Response:
        texts = page_texts.texts(lang)
        open_channels = [
            texts[f"channel.{c.value}"]
            for c in Channel
            if c in self.accepted() and c is not Channel.WEBFORM
        ]
        return self.pages.render(
            request, "unavailable.html", lang, status=503, channels=open_channels
        )

    def _form(
        self,
        request: web.Request,
        lang: str,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        *,
        sid: str,
        status: int = 200,
        notice: str = "",
        files_again: bool = False,
    ) -> web.Response:
        config, texts = self.config, page_texts.texts(lang)
        held = self._visitor(request)  # a first visit's token is bound to no cookie yet
        visitor = held or secrets.token_urlsafe(24)
        token = issue_token(config.secret, sid, int(self.now().timestamp()), held)
        cache = "private, no-cache" if status == 200 and not any(values.values()) else "no-store"
        response = self.pages.render(
            request,
            "form.html",
            lang,
            status=status,
            cache=cache,
            token=token,
            values=values,
            errors=errors,
            error_list=error_list(errors, texts),
            notice=notice,
            privacy_url=privacy_link(config.privacy_url),
            min_description=MIN_DESCRIPTION_CHARS,
            intro_conditions=translated(texts, "form_conditions", min=MIN_DESCRIPTION_CHARS),
            description_hint=translated(texts, "description_hint", min=MIN_DESCRIPTION_CHARS),
            files_again=files_again,
            accept=",".join(sorted(config.allowed_types)),
            limits={**LIMITS, "files": config.max_files},
            hint_files=translated(
                texts,
                "attachments_hint",
                max_files=config.max_files,
                max_mb=config.max_file_bytes // MIB,
            ),
        )
        response.set_cookie(
            VISITOR_COOKIE,
            visitor,
            max_age=365 * 86400,
            httponly=True,
            samesite="Lax",
            secure=request.secure,
            path="/",
        )
        return response

    # POST /form --------------------------------------------------------------------

    def _checked(self, request: web.Request, token: str) -> tuple[str, bool] | None:
        """The token, for the browser it was issued to: bound to its visitor cookie, or
        bound to none (a first visit's, or a cookieless cross-site frame's). A post whose
        Origin is neither this site nor one allowed to frame it is refused either way
        (browsers always send Origin on a cross-site post; a client without one holds
        nobody's cookie)."""
        if request.headers.get("Origin") and not self._origin_ok(request):
            return None
        now, visitor = int(self.now().timestamp()), self._visitor(request)
        secret, max_age = self.config.secret, self.config.token_max_age_s
        checked = check_token(secret, token, now, max_age, visitor) if visitor else None
        return checked or check_token(secret, token, now, max_age)

    async def submit(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.config.default_language)
        refusal = await self._refuse_early(request, lang)
        if refusal is not None:
            return refusal
        reader = PostReader(
            self.config.uploads,
            self._file_texts(lang),
            lambda token: self._checked(request, token) is not None,
        )
        try:
            posted = await self._read(request, reader)
        except TooLarge:
            await reader.posted.discard_files()
            return self._too_large(request, lang)
        except BadToken:
            await reader.posted.discard_files()
            return self._forbidden(request, lang)
        chosen = posted.fields.get("relang") or posted.fields.get("lang")
        lang = page_language(request, self.config.default_language, chosen)
        try:
            return await self._decide(request, lang, posted)
        finally:
            await posted.discard_files()  # kept only when the message was stored (cleared)

    async def _refuse_early(self, request: web.Request, lang: str) -> web.Response | None:
        """Before a byte of the body is read: too big by its own account, or a flood."""
        length = request.content_length
        if length is not None and length > self.config.uploads.max_post_bytes:
            return self._too_large(request, lang)
        allowance = await self.limit.hit(self.pages.client_ip(request), self.now())
        if not allowance.allowed:
            texts = page_texts.texts(lang)
            minutes = max(1, -(-allowance.retry_after_s // 60))
            response = self.pages.problem(
                request,
                lang,
                429,
                texts["too_many_title"],
                texts["too_many_form"],
                detail=translated(texts, "too_many_minutes", minutes=minutes),
            )
            response.headers["Retry-After"] = str(allowance.retry_after_s)
            return response
        return None

    def _file_texts(self, lang: str) -> FileTexts:
        texts, config = page_texts.texts(lang), self.config
        return FileTexts(
            wrong_type=lambda name: translated(texts, "err_file_type", name=name),
            too_big=lambda name: translated(
                texts, "err_file_size", name=name, max_mb=config.max_file_bytes // MIB
            ),
            too_many=lambda: translated(texts, "err_file_count", max_files=config.max_files),
        )

    async def _read(self, request: web.Request, reader: PostReader) -> Posted:
        if request.content_type == "multipart/form-data":
            return await reader.read(request)
        try:  # a plain urlencoded post (no files) is fine too
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise TooLarge from None
        posted = Posted()
        for name, value in form.items():
            if isinstance(value, str) and name in self.config.uploads.field_chars:
                posted.fields[name] = value
        return posted

    async def _decide(self, request: web.Request, lang: str, posted: Posted) -> web.Response:
        texts = page_texts.texts(lang)
        checked = self._checked(request, posted.fields.get("csrf", ""))
        if checked is None:
            return self._forbidden(request, lang)
        sid, fresh = checked
        if await self.redis.exists(self.keys.submission(sid)):
            return self._to_done(sid, lang)  # sent twice: the same confirmation
        values = clean(posted.fields)
        if not fresh or posted.fields.get("relang"):
            return self._again(request, lang, values, posted, sid if fresh else "")
        if posted.fields.get("website", "").strip():
            return await self._honeypot(sid, lang)
        errors = self._errors(values, posted, texts)
        if errors:
            return self._form(
                request, lang, values, errors, sid=sid, status=422, files_again=posted.files_given
            )
        return await self._store(request, sid, lang, values, posted)

    def _errors(
        self, values: Mapping[str, str], posted: Posted, texts: Mapping[str, str]
    ) -> dict[str, str]:
        errors = problems(values, posted.too_long, self.config, texts)
        if posted.file_errors:
            errors["attachments"] = " ".join(posted.file_errors)
        return errors

    def _again(
        self,
        request: web.Request,
        lang: str,
        values: Mapping[str, str],
        posted: Posted,
        sid: str,
    ) -> web.Response:
        """The form again with what was typed: after a language switch (its errors too, if
        the page showed them), or with a new token once the old one expired (sid '')."""
        if not sid:
            return self._form(
                request,
                lang,
                values,
                {},
                sid=secrets.token_urlsafe(16),
                status=422,
                notice=page_texts.texts(lang)["expired"],
                files_again=posted.files_given,
            )
        shown = self._errors(values, posted, page_texts.texts(lang))
        if posted.fields.get("checked") != "1":
            shown = {}
        return self._form(request, lang, values, shown, sid=sid, files_again=posted.files_given)

    async def _honeypot(self, sid: str, lang: str) -> web.Response:
        log.info("honeypot filled; nothing stored", extra={"submission": sid})
        record = {"honeypot": True, "language": lang}
        await self.redis.set(
            self.keys.submission(sid), json.dumps(record), ex=self.config.done_ttl_s
        )
        return self._to_done(sid, lang)

    def _message(
        self, sid: str, visitor: str, lang: str, values: Mapping[str, str], posted: Posted
    ) -> InboundMessage:
        """From the browser (its visitor id), not from the contact it typed: a claim."""
        return InboundMessage(
            channel=Channel.WEBFORM,
            external_id=f"form:{sid}",
            sender=f"b:{visitor}" if visitor else f"s:{sid}",
            display_name=values["name"],
            subject="",
            text=compose(values),
            received_at=self.now().astimezone(UTC),
            language=lang,
            attachments=[saved.attachment for saved in posted.files],
            raw={"form": dict(values)},
            details=given_details(values),
        )

    async def _store(
        self, request: web.Request, sid: str, lang: str, values: Mapping[str, str], posted: Posted
    ) -> web.Response:
        """The confirmation's record first (the acknowledgment may come back within
        milliseconds and needs it), then the message itself."""
        visitor = self._visitor(request)
        message = self._message(sid, visitor, lang, values, posted)
        record = {
            "sender": message.sender,
            "language": lang,
            "visitor": visitor,
            "values": dict(values),
            "files": [a.filename for a in message.attachments],
        }
        key = self.keys.submission(sid)
        if not await self.redis.set(key, json.dumps(record), nx=True, ex=self.config.done_ttl_s):
            return self._to_done(sid, lang)  # the same form, sent twice at the same moment
        try:
            accepted = await self.sink.accept(message)
        except Exception:
            log.exception("the form message could not be stored", extra={"submission": sid})
            await self.redis.delete(key)
            texts = page_texts.texts(lang)
            return self._form(
                request,
                lang,
                values,
                {},
                sid=sid,
                status=503,
                notice=texts["store_down"],
                files_again=posted.files_given,
            )
        if not accepted.duplicate:  # a duplicate's files are the first post's, kept already
            posted.files.clear()  # the stored message refers to them now
            await self._offer_proof(request, sid, record, lang)
        return self._to_done(sid, lang)

    async def _offer_proof(
        self, request: web.Request, sid: str, record: dict[str, Any], lang: str
    ) -> None:
        """An email typed by a browser that keeps its cookie: if a customer wrote from it,
        a link there lets this browser prove it is theirs (bot.tickets.claims). The page says the
        same whether or not one was sent."""
        email = contact_address(record["values"].get("contact", ""))
        if not (record["visitor"] and email and "@" in email and self.lookup.can_mail):
            return
        allowance = await self.lookup.request_proof(
            Channel.WEBFORM, record["sender"], email, self.pages.client_ip(request), lang
        )
        if allowance.allowed:
            record["proof"] = True
            await self.redis.set(self.keys.submission(sid), json.dumps(record), keepttl=True)

    def _to_done(self, sid: str, lang: str) -> web.Response:
        """POST-redirect-GET: a reload of the confirmation never posts the form again."""
        return web.Response(
            status=303,
            headers={
                "Location": f"/form/done/{sid}?lang={lang}",
                **security_headers(self.config.frame_ancestors),
            },
        )

    def _forbidden(self, request: web.Request, lang: str) -> web.Response:
        texts = page_texts.texts(lang)
        return self.pages.problem(
            request, lang, 403, texts["forbidden_title"], texts["forbidden_text"]
        )

    def _too_large(self, request: web.Request, lang: str) -> web.Response:
        texts = page_texts.texts(lang)
        limit = self.config.uploads.max_post_bytes // MIB
        message = translated(texts, "too_large_text", max_mb=limit)
        return self.pages.problem(request, lang, 413, texts["too_large_title"], message)

    # GET /form/done/{submission} ---------------------------------------------------

    async def done(self, request: web.Request) -> web.Response:
        sid = request.match_info["submission"]
        raw = (
            await self.redis.get(self.keys.submission(sid)) if _SUBMISSION.fullmatch(sid) else None
        )
        if raw is None:
            lang = page_language(request, self.config.default_language)
            texts = page_texts.texts(lang)
            return self.pages.problem(
                request, lang, 404, texts["not_found_title"], texts["not_found_text"]
            )
        record: dict[str, Any] = json.loads(raw)
        lang = page_language(request, record.get("language") or self.config.default_language)
        context = await self._done_state(sid, record, lang)
        # What was typed is shown to the browser that typed it, not to whoever has the URL.
        own = bool(record.get("visitor")) and hmac.compare_digest(
            str(record.get("visitor")), self._visitor(request)
        )
        texts = page_texts.texts(lang)
        summary = _summary(record, texts) if own else []
        email = contact_address(str((record.get("values") or {}).get("contact", "")))
        proof = (
            translated(texts, "proof_sent", email=email)
            if (own and email and "@" in email and record.get("proof"))
            else ""
        )
        return self.pages.render(
            request, "done.html", lang, summary=summary, proof=proof, **context
        )

    async def _done_state(self, sid: str, record: Mapping[str, Any], lang: str) -> dict[str, Any]:
        if record.get("honeypot"):
            return {"state": "review"}
        reply = await self.redis.get(self.keys.reply(sid))
        if reply is not None:
            answer = json.loads(reply)
            return {
                "state": "answered",
                "ref": answer["ref"],
                "paragraphs": [p for p in answer["text"].split("\n\n") if p.strip()],
            }
        polls = await self.redis.incr(self.keys.polls(sid))
        await self.redis.expire(self.keys.polls(sid), self.config.done_ttl_s)
        if polls <= self.config.done_polls:
            return {"state": "processing", "refresh": 2}
        texts = page_texts.texts(lang)
        # The browser's own open complaint, if it has one (it wrote from the same browser).
        view = await self.lookup.open_ticket_of(Channel.WEBFORM, record["sender"])
        if view is None:
            return {"state": "review"}
        return {"state": "added", "added": translated(texts, "done_added")}

    # Erasure ------------------------------------------------------------------------

    async def forget(self, traces: Traces) -> dict[str, int]:
        """An erased customer's submissions (what /form/done shows: name, contact, texts,
        the reply) and uploaded files. A form message's external id is "form:<sid>"."""
        sids = [
            sid
            for ext in sorted(traces.external_ids.get(Channel.WEBFORM, frozenset()))
            if _SUBMISSION.fullmatch(sid := ext.removeprefix("form:"))
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                for key in (self.keys.submission(sid), self.keys.reply(sid), self.keys.polls(sid)):
                    pipe.delete(key)
            deleted = await pipe.execute()
        files = await asyncio.to_thread(
            forget_uploads, self.config.upload_dir, traces.attachment_urls
        )
        return {"redis_keys": sum(int(n) for n in deleted), "files": files}


def _summary(record: Mapping[str, Any], texts: Mapping[str, str]) -> list[tuple[str, str]]:
    values: Mapping[str, str] = record.get("values") or {}
    rows = []
    for name in _SUMMARY:
        value = values.get(name, "")
        if name == "type" and value:
            value = texts[f"type_{value}"]
        if value:
            rows.append((texts[name], value))
    if record.get("files"):
        rows.append((texts["attachments"], ", ".join(record["files"])))
    return rows


def plug(
    config: WebformConfig,
    sink: MessageSink,
    lookup: TicketLookup,
    redis: Redis,
    accepted: Callable[[], frozenset[Channel]],
    now: Now = utc_now,
    fallback: MailFallback | None = None,
) -> Plug:
    """The contact form and the status page; `now` is the runtime's clock (tests move it),
    `fallback` where replies after the confirmation page's go (none: they are refused)."""
    if not config.secret:
        return Plug("webform", status="not configured: set INTAKE_FORM_SECRET")
    config.upload_dir.mkdir(parents=True, exist_ok=True)
    pages = Pages(config.frame_ancestors, config.timezone, config.trusted_proxies)
    form = WebForm(config, sink, lookup, redis, accepted, now, pages)
    adding = status_page.Adding(
        config.secret,
        replace(config.uploads, field_chars=status_page.ADD_FIELDS),
        Limiter(redis, Keys(config.key_prefix), "status-add", config.status_adds_per_hour, 3600),
    )
    status = status_page.StatusPage(
        lookup, pages, now, config.default_language, config.status_label, adding
    )
    sender = WebformSender(
        redis,
        form.keys,
        config.done_ttl_s,
        later=fallback.mail if fallback else None,
        under_cap=fallback.under_cap if fallback else None,
    )
    return Plug(
        "webform",
        status="configured (later replies by email)" if fallback else "configured",
        routes=[*form.routes(), *status.routes(), stylesheet_route()],
        senders={Channel.WEBFORM: sender},
        forget=[form.forget],
    )
