"""The Detoxify backend on a tiny model built here, through Detoxify's real loading code.

No weights can be downloaded: a tiny random BERT in Detoxify's checkpoint format is loaded with
`Detoxify(checkpoint=..., huggingface_config_path=...)` under HF_HUB_OFFLINE=1. Without the ml
extra the module skips, unless INTAKE_REQUIRE_ML=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.contract.ports import LABELS, Scores
from moderation.detoxify_backend import (
    DetoxifyClassifier,
    DetoxifyLoadError,
    DetoxifyUnavailable,
    torch_hub_checkpoints,
)
from tests.moderation.tiny_detoxify import TinyModel, build

REQUIRE_ML = os.environ.get("INTAKE_REQUIRE_ML") == "1"
ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "you are an idiot and I will find you",
    "thank you for the quick repair",
    "sei un idiota, ti denuncio e ti rovino",
    "sono molto arrabbiato, è la terza volta che l'inverter si guasta",
    "это ужасное обслуживание",
    "ты идиот",
    "dit is belachelijk slecht",
    "你们的服务太差了",
    "du bist ein Idiot",
    "words the tiny vocabulary has never seen",
]


@pytest.fixture(scope="module")
def hub_named(offline: None, tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """The same weights, but the checkpoint names a hub model, as the published ones do."""
    return build(tmp_path_factory.mktemp("hub-named"), model_type="bert-base-uncased")


@pytest.fixture
def classifier(tiny: TinyModel, tmp_path: Path) -> Iterator[DetoxifyClassifier]:
    clf = DetoxifyClassifier(
        checkpoint=tiny.checkpoint,
        config_path=tiny.config_dir,
        torch_threads=2,
        max_chars=2000,
        cache_dir=tmp_path / "cache",
    )
    yield clf
    clf.close()


def _check(scores: list[Scores], count: int) -> None:
    assert len(scores) == count
    for s in scores:
        assert set(s.values) == set(LABELS)
        assert all(0.0 <= v <= 1.0 for v in s.values.values())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_scores_a_multilingual_batch_in_one_call(
    classifier: DetoxifyClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    await classifier.load()
    calls: list[int] = []
    predict = classifier.model.predict

    def counting(texts: list[str]) -> Any:
        calls.append(len(texts))
        return predict(texts)

    monkeypatch.setattr(classifier.model, "predict", counting)
    first = await classifier.score(TEXTS)
    assert calls == [len(TEXTS)]
    _check(first, len(TEXTS))
    assert not any(s.truncated for s in first)
    assert await classifier.score(TEXTS) == first  # deterministic
    assert len({s.values["toxicity"] for s in first}) > 1  # a real model, not a constant
    # The i-th Scores is the i-th text's: a batch of one (Detoxify squeezes it to floats)
    # scores each text as the batch did.
    for text, batched in zip(TEXTS[:3], first[:3], strict=True):
        [alone] = await classifier.score([text])
        assert alone.values == pytest.approx(batched.values, abs=1e-5)
    assert await classifier.score([]) == []


async def test_bad_input_is_scored_without_crashing(classifier: DetoxifyClassifier) -> None:
    texts = [
        "",
        "😀🙂🔥👍",
        "a\ud800b",  # lone surrogate: the Rust tokenizer rejects it as is
        "\ud83d\ude00 split surrogate pair",
        "idiot идиот 白痴 ηλίθιος",
        "\x00\x07\u200b\u202e control",
        "x" * 1_000_000,  # 1 MB
        "idiot " * 300,  # under max_chars, over the model's 64 tokens: the tokenizer cuts it
    ]
    scores = await classifier.score(texts)
    _check(scores, len(texts))
    assert [s.truncated for s in scores] == [False] * 6 + [True, True]


async def test_published_checkpoint_is_rewritten_not_modified(
    hub_named: TinyModel, tiny: TinyModel, tmp_path: Path
) -> None:
    detoxify = importlib.import_module("detoxify")  # untyped: no stubs, no py.typed

    # The trap: given as is, Detoxify asks the hub for "bert-base-uncased" despite the folder.
    with pytest.raises(OSError, match=r"huggingface|offline|cached"):
        detoxify.Detoxify(
            checkpoint=str(hub_named.checkpoint), huggingface_config_path=str(hub_named.config_dir)
        )
    before = (_digest(hub_named.checkpoint), hub_named.checkpoint.stat().st_mtime_ns)
    cache = tmp_path / "cache"
    clf = DetoxifyClassifier(
        checkpoint=hub_named.checkpoint, config_path=hub_named.config_dir, cache_dir=cache
    )
    reference = DetoxifyClassifier(
        checkpoint=tiny.checkpoint, config_path=tiny.config_dir, cache_dir=cache
    )
    try:
        scores = await clf.score(TEXTS)
        _check(scores, len(TEXTS))
        # Same seed, same weights: the rewritten model is the one the checkpoint holds.
        assert scores == await reference.score(TEXTS)
        assert reference.loaded_checkpoint == tiny.checkpoint  # already local: no copy
    finally:
        clf.close()
        reference.close()
    assert (_digest(hub_named.checkpoint), hub_named.checkpoint.stat().st_mtime_ns) == before
    rewritten = clf.loaded_checkpoint
    assert rewritten is not None
    assert rewritten.parent == cache
    import torch  # noqa: PLC0415

    args = torch.load(rewritten, weights_only=False)["config"]["arch"]["args"]
    assert args["model_type"] == str(hub_named.config_dir.resolve())
    # A second start reuses the copy instead of writing it again.
    written = rewritten.stat().st_mtime_ns
    again = DetoxifyClassifier(
        checkpoint=hub_named.checkpoint, config_path=hub_named.config_dir, cache_dir=cache
    )
    try:
        await again.load()
    finally:
        again.close()
    assert again.loaded_checkpoint == rewritten
    assert rewritten.stat().st_mtime_ns == written
    assert list(cache.glob("*.tmp")) == []


async def test_labels_map_onto_ours(offline: None, tmp_path: Path) -> None:
    """An unbiased-style head: extra toxicity labels kept, identity mentions dropped,
    labels the model lacks score 0.0."""
    model = build(
        tmp_path / "m", classes=("toxicity", "insult", "sexual_explicit", "muslim", "female")
    )
    clf = DetoxifyClassifier(
        checkpoint=model.checkpoint, config_path=model.config_dir, cache_dir=tmp_path / "cache"
    )
    try:
        scores = await clf.score(["two of your technicians were Muslim women", "ok"])
    finally:
        clf.close()
    for s in scores:
        assert set(s.values) == {*LABELS, "sexual_explicit"}
        assert s.values["threat"] == s.values["obscene"] == 0.0
        assert s.values["toxicity"] > 0.0


def test_available_reports_what_is_missing(
    tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, reason = DetoxifyClassifier.available(
        checkpoint=tiny.checkpoint, config_path=tiny.config_dir
    )
    assert ok, reason
    assert str(tiny.checkpoint) in reason

    missing = tmp_path / "weights" / "multilingual.ckpt"
    ok, reason = DetoxifyClassifier.available(checkpoint=missing, config_path=tiny.config_dir)
    assert not ok
    assert str(missing) in reason
    assert "not found" in reason
    assert "INTAKE_DETOXIFY_CHECKPOINT" in reason

    ok, reason = DetoxifyClassifier.available(checkpoint=tiny.checkpoint, config_path=tmp_path)
    assert not ok
    assert "config.json" in reason

    # Default weights: none in the (empty) torch hub cache of this module.
    ok, reason = DetoxifyClassifier.available("multilingual")
    assert not ok
    assert "'multilingual'" in reason
    assert str(torch_hub_checkpoints()) in reason
    assert "INTAKE_DETOXIFY_CHECKPOINT" in reason

    ok, reason = DetoxifyClassifier.available("polyglot")
    assert not ok
    assert "unknown" in reason

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "detoxify" else real_find_spec(name, *a),
    )
    ok, reason = DetoxifyClassifier.available(
        checkpoint=tiny.checkpoint, config_path=tiny.config_dir
    )
    assert not ok
    assert reason.startswith("detoxify not installed")


async def test_default_weights_found_in_the_torch_hub_cache(
    tiny: TinyModel, tmp_path: Path
) -> None:
    """Weights fetched earlier into the hub cache load offline with a hand-installed config."""
    cached = torch_hub_checkpoints() / "multilingual_debiased-0b549669.ckpt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny.checkpoint, cached)
    try:
        ok, reason = DetoxifyClassifier.available("multilingual", config_path=tiny.config_dir)
        assert ok, reason
        clf = DetoxifyClassifier(
            "multilingual", config_path=tiny.config_dir, cache_dir=tmp_path / "cache"
        )
        try:
            _check(await clf.score(["ciao"]), 1)
        finally:
            clf.close()
    finally:
        cached.unlink()


async def test_load_refuses_to_download(offline: None, tmp_path: Path) -> None:
    clf = DetoxifyClassifier(checkpoint=tmp_path / "absent.ckpt", cache_dir=tmp_path / "cache")
    try:
        with pytest.raises(DetoxifyUnavailable, match=r"absent\.ckpt not found"):
            await clf.score(["hello"])
    finally:
        clf.close()


async def test_bad_checkpoints_are_named(tiny: TinyModel, tmp_path: Path) -> None:
    import torch  # noqa: PLC0415

    not_detoxify = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, not_detoxify)
    wrong_config = tmp_path / "config"
    shutil.copytree(tiny.config_dir, wrong_config)
    data = json.loads((wrong_config / "config.json").read_text())
    data["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}  # a hub config: 2 labels, not 6
    data["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    (wrong_config / "config.json").write_text(json.dumps(data))
    cases = [
        (not_detoxify, tiny.config_dir, "not a Detoxify checkpoint"),
        (tiny.checkpoint, wrong_config, "6 outputs .* 2 labels"),
    ]
    for checkpoint, config, message in cases:
        clf = DetoxifyClassifier(
            checkpoint=checkpoint, config_path=config, cache_dir=tmp_path / "cache"
        )
        try:
            with pytest.raises(DetoxifyLoadError, match=message):
                await clf.load()
        finally:
            clf.close()


async def test_event_loop_stays_responsive_while_scoring(
    classifier: DetoxifyClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model holds its thread until a task on the loop has ticked: a blocked loop could
    never release it (the wait would time out and the test fail)."""
    await classifier.load()
    loop = asyncio.get_running_loop()
    in_model = asyncio.Event()
    release = threading.Event()
    seen: dict[str, Any] = {}
    predict = classifier.model.predict

    def held(texts: list[str]) -> Any:
        import torch  # noqa: PLC0415

        seen["thread"] = threading.current_thread()
        seen["threads"] = torch.get_num_threads()
        loop.call_soon_threadsafe(in_model.set)
        seen["released"] = release.wait(timeout=10)
        return predict(texts)

    monkeypatch.setattr(classifier.model, "predict", held)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        await in_model.wait()
        for _ in range(5):
            ticks += 1
            await asyncio.sleep(0)
        release.set()

    scores, _ = await asyncio.gather(classifier.score(TEXTS), ticker())
    _check(scores, len(TEXTS))
    assert seen["released"] is True
    assert ticks == 5
    assert seen["thread"] is not threading.current_thread()
    assert seen["thread"].name.startswith("detoxify")
    assert seen["threads"] == 2


def test_import_is_lazy() -> None:
    """Importing the backend must not import torch (seconds): that waits for load()."""
    code = (
        "import sys, moderation.detoxify_backend\n"
        "heavy = [m for m in ('torch', 'transformers', 'detoxify') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
