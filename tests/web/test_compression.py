"""Responses over HTTP: gzip when the client asks for it, plain when not; a favicon."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import channel_setup
from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.app.web.compression import accepts_gzip, worth_compressing

Client = TestClient[web.Request, web.Application]
ASSETS = [
    "/widget.js",
    "/widget.css",
    "/pages-static/pages.css",
    "/console/static/console.css",
    "/console/static/console.js",
    "/form",
    "/form?lang=it",
    "/status",
    "/console/login",
]


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    app = make_app(runtime, plugs=channel_setup.plugs(runtime))
    # auto_decompress off: the test reads the bytes as they came over the wire.
    async with TestClient(TestServer(app), auto_decompress=False) as test_client:
        yield test_client


async def raw(client: Client, path: str, accept: str | None) -> tuple[int, str, str, bytes]:
    headers = {"Accept-Encoding": accept} if accept is not None else {"Accept-Encoding": ""}
    response = await client.get(path, headers=headers)
    body = await response.read()
    vary = response.headers.get("Vary", "")
    return response.status, response.headers.get("Content-Encoding", ""), vary, body


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
@pytest.mark.parametrize("path", ASSETS)
async def test_text_comes_gzipped_when_asked_and_plain_when_not(client: Client, path: str) -> None:
    status, encoding, vary, zipped = await raw(client, path, "gzip, deflate, br")
    assert (status, encoding) == (200, "gzip"), path
    assert "Accept-Encoding" in vary
    status, encoding, vary, plain = await raw(client, path, None)
    assert (status, encoding) == (200, ""), path
    assert "Accept-Encoding" in vary
    unzipped = gzip.decompress(zipped)
    assert len(zipped) < len(unzipped)
    if path.startswith("/form"):  # a fresh form token in each: the same page otherwise
        unzipped, plain = unzipped[:1000], plain[:1000]
    assert unzipped == plain


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_the_answer_to_a_post_is_never_compressed(client: Client) -> None:
    """A refused form re-displays what was typed beside the form's token: compressed,
    its size would leak the token to a guesser (BREACH). The same page by GET is."""
    response = await client.post(
        "/form", data={"description": "x" * 2000}, headers={"Accept-Encoding": "gzip"}
    )
    body = await response.read()
    assert len(body) >= 1024, response.status  # a page worth compressing, were it a read
    assert "Content-Encoding" not in response.headers
    _, encoding, _, _ = await raw(client, "/form", "gzip")
    assert encoding == "gzip"


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_a_refused_coding_and_tiny_bodies_stay_plain(client: Client) -> None:
    for accept in ["gzip;q=0", "identity", "br", "deflate;q=1, gzip;q=0.0"]:
        _, encoding, _, _ = await raw(client, "/widget.js", accept)
        assert encoding == "", accept
    _, encoding, _, body = await raw(client, "/favicon.ico", "gzip")  # 176 bytes
    assert encoding == ""
    assert body.startswith(b"<svg")
    health = await client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in health.headers


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
async def test_customer_pages_name_a_favicon_that_is_served(client: Client) -> None:
    page = await client.get("/form", headers={"Accept-Encoding": ""})
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in await page.text()
    icon = await client.get("/favicon.ico")
    assert icon.status == 200
    assert icon.content_type == "image/svg+xml"
    assert icon.headers["X-Content-Type-Options"] == "nosniff"


def test_accept_encoding_is_read_with_its_weights() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("GZIP;q=0.5, br")
    assert accepts_gzip("*")
    assert accepts_gzip("x-gzip")
    assert not accepts_gzip("")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("*;q=0")
    assert not accepts_gzip("gzip;q=abc")
    assert not accepts_gzip("br, deflate")
    assert not accepts_gzip("*, gzip;q=0")


def test_only_whole_text_bodies_worth_it_are_compressed() -> None:
    big = b"x" * 4096
    assert worth_compressing(web.Response(body=big, content_type="text/html"))
    assert not worth_compressing(web.Response(body=big, content_type="image/png"))  # an upload
    assert not worth_compressing(web.Response(body=big, content_type="application/pdf"))
    assert not worth_compressing(web.Response(body=b"x" * 100, content_type="text/css"))
    encoded = web.Response(body=big, content_type="text/html", headers={"Content-Encoding": "br"})
    assert not worth_compressing(encoded)
    assert not worth_compressing(web.StreamResponse())
