"""Files in the chat: a photo or PDF added to the customer's complaint after its reference.

The form's checks (channels.form_uploads), not a second set: a budget on the whole post,
the type from the file's first bytes, the size limit, files written only by the bot's user
(0600) and never served publicly (staff see them in the console). The post names its
session first; no byte of a file is written before that session was found, so a forged
post never touches the disk. A session id is the chat's secret: it travels in the body,
never in a URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import BodyPartReader, web

from channels import chat_texts
from channels.form_uploads import (
    FILE_TYPES,
    MIB,
    FileTexts,
    Posted,
    PostReader,
    TooLarge,
    UploadRules,
)

SESSION_FIELD = "session"


def rules(upload_dir: Path, max_file_bytes: int) -> UploadRules:
    """One file a post, of the form's types and size, in the form's private directory."""
    return UploadRules(
        upload_dir=upload_dir,
        max_file_bytes=max_file_bytes,
        max_files=1,
        allowed_types=frozenset(FILE_TYPES),
        field_chars={SESSION_FIELD: 64, "cid": 64, "csrf": 64},
    )


def texts(language: str, max_file_bytes: int) -> FileTexts:
    size = str(max(1, max_file_bytes // MIB))
    return FileTexts(
        wrong_type=lambda _name: chat_texts.say("attach_type", language),
        too_big=lambda _name: chat_texts.say("attach_size", language, mb=size),
        too_many=lambda: chat_texts.say("attach_type", language),
    )


class NoSession(Exception):
    """The post named no live chat session before its file."""


class ChatUploadReader(PostReader):
    """The form's reader; the session field must come first and name a live session."""

    def __init__(
        self, upload: UploadRules, language: str, valid: Callable[[str], Awaitable[bool]]
    ) -> None:
        super().__init__(upload, texts(language, upload.max_file_bytes), lambda _token: True)
        self._valid = valid

    async def read(self, request: web.Request) -> Posted:
        reader = await request.multipart()
        first = await reader.next()
        if not isinstance(first, BodyPartReader) or first.name != SESSION_FIELD:
            raise NoSession
        await self._text(first)
        if not await self._valid(self.posted.fields.get(SESSION_FIELD, "")):
            raise NoSession
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise TooLarge
            if part.filename is None:
                await self._text(part)
            else:
                await self._file(part)
        return self.posted
