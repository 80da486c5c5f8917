"""Which toxicity backend scores the stream, and why: said loudly, never silently.

`auto` takes Detoxify when the package and its weights are here (fetched by
`intake-bot models fetch` into the data dir, or, on a site without internet, installed
by hand: checkpoint file plus config/tokenizer folder), and falls back to the
multilingual lexicon, which needs nothing but this package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.contract.errors import IntakeError
from bot.contract.ports import Classifier, NoClassifier

log = logging.getLogger(__name__)
BACKENDS = ("auto", "detoxify", "lexicon", "none")


@dataclass(frozen=True)
class ToxicityConfig:
    backend: str = "auto"
    model_type: str = "multilingual"
    checkpoint: Path | None = None
    config_path: Path | None = None
    torch_threads: int = 1
    max_chars: int = 4000
    models_dir: Path | None = None  # where `intake-bot models fetch` stores weights


def detoxify_weights(config: ToxicityConfig) -> tuple[Path | None, Path | None, str]:
    """(checkpoint, config folder, where from) for Detoxify: what the settings name wins;
    without them, what `intake-bot models fetch` completed; else (None, None): the hub cache.

    Imports no torch, so a site (or a test) without the ml extra can see what would be used.
    """
    from moderation.detoxify_backend import fetched_weights  # noqa: PLC0415 - lazy by backend

    if config.checkpoint is None and config.config_path is None and config.models_dir:
        found = fetched_weights(config.models_dir, config.model_type)
        if found is not None:
            return found[0], found[1], f"fetched into {config.models_dir / config.model_type}"
    return config.checkpoint, config.config_path, "settings"


def _lexicon(reason: str) -> Classifier:
    from moderation.lexicon import LexiconClassifier  # noqa: PLC0415 - lazy by backend

    return LexiconClassifier(reason=reason)


def choose(config: ToxicityConfig) -> Classifier:
    """The configured backend, or the lexicon with the reason Detoxify could not be used."""
    if config.backend not in BACKENDS:
        raise IntakeError(
            f"unknown toxicity backend {config.backend!r}; known: {', '.join(BACKENDS)}"
        )
    if config.backend == "none":
        return NoClassifier()
    if config.backend == "lexicon":
        return _lexicon("lexicon chosen by INTAKE_TOXICITY_BACKEND")
    from moderation.detoxify_backend import DetoxifyClassifier  # noqa: PLC0415

    checkpoint, config_path, source = detoxify_weights(config)
    ok, why = DetoxifyClassifier.available(config.model_type, checkpoint, config_path)
    if not ok:
        if config.backend == "detoxify":
            raise IntakeError(f"INTAKE_TOXICITY_BACKEND=detoxify but {why}")
        return _lexicon(f"lexicon, because Detoxify is unavailable: {why}")
    if source != "settings":
        why = f"{why}; {source}"
    return DetoxifyClassifier(
        config.model_type,
        checkpoint=checkpoint,
        config_path=config_path,
        torch_threads=config.torch_threads,
        max_chars=config.max_chars,
        reason=why,
    )


async def open_classifier(config: ToxicityConfig) -> Classifier:
    """Choose and load the backend; a Detoxify that fails to load falls back under `auto`."""
    classifier = choose(config)
    load = getattr(classifier, "load", None)
    if load is not None:
        try:
            await load()
        except IntakeError as exc:
            if config.backend == "detoxify":
                raise
            classifier = _lexicon(f"lexicon, because Detoxify failed to load: {exc}")
    log.warning("toxicity backend: %s (%s)", classifier.name, classifier.reason)
    return classifier
