"""`intake-bot models fetch` against a local server that answers like GitHub and the hub.

The server on loopback serves files under the paths the real hosts use: GitHub's release
path `/<tag>/<file>` (answered, as GitHub does, with a redirect to where the bytes are) and
the hub's `/<repo>/resolve/main/<file>`. No internet and no torch are needed, except by the
last test, which loads what was fetched through Detoxify (skipped without the ml extra
unless INTAKE_REQUIRE_ML=1).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.app.cli import ProgressLine
from moderation.detoxify_backend import FETCH_MANIFEST, fetched_weights
from moderation.model_fetch import FetchError, fetch, published_sha256, shown
from moderation.toxicity import ToxicityConfig, choose, detoxify_weights, open_classifier
from tests.moderation.tiny_detoxify import TinyModel, build, vocabulary
from tests.servers import free_port

CHECKPOINT = "multilingual_debiased-0b549669.ckpt"
CHECKPOINT_PATH = f"/releases/download/v0.4-alpha/{CHECKPOINT}"
HUB_DIR = "/hub/FacebookAI/xlm-roberta-base/resolve/main"
WEIGHTS = os.urandom(3 * 2**20 + 17)  # several chunks, not a multiple of one
HUB_FILES = {
    "config.json": b'{"model_type": "xlm-roberta"}',
    "sentencepiece.bpe.model": os.urandom(1000),
    "tokenizer.json": b'{"version": "1.0"}',
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ModelHost:
    """Files by URL path; what was asked for, counted."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    asked: Counter[str] = field(default_factory=Counter)
    cut: set[str] = field(default_factory=set)

    @property
    def checkpoint_url(self) -> str:
        return f"{self.url}/releases/download/"

    @property
    def hub_url(self) -> str:
        return f"{self.url}/hub"

    def serve_multilingual(self, weights: bytes = WEIGHTS) -> None:
        self.files[f"/objects{CHECKPOINT_PATH}"] = weights
        for name, data in HUB_FILES.items():
            self.files[f"{HUB_DIR}/{name}"] = data

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.asked[request.path] += 1
        if request.path.startswith("/releases/"):  # GitHub answers with a redirect
            raise web.HTTPFound(f"/objects{request.path}")
        if request.path not in self.files:
            raise web.HTTPNotFound()
        data = self.files[request.path]
        if request.path in self.cut:  # the connection drops halfway through the body
            response = web.StreamResponse()
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=data)


@pytest.fixture
async def host() -> AsyncIterator[ModelHost]:
    served = ModelHost()
    app = web.Application()
    app.router.add_get("/{tail:.*}", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.url = f"http://127.0.0.1:{port}"
    yield served
    await runner.cleanup()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _leftovers(models: Path) -> list[Path]:
    return [p for p in _files(models) if p.name.endswith(".part")]


async def test_fetch_stores_verified_files_where_auto_finds_them(
    host: ModelHost, tmp_path: Path
) -> None:
    host.serve_multilingual()
    models = tmp_path / "models"
    folder = await fetch(
        "multilingual",
        models,
        checkpoint_url=host.checkpoint_url,
        hub_url=host.hub_url,
        checkpoint_sha256=_sha(WEIGHTS),
    )
    assert folder == models / "multilingual"
    assert (folder / CHECKPOINT).read_bytes() == WEIGHTS
    for name, data in HUB_FILES.items():
        assert (folder / "xlm-roberta-base" / name).read_bytes() == data
    manifest = json.loads((folder / FETCH_MANIFEST).read_text())
    assert manifest["files"][CHECKPOINT] == _sha(WEIGHTS)
    assert host.asked[CHECKPOINT_PATH] == 1  # the redirect was followed
    assert _leftovers(models) == []

    found = (folder / CHECKPOINT, folder / "xlm-roberta-base")
    assert fetched_weights(models, "multilingual") == found
    checkpoint, config, source = detoxify_weights(ToxicityConfig(models_dir=models))
    assert (checkpoint, config) == found
    assert "fetched" in source
    # What the settings name still wins over what was fetched.
    mine = tmp_path / "mine.ckpt"
    assert detoxify_weights(ToxicityConfig(checkpoint=mine, models_dir=models))[0] == mine
    # Another model type was not fetched.
    assert fetched_weights(models, "original") is None


async def test_a_second_fetch_keeps_the_verified_checkpoint(
    host: ModelHost, tmp_path: Path
) -> None:
    host.serve_multilingual()
    for _ in range(2):
        await fetch(
            "multilingual",
            tmp_path,
            checkpoint_url=host.checkpoint_url,
            hub_url=host.hub_url,
            checkpoint_sha256=_sha(WEIGHTS),
        )
    assert host.asked[CHECKPOINT_PATH] == 1
    assert host.asked[f"{HUB_DIR}/config.json"] == 2  # not pinned: fetched again


async def test_a_prefix_is_checked_as_torch_hub_checks_it(host: ModelHost, tmp_path: Path) -> None:
    host.serve_multilingual()
    await fetch(
        "multilingual",
        tmp_path,
        checkpoint_url=host.checkpoint_url,
        hub_url=host.hub_url,
        checkpoint_sha256=_sha(WEIGHTS)[:8],
    )
    assert fetched_weights(tmp_path, "multilingual") is not None


async def test_bytes_other_than_the_published_ones_are_refused(
    host: ModelHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert published_sha256("multilingual") == "0b549669"
    assert not _sha(WEIGHTS).startswith("0b549669")
    host.serve_multilingual()
    with pytest.raises(FetchError, match=r"not the expected 0b549669.*refused"):
        await fetch(
            "multilingual", tmp_path, checkpoint_url=host.checkpoint_url, hub_url=host.hub_url
        )
    folder = tmp_path / "multilingual"
    assert not (folder / CHECKPOINT).exists()
    assert not (folder / FETCH_MANIFEST).exists()
    assert _leftovers(tmp_path) == []
    # The bot keeps running on the lexicon.
    assert fetched_weights(tmp_path, "multilingual") is None
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert choose(ToxicityConfig(models_dir=tmp_path)).name == "lexicon"


async def test_a_missing_file_is_named_and_nothing_is_kept(host: ModelHost, tmp_path: Path) -> None:
    host.serve_multilingual()
    del host.files[f"{HUB_DIR}/tokenizer.json"]
    with pytest.raises(FetchError, match=r"/resolve/main/tokenizer\.json answered HTTP 404"):
        await fetch(
            "multilingual",
            tmp_path,
            checkpoint_url=host.checkpoint_url,
            hub_url=host.hub_url,
            checkpoint_sha256=_sha(WEIGHTS),
        )
    assert host.asked[CHECKPOINT_PATH] == 0  # the small files fail first
    assert not (tmp_path / "multilingual" / FETCH_MANIFEST).exists()
    assert _leftovers(tmp_path) == []
    assert fetched_weights(tmp_path, "multilingual") is None


async def test_a_download_cut_short_keeps_nothing(host: ModelHost, tmp_path: Path) -> None:
    host.serve_multilingual()
    host.cut.add(f"/objects{CHECKPOINT_PATH}")
    with pytest.raises(FetchError, match=r"cannot fetch .*multilingual_debiased"):
        await fetch(
            "multilingual",
            tmp_path,
            checkpoint_url=host.checkpoint_url,
            hub_url=host.hub_url,
            checkpoint_sha256=_sha(WEIGHTS),
        )
    assert not (tmp_path / "multilingual" / CHECKPOINT).exists()
    assert _leftovers(tmp_path) == []
    assert fetched_weights(tmp_path, "multilingual") is None


async def test_a_refused_connection_is_an_error_without_credentials(tmp_path: Path) -> None:
    closed = f"http://mirror-user:s3cret@127.0.0.1:{free_port()}/hub"
    with pytest.raises(FetchError, match=r"cannot fetch http://127\.0\.0\.1") as caught:
        await fetch("original", tmp_path, hub_url=closed)
    assert "s3cret" not in str(caught.value)
    assert "mirror-user" not in str(caught.value)
    assert _files(tmp_path) == []
    assert shown("https://u:p@host/x?sig=abc#f") == "https://host/x"


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The installed console script, as an admin runs it, without blocking the server."""
    script = Path(sys.executable).parent / "intake-bot"
    process = await asyncio.create_subprocess_exec(
        str(script),
        "models",
        "fetch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_console_script_fetches_and_fails_clearly(
    host: ModelHost, tmp_path: Path
) -> None:
    host.serve_multilingual()
    models = tmp_path / "models"
    env = {
        "INTAKE_DATA_DIR": str(tmp_path),
        "INTAKE_MODELS_CHECKPOINT_URL": host.checkpoint_url,
        "INTAKE_MODELS_HUB_URL": host.hub_url,
    }
    # The published hash: the served bytes are not Detoxify's, so they are refused.
    code, _, stderr = await _cli(env)
    assert code == 2
    assert "refused" in stderr
    assert fetched_weights(models, "multilingual") is None

    env_404 = {**env, "INTAKE_MODELS_HUB_URL": f"{host.url}/nowhere"}
    code, _, stderr = await _cli(env_404, "multilingual", "--sha256", _sha(WEIGHTS))
    assert code == 2
    assert "HTTP 404" in stderr

    code, stdout, stderr = await _cli(env, "multilingual", "--sha256", _sha(WEIGHTS))
    assert code == 0, stderr
    assert str(models / "multilingual") in stdout
    assert f"{CHECKPOINT}: 3.0 MiB of 3.0 MiB (100%)" in stderr  # the progress, per file
    assert "xlm-roberta-base/tokenizer.json" in stderr
    assert fetched_weights(models, "multilingual") is not None
    assert _leftovers(models) == []

    code, _, stderr = await _cli(env, "polyglot")
    assert code == 2
    assert "invalid choice" in stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_in_place_on_a_terminal_and_logs_only_results() -> None:
    calls = [(0, 100, False), (1, 100, False), (1, 100, False), (50, 100, False), (100, 100, True)]
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = ProgressLine(stream)
        for done, total, finished in calls:
            progress("x.ckpt", done * 2**20, total * 2**20, finished)
    assert terminal.getvalue().count("\r") == 4  # 0%, 1%, 50%, done: not the repeated 1%
    assert terminal.getvalue().endswith("\rx.ckpt: 100.0 MiB of 100.0 MiB (100%)\n")
    assert log.getvalue() == "x.ckpt: 100.0 MiB of 100.0 MiB (100%)\n"


# -- with the ml extra: what was fetched loads and scores ---------------------------------------


@pytest.fixture
def bert_like(offline: None, tmp_path: Path) -> TinyModel:
    """A tiny checkpoint that names a hub model, and its config as the hub publishes a base
    model's: no labels (transformers would make a 2-output head of it)."""
    model = build(tmp_path / "tiny", model_type="bert-base-uncased")
    config = json.loads((model.config_dir / "config.json").read_text())
    del config["id2label"], config["label2id"]
    (model.config_dir / "config.json").write_text(json.dumps(config))
    (model.config_dir / "vocab.txt").write_text("\n".join(vocabulary()) + "\n")
    return model


async def test_fetched_weights_load_with_no_further_setting(
    host: ModelHost, bert_like: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights = bert_like.checkpoint.read_bytes()
    host.files["/objects/releases/download/v0.1-alpha/toxic_original-c1212f89.ckpt"] = weights
    hub = "/hub/google-bert/bert-base-uncased/resolve/main"
    for item in bert_like.config_dir.iterdir():
        host.files[f"{hub}/{item.name}"] = item.read_bytes()
    models = tmp_path / "models"
    await fetch(
        "original",
        models,
        checkpoint_url=host.checkpoint_url,
        hub_url=host.hub_url,
        checkpoint_sha256=_sha(weights),
    )
    classifier = await open_classifier(ToxicityConfig(model_type="original", models_dir=models))
    reference = await open_classifier(
        ToxicityConfig(checkpoint=bert_like.checkpoint, config_path=_labelled(tmp_path))
    )
    try:
        assert classifier.name == "detoxify", classifier.reason
        assert "fetched" in classifier.reason
        # Same weights as the tiny model with its own labelled config: the same scores.
        texts = ["you are an idiot and I will find you", "thank you for the quick repair"]
        assert await classifier.score(texts) == await reference.score(texts)
    finally:
        for clf in (classifier, reference):
            getattr(clf, "close", lambda: None)()
    fetched_config = json.loads((models / "original/bert-base-uncased/config.json").read_text())
    assert "id2label" not in fetched_config  # the sized copy is in the cache, not here


def _labelled(tmp_path: Path) -> Path:
    """The reference: the same tiny model built with its labelled config."""
    return build(tmp_path / "reference").config_dir
