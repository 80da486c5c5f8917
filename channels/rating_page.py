"""The rating page: the one question sent with a resolution, 1 to 5 and a comment.

The resolution reply carries GET /rate/{ref}/{token}: the token is the capability (the
core keeps only its hash, bot.tickets.ratings), and it answers for its own ticket only.
Every link that is not valid (wrong, expired, unknown, another ticket's) gets the same
page, "this link is not valid", which never says whether the ticket exists. The token
stays in the path, so the page's language links keep it. A GET only shows the form (a
mail scanner that fetches the link records nothing); the POST stores the ticket's one
rating, and a second one, replayed or racing, is told it was already recorded. No
JavaScript: a plain form, its errors listed at the top and beside each field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.contract.ports import (
    MAX_RATING_COMMENT,
    RATING_SCORES,
    Plug,
    RatingBook,
    RatingOutcome,
)
from channels import page_texts
from channels.page_render import Pages, page_language, translated

log = logging.getLogger(__name__)

TEMPLATE = "rating.html"
MAX_REF = 40
MAX_TOKEN = 64
PATH = "/rate/{ref}/{token}"


@dataclass(frozen=True)
class RatingConfig:
    default_language: str = "en"
    frame_ancestors: str = "*"
    timezone: str = "Europe/Rome"
    trusted_proxies: int = 0


class RatingPage:
    def __init__(self, ratings: RatingBook, pages: Pages, default_language: str) -> None:
        self.ratings, self.pages, self.default_language = ratings, pages, default_language

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.show), web.post(PATH, self.rate)]

    async def show(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        ref, token = _link(request)
        invite = await self.ratings.invitation(ref, token)
        if invite is None:
            return self._not_valid(request, lang)
        if invite.rated:
            return self._outcome(request, lang, "rate_already")
        return self._form(request, lang, invite.ref, {"score": "", "comment": ""}, {})

    async def rate(self, request: web.Request) -> web.Response:
        lang = page_language(request, self.default_language)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            texts = page_texts.texts(lang)
            limit = translated(texts, "rate_comment_hint", limit=MAX_RATING_COMMENT)
            return self.pages.problem(request, lang, 413, texts["too_large_title"], limit)
        lang = page_language(request, self.default_language, _field(form, "lang", 16))
        ref, token = _link(request)
        score, comment, errors = _read(form, page_texts.texts(lang))
        if errors:
            if await self.ratings.invitation(ref, token) is None:
                return self._not_valid(request, lang)
            values = {"score": _field(form, "score", 8), "comment": comment}
            return self._form(request, lang, ref, values, errors, status=422)
        outcome = await self.ratings.rate(ref, token, score, comment, lang)
        if outcome is RatingOutcome.INVALID:
            return self._not_valid(request, lang)
        if outcome is RatingOutcome.ALREADY:
            return self._outcome(request, lang, "rate_already", status=409)
        return self._outcome(request, lang, "rate_thanks")

    def _form(
        self,
        request: web.Request,
        lang: str,
        ref: str,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        *,
        status: int = 200,
    ) -> web.Response:
        texts = page_texts.texts(lang)
        return self.pages.render(
            request,
            TEMPLATE,
            lang,
            status=status,
            action=request.path,
            ref=ref,
            values=values,
            errors=errors,
            scores=list(RATING_SCORES),
            limit=MAX_RATING_COMMENT,
            hint=translated(texts, "rate_comment_hint", limit=MAX_RATING_COMMENT),
        )

    def _outcome(
        self, request: web.Request, lang: str, key: str, *, status: int = 200
    ) -> web.Response:
        texts = page_texts.texts(lang)
        return self.pages.render(request, TEMPLATE, lang, status=status, outcome=texts[key])

    def _not_valid(self, request: web.Request, lang: str) -> web.Response:
        """One answer for every link that is not valid, whichever way it is not."""
        texts = page_texts.texts(lang)
        return self.pages.problem(
            request, lang, 404, texts["rate_invalid_title"], texts["rate_invalid"]
        )


def _link(request: web.Request) -> tuple[str, str]:
    return request.match_info["ref"][:MAX_REF], request.match_info["token"][:MAX_TOKEN]


def _read(form: Mapping[str, Any], texts: Mapping[str, str]) -> tuple[int, str, dict[str, str]]:
    """The score and the comment, or what is wrong with them (by field)."""
    errors: dict[str, str] = {}
    typed = _field(form, "score", 8)
    score = int(typed) if typed.isdecimal() else 0
    if score not in RATING_SCORES:
        errors["score"] = texts["rate_missing"]
    raw = form.get("comment", "")
    comment = raw.replace("\x00", "").strip() if isinstance(raw, str) else ""
    if len(comment) > MAX_RATING_COMMENT:
        errors["comment"] = _too_long(texts, len(comment))
        comment = comment[:MAX_RATING_COMMENT]
    return score, comment, errors


def _too_long(texts: Mapping[str, str], length: int) -> str:
    return translated(texts, "rate_too_long", limit=MAX_RATING_COMMENT, length=length)


def _field(form: Mapping[str, Any], name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def plug(ratings: RatingBook, config: RatingConfig) -> Plug:
    """The rating page's routes (its stylesheet is the pages' one, served by the form's)."""
    pages = Pages(config.frame_ancestors, config.timezone, config.trusted_proxies)
    # Compiled now, not on the first request (page_render compiles its own templates so).
    pages._env.get_template(TEMPLATE)
    page = RatingPage(ratings, pages, config.default_language)
    return Plug(name="rating", routes=page.routes())
