"""`intake-bot models fetch`: Detoxify's published weights and their base model's files.

Without it a site with internet still ran on the lexicon unless someone fetched the weights by
hand, because the `auto` backend never downloads (a worker must not stall for a gigabyte at
start). This fetches them once, on purpose, into `<models_dir>/<model_type>/`, the layout
`detoxify_backend.fetched_weights` looks for:

    <model_type>/<published checkpoint>.ckpt      from <checkpoint_url><tag>/<file>
    <model_type>/<base model>/config.json, ...    from <hub_url>/<repo>/resolve/main/<file>
    <model_type>/fetched.json                     written last: the folder is complete

Only the standard library and aiohttp (no torch): the download can be done, and is tested,
where the ml extra is absent.

Integrity: every file goes to a temporary name in its folder, is hashed while it streams,
and is renamed into place only when it is whole and, where a hash is pinned, matches. A
published checkpoint's torch.hub name embeds the first hex digits of its sha256
(`multilingual_debiased-0b549669.ckpt`); they are checked as torch.hub's `check_hash` does.
The full digests are not pinned here: they could not be verified when this was written.
The hub's config/tokenizer files are not pinned either (fetched from `main` over HTTPS); the
manifest records the sha256 of what was stored, for an audit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from yarl import URL

from bot.contract.errors import IntakeError
from moderation.detoxify_backend import FETCH_MANIFEST, base_model, weight_file

# Detoxify's GitHub release of each published checkpoint (detoxify.detoxify.MODEL_URLS).
RELEASE_TAGS: dict[str, str] = {
    "multilingual": "v0.4-alpha",
    "original": "v0.1-alpha",
    "unbiased": "v0.3-alpha",
}
FETCHABLE: tuple[str, ...] = tuple(RELEASE_TAGS)
DEFAULT_CHECKPOINT_URL = "https://github.com/unitaryai/detoxify/releases/download/"
DEFAULT_HUB_URL = "https://huggingface.co"
HUB_REVISION = "main"

# The base models' canonical hub repositories (the short names redirect there) and the files
# Detoxify's tokenizer and model classes read: config, vocabulary, fast tokenizer.
_HUB_REPOS: dict[str, str] = {
    "multilingual": "FacebookAI/xlm-roberta-base",
    "original": "google-bert/bert-base-uncased",
    "unbiased": "FacebookAI/roberta-base",
}
_HUB_FILES: dict[str, tuple[str, ...]] = {
    "multilingual": ("config.json", "sentencepiece.bpe.model", "tokenizer.json"),
    "original": ("config.json", "tokenizer_config.json", "vocab.txt", "tokenizer.json"),
    "unbiased": ("config.json", "vocab.json", "merges.txt", "tokenizer.json"),
}

# torch.hub's HASH_REGEX: the hex digits between the last "-" and the extension.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")
_MIN_HASH_DIGITS = 8
_CHUNK = 1 << 20
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)

# (file name, bytes so far, total bytes if the server said, finished)
Progress = Callable[[str, int, int | None, bool], None]


class FetchError(IntakeError):
    """A file could not be fetched or failed its check; nothing partial was left behind."""


@dataclass(frozen=True)
class Download:
    url: str
    name: str  # path inside the model folder
    sha256: str | None  # a full digest or a prefix of one; None: not pinned


def published_sha256(model_type: str) -> str:
    """The sha256 prefix in the published checkpoint's name (what torch.hub checks)."""
    found = _HASH_IN_NAME.search(weight_file(model_type))
    if found is None or len(found.group(1)) < _MIN_HASH_DIGITS:  # pragma: no cover - table bug
        raise FetchError(f"no sha256 prefix in {weight_file(model_type)}")
    return found.group(1)


def plan(
    model_type: str,
    *,
    checkpoint_url: str = DEFAULT_CHECKPOINT_URL,
    hub_url: str = DEFAULT_HUB_URL,
    checkpoint_sha256: str | None = None,
) -> list[Download]:
    """What a fetch of `model_type` downloads, from where, checked against what.

    `checkpoint_sha256` replaces the published hash: for a site whose mirror serves a
    checkpoint it trained itself under the published name. The checkpoint comes last, so the
    small files fail first when a mirror lacks them.
    """
    if model_type not in RELEASE_TAGS:
        raise FetchError(f"cannot fetch {model_type!r}; known: {', '.join(FETCHABLE)}")
    expected = (checkpoint_sha256 or published_sha256(model_type)).lower()
    if not re.fullmatch(rf"[0-9a-f]{{{_MIN_HASH_DIGITS},64}}", expected):
        raise FetchError(f"not a sha256 (at least {_MIN_HASH_DIGITS} hex digits): {expected!r}")
    repo, base = _HUB_REPOS[model_type], base_model(model_type)
    hub = f"{hub_url.rstrip('/')}/{repo}/resolve/{HUB_REVISION}"
    files = [Download(f"{hub}/{name}", f"{base}/{name}", None) for name in _HUB_FILES[model_type]]
    ckpt = weight_file(model_type)
    tag = RELEASE_TAGS[model_type]
    return [*files, Download(f"{checkpoint_url.rstrip('/')}/{tag}/{ckpt}", ckpt, expected)]


def shown(url: str) -> str:
    """The URL for messages: a mirror's credentials or signed query never reach a log."""
    return str(URL(url).with_user(None).with_query(None).with_fragment(None))


async def fetch(
    model_type: str,
    models_dir: Path,
    *,
    checkpoint_url: str = DEFAULT_CHECKPOINT_URL,
    hub_url: str = DEFAULT_HUB_URL,
    checkpoint_sha256: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Downloads, verifies and stores `model_type`; its folder. Raises FetchError.

    A file already stored whose pinned hash matches is kept (a second run after a failure
    does not fetch the gigabyte again). The manifest is (re)written only after every file is
    in place, so the `auto` backend never picks up a half-fetched folder.
    """
    downloads = plan(
        model_type,
        checkpoint_url=checkpoint_url,
        hub_url=hub_url,
        checkpoint_sha256=checkpoint_sha256,
    )
    folder = models_dir / model_type
    stored: dict[str, str] = {}
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        for download in downloads:
            target = folder / download.name
            kept = await asyncio.to_thread(_matching_digest, target, download.sha256)
            if kept is None:
                kept = await _download(session, download, target, progress)
            elif progress is not None:
                progress(download.name, target.stat().st_size, target.stat().st_size, True)
            stored[download.name] = kept
    manifest = {
        "model_type": model_type,
        "files": stored,
        "sources": {d.name: shown(d.url) for d in downloads},
    }
    await asyncio.to_thread(_write_atomically, folder / FETCH_MANIFEST, json.dumps(manifest))
    return folder


async def _download(
    session: aiohttp.ClientSession, download: Download, target: Path, progress: Progress | None
) -> str:
    """Streams into a temporary file beside `target`; renames it there once verified."""
    partial, out = await asyncio.to_thread(_open_partial, target)
    try:
        digest = await _stream(session, download, out, progress)
        await asyncio.to_thread(out.close)
        _verify(download, digest)
        await asyncio.to_thread(os.replace, partial, target)
    except BaseException:  # whatever stopped it, cancellation included: no partial file stays
        out.close()
        partial.unlink(missing_ok=True)
        raise
    return digest


async def _stream(
    session: aiohttp.ClientSession, download: Download, out: BinaryIO, progress: Progress | None
) -> str:
    digest = hashlib.sha256()
    done = 0
    try:
        async with session.get(download.url) as response:
            if response.status != 200:  # anything else (a 304, a 206) is not the file
                raise FetchError(
                    f"{shown(download.url)} answered HTTP {response.status} {response.reason}"
                )
            total = response.content_length
            async for chunk in response.content.iter_chunked(_CHUNK):
                await asyncio.to_thread(out.write, chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(download.name, done, total, False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchError(f"cannot fetch {shown(download.url)}: {reason}") from exc
    if total is not None and done != total:
        raise FetchError(f"{shown(download.url)} ended after {done} of {total} bytes")
    if progress is not None:
        progress(download.name, done, total, True)
    return digest.hexdigest()


def _verify(download: Download, digest: str) -> None:
    if download.sha256 is not None and not digest.startswith(download.sha256):
        raise FetchError(
            f"{download.name} from {shown(download.url)} has sha256 {digest}, not the expected "
            f"{download.sha256}...: refused, nothing stored"
        )


def _matching_digest(path: Path, expected: str | None) -> str | None:
    """The digest of a file already stored that matches its pinned hash, else None."""
    if expected is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    found = digest.hexdigest()
    return found if found.startswith(expected) else None


def _open_partial(target: Path) -> tuple[Path, BinaryIO]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    return Path(name), os.fdopen(fd, "wb")


def _write_atomically(path: Path, text: str) -> None:
    partial, out = _open_partial(path)
    try:
        with out:
            out.write(text.encode("utf-8"))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
