"""Reading the contact form's multipart post: text fields and photos, under our own limits.

The app's client_max_size (256 KB) guards whole-body reads; photos are bigger, so the
post is streamed part by part and every byte counts against `max_post_bytes`. A
file's type comes from its first bytes, never from what the browser declared, and a
file is written only after the form's token was seen valid (the form sends the token
first), so a forged post never touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.contract.domain import Attachment

MIB = 1024 * 1024
CHUNK = 64 * 1024
TEXT_BUDGET = 256 * 1024  # all text fields of one post together, in bytes
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

FILE_TYPES: Mapping[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
URL_PREFIX = "/form/files/"
_STORED_URL = re.compile(re.escape(URL_PREFIX) + r"(?P<name>[A-Za-z0-9_-]{24}(?:\.[a-z]{3,4})?)")


def forget(upload_dir: Path, urls: Iterable[str]) -> int:
    """Delete the stored files behind a customer's attachment URLs (their erasure); a URL
    that is not one of ours names nothing here. Returns how many files were deleted."""
    deleted = 0
    for url in urls:
        match = _STORED_URL.fullmatch(url)
        if match is not None:
            with contextlib.suppress(FileNotFoundError):
                (upload_dir / match["name"]).unlink()
                deleted += 1
    return deleted


def _create_private(path: Path) -> IO[bytes]:
    """A new file only its owner reads (0600): a customer's photo is personal data."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def sniff(head: bytes) -> str | None:
    """The file's real type from its magic bytes, whatever the browser declared."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def display_filename(name: str) -> str:
    """Browsers send %22 for a quote and some clients percent-encode it all: shown decoded,
    without a path, without control characters."""
    base = re.split(r"[/\\]", unquote(name))[-1]
    return CONTROL.sub("", base).strip()[:255] or "file"


@dataclass(frozen=True)
class UploadRules:
    upload_dir: Path
    max_file_bytes: int
    max_files: int
    allowed_types: frozenset[str]
    field_chars: Mapping[str, int]  # the text fields kept, with their limits in characters

    @property
    def max_post_bytes(self) -> int:
        return self.max_files * self.max_file_bytes + TEXT_BUDGET


@dataclass(frozen=True)
class FileTexts:
    """The refusals' wording in the page's language: (filename) -> message."""

    wrong_type: Callable[[str], str]
    too_big: Callable[[str], str]
    too_many: Callable[[], str]


class TooLarge(Exception):
    """The post is over the whole-request budget: refuse it, store nothing."""


class BadToken(Exception):
    """A file came before a valid token: nothing of a forged post touches the disk."""


@dataclass
class SavedFile:
    path: Path
    attachment: Attachment


@dataclass
class Posted:
    """A post as read: its text fields, saved files and the problems met on the way."""

    fields: dict[str, str] = field(default_factory=dict)
    too_long: set[str] = field(default_factory=set)
    files: list[SavedFile] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    files_given: bool = False

    async def discard_files(self) -> None:
        for saved in self.files:
            await asyncio.to_thread(saved.path.unlink, missing_ok=True)
        self.files.clear()


class PostReader:
    """Streams one multipart post under a byte budget; one instance per request.

    After an exception, `posted.files` holds what was written so far, for the caller
    to discard.
    """

    def __init__(
        self, rules: UploadRules, texts: FileTexts, token_ok: Callable[[str], bool]
    ) -> None:
        self.rules = rules
        self.texts = texts
        self.token_ok = token_ok
        self.budget = rules.max_post_bytes
        self.posted = Posted()

    async def read(self, request: web.Request) -> Posted:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise TooLarge  # nested multipart: no browser sends it for this form
            if part.filename is None:
                await self._text(part)
            else:
                await self._file(part)
        return self.posted

    async def _chunk(self, part: BodyPartReader) -> bytes:
        chunk = await part.read_chunk(CHUNK)
        self.budget -= len(chunk)
        if self.budget < 0:
            raise TooLarge
        return chunk

    async def _drain(self, part: BodyPartReader) -> None:
        while await self._chunk(part):
            pass

    async def _text(self, part: BodyPartReader) -> None:
        name = part.name or ""
        cap = self.rules.field_chars.get(name, 0) * 4 + 4  # UTF-8: at most 4 bytes a character
        data = bytearray()
        while chunk := await self._chunk(part):
            if len(data) <= cap:
                data += chunk
        if name not in self.rules.field_chars:
            return
        if len(data) > cap:
            self.posted.too_long.add(name)
        self.posted.fields[name] = data[:cap].decode("utf-8", "replace")

    async def _file(self, part: BodyPartReader) -> None:
        if not self.token_ok(self.posted.fields.get("csrf", "")):
            raise BadToken
        head = await self._chunk(part)
        while head and len(head) < 12 and (more := await self._chunk(part)):
            head += more
        if not head and not part.filename:
            return  # the empty part a browser sends when no file was chosen
        self.posted.files_given = True
        name = display_filename(part.filename or "")
        problem = self._refusal(head, name)
        if problem:
            self.posted.file_errors.append(problem)
            await self._drain(part)
            return
        await self._store(part, head, name)

    def _refusal(self, head: bytes, name: str) -> str | None:
        if len(self.posted.files) >= self.rules.max_files:
            return self.texts.too_many()
        kind = sniff(head)
        if kind is None or kind not in self.rules.allowed_types:
            return self.texts.wrong_type(name)
        return None

    async def _store(self, part: BodyPartReader, head: bytes, name: str) -> None:
        kind = sniff(head) or "application/octet-stream"
        stored = secrets.token_urlsafe(18) + FILE_TYPES.get(kind, "")
        path = self.rules.upload_dir / stored
        try:
            size = await self._write(part, head, path)
        except BaseException:  # over the whole budget, or the client went away: no leftovers
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        if size > self.rules.max_file_bytes:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            self.posted.file_errors.append(self.texts.too_big(name))
            await self._drain(part)
            return
        self.posted.files.append(
            SavedFile(
                path,
                Attachment(filename=name, content_type=kind, size=size, url=URL_PREFIX + stored),
            )
        )

    async def _write(self, part: BodyPartReader, head: bytes, path: Path) -> int:
        """Bytes written, or the limit plus one where the file turned out too big."""
        size, chunk = 0, head
        handle: IO[bytes] = await asyncio.to_thread(_create_private, path)
        try:
            while chunk:
                size += len(chunk)
                if size > self.rules.max_file_bytes:
                    return size
                await asyncio.to_thread(handle.write, chunk)
                chunk = await self._chunk(part)
        finally:
            await asyncio.to_thread(handle.close)
        return size
