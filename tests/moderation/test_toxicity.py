"""Which backend scores the stream, and that it says why, in the CLI and /healthz."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.contract.errors import IntakeError
from moderation.toxicity import ToxicityConfig, choose, open_classifier
from tests.moderation.tiny_detoxify import TinyModel


def test_auto_without_weights_falls_back_to_the_lexicon_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    classifier = choose(ToxicityConfig())
    assert classifier.name == "lexicon"
    assert "no weights for 'multilingual'" in classifier.reason


def test_asking_for_detoxify_without_weights_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="not found"):
        choose(ToxicityConfig(backend="detoxify", checkpoint=tmp_path / "missing.ckpt"))


def test_unknown_backend_is_named() -> None:
    with pytest.raises(IntakeError, match="unknown toxicity backend 'perspective'"):
        choose(ToxicityConfig(backend="perspective"))


def test_none_scores_nothing() -> None:
    assert choose(ToxicityConfig(backend="none")).name == "none"


async def test_auto_takes_detoxify_when_its_weights_are_installed(tiny: TinyModel) -> None:
    classifier = await open_classifier(
        ToxicityConfig(checkpoint=tiny.checkpoint, config_path=tiny.config_dir)
    )
    assert classifier.name == "detoxify"
    [scores] = await classifier.score(["you idiots"])
    assert set(scores.values) >= {"toxicity", "insult", "threat"}


def _classify(
    stdin: str, *args: str, env: dict[str, str] | None = None, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "classify", *args],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=180,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "INTAKE_DATA_DIR": str(data_dir),
            "TORCH_HOME": str(data_dir / "torch"),
            **(env or {}),
        },
    )


def test_classify_works_on_a_fresh_install_with_no_weights(tmp_path: Path) -> None:
    texts = [
        "sono molto arrabbiato, è la terza volta che l'inverter si guasta",
        "siete degli idioti incompetenti",
        "",
        "😡😡😡",
    ]
    result = _classify("\n".join(texts) + "\n", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == texts
    assert [line["flagged"] for line in lines] == [False, True, False, False]
    assert lines[1]["labels"]
    assert {line["backend"] for line in lines} == {"lexicon"}
    assert "toxicity backend: lexicon" in result.stderr  # said loudly
    assert not (tmp_path / "intake.db").exists()  # no store needed


def test_classify_thresholds_can_be_overridden_and_are_checked(tmp_path: Path) -> None:
    lenient = _classify(
        "siete degli idioti incompetenti\n",
        "--threshold",
        "insult=1.0",
        "--threshold",
        "toxicity=1.0",
        data_dir=tmp_path,
    )
    assert json.loads(lenient.stdout)["flagged"] is False
    bad = _classify("x\n", "--threshold", "insult=lots", data_dir=tmp_path)
    assert bad.returncode == 2
    assert "not a number" in bad.stderr


def test_classify_scores_with_an_offline_detoxify_checkpoint(
    tiny: TinyModel, tmp_path: Path
) -> None:
    env = {
        "INTAKE_TOXICITY_BACKEND": "detoxify",
        "INTAKE_DETOXIFY_CHECKPOINT": str(tiny.checkpoint),
        "INTAKE_DETOXIFY_CONFIG_PATH": str(tiny.config_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HOME": str(tmp_path),
    }
    result = _classify("you idiots\nthank you\n", env=env, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["backend"] for line in lines] == ["detoxify", "detoxify"]
    assert all(0.0 <= v <= 1.0 for line in lines for v in line["scores"].values())
    assert os.path.exists(tiny.checkpoint)
