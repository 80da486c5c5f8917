"""Shared moderation fixtures: the tiny offline Detoxify model, built once per module."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from moderation.lexicon import LexiconClassifier
from tests.moderation.tiny_detoxify import TinyModel, build

REQUIRE_ML = os.environ.get("INTAKE_REQUIRE_ML") == "1"


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """HF offline for the whole module, torch's hub cache empty; skips without the ml extra."""
    missing = [
        m for m in ("torch", "transformers", "detoxify") if importlib.util.find_spec(m) is None
    ]
    if missing:
        message = f"ml extra not installed (missing {', '.join(missing)})"
        if REQUIRE_ML:
            pytest.fail(f"{message} and INTAKE_REQUIRE_ML=1")
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
        import huggingface_hub.constants  # noqa: PLC0415

        # huggingface_hub reads the variable once, at import: another test may have imported
        # it before this module set the variable.
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield


@pytest.fixture(scope="module")
def tiny(offline: None, tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def classifier() -> LexiconClassifier:
    """The packaged lexicon (compiled once per process), for the rule example files."""
    return LexiconClassifier()
