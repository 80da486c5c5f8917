"""Toxicity backend on Detoxify (the optional `ml` extra: `pip install '.[ml]'`).

Nothing heavy happens at import: `import detoxify` (torch + transformers) costs seconds, so it
is imported in the scoring thread on `load()` or on the first `score()`. Every torch call runs
in one dedicated worker thread; the event loop only awaits it. A batch is one
`Detoxify.predict(list_of_texts)` call.

Weights, in order:
- `checkpoint` (+ `config_path`): a Detoxify checkpoint file and the Hugging Face config and
  tokenizer folder of its base model, installed by hand on a site without internet access
  (Detoxify's own `checkpoint=` / `huggingface_config_path=`).
- otherwise (chosen in moderation/toxicity.py) the weights that `intake-bot models fetch`
  stored under `INTAKE_DATA_DIR/models/<model_type>/` (`fetched_weights`: the checkpoint plus
  its base model's config/tokenizer folder, complete only once the fetch wrote its manifest);
- otherwise the default weights of `model_type` in the torch hub cache
  (`$TORCH_HOME/hub/checkpoints`, by default `~/.cache/torch/hub/checkpoints`).
Nothing is downloaded unless `allow_download=True`.

Trap handled here: Detoxify builds the model config from the checkpoint's
`config["arch"]["args"]["model_type"]` (a hub name such as "xlm-roberta-base" in the published
checkpoints) and asks the hub for it even when `huggingface_config_path` is given. When a config
folder is given and the checkpoint names anything else, a copy of the checkpoint whose
model_type is that folder is written once into `cache_dir` and handed to Detoxify instead; the
user's file is never modified.

A second trap: a base model's config.json as the hub publishes it states no labels, so
transformers builds a 2-output head that the checkpoint's state dict does not fit. When the
config folder states no labels at all, a copy of it sized to the checkpoint's `num_classes` is
made in `cache_dir` (tokenizer files linked, not copied); a config that states a different
count is an error, as before: someone chose it.

Labels: Detoxify's keys are mapped onto `bot.contract.ports.LABELS` (its own renames, toxic ->
toxicity etc., happen inside Detoxify; `_RENAMES` repeats them for checkpoints that bypass
them). A label the model lacks scores 0.0. `sexual_explicit` (unbiased and multilingual models)
is kept: it is abuse, and the core's `general` threshold covers it. Every other key is dropped:
the unbiased/multilingual identity columns (male, female, muslim, black, ...) say that a group is
*mentioned*, not attacked, so keeping them would hold neutral mentions.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import importlib.util
import json
import math
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.contract.errors import IntakeError
from bot.contract.ports import LABELS, Scores

MODEL_TYPES: tuple[str, ...] = (
    "original",
    "unbiased",
    "multilingual",
    "original-small",
    "unbiased-small",
)
DEFAULT_MODEL_TYPE = "multilingual"

# Detoxify's published weights: the file name torch.hub caches each under, and the Hugging Face
# base model its checkpoint names as model_type (config + tokenizer come from there).
_WEIGHT_FILES: dict[str, str] = {
    "original": "toxic_original-c1212f89.ckpt",
    "unbiased": "toxic_debiased-c7548aa0.ckpt",
    "multilingual": "multilingual_debiased-0b549669.ckpt",
    "original-small": "original-albert-0e1d6498.ckpt",
    "unbiased-small": "unbiased-albert-c8519128.ckpt",
}
_BASE_MODELS: dict[str, str] = {
    "original": "bert-base-uncased",
    "unbiased": "roberta-base",
    "multilingual": "xlm-roberta-base",
    "original-small": "albert-base-v2",
    "unbiased-small": "albert-base-v2",
}

EXTRA_LABELS: tuple[str, ...] = ("sexual_explicit",)
_KEPT = frozenset(LABELS) | frozenset(EXTRA_LABELS)
_RENAMES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}

# What `intake-bot models fetch` writes last into `models/<model_type>/`: the folder is complete.
FETCH_MANIFEST = "fetched.json"

DEFAULT_MAX_CHARS = 4096
_ENV_CHECKPOINT = "INTAKE_DETOXIFY_CHECKPOINT"
_ENV_CONFIG = "INTAKE_DETOXIFY_CONFIG_PATH"


class DetoxifyError(IntakeError):
    """Root of the Detoxify backend's errors."""


class DetoxifyUnavailable(DetoxifyError):
    """Detoxify or its weights are not installed here; the text says what is missing."""


class DetoxifyLoadError(DetoxifyError):
    """The checkpoint or config folder exists but cannot be loaded; the text says why."""


class DetoxifyScoringError(DetoxifyError):
    """The model failed on a batch."""


def torch_hub_checkpoints() -> Path:
    """torch.hub's weight cache, computed as torch does it but without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch"
    )
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def weight_file(model_type: str) -> str:
    """The published checkpoint's file name (its torch.hub name: `<stem>-<sha256 prefix>.ckpt`)."""
    return _WEIGHT_FILES[model_type]


def base_model(model_type: str) -> str:
    """The Hugging Face model whose config and tokenizer the published checkpoint names."""
    return _BASE_MODELS[model_type]


def fetched_weights(models_dir: Path, model_type: str) -> tuple[Path, Path] | None:
    """(checkpoint, config folder) that `intake-bot models fetch` completed, or None.

    Complete means its manifest is there (written only after every file was verified) and
    the files it lists still are: a fetch that died halfway is not picked up.
    """
    if model_type not in _WEIGHT_FILES:
        return None
    folder = models_dir / model_type
    try:
        manifest = json.loads((folder / FETCH_MANIFEST).read_text(encoding="utf-8"))
        listed = [folder / name for name in manifest["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    checkpoint = folder / _WEIGHT_FILES[model_type]
    config = folder / _BASE_MODELS[model_type]
    if checkpoint in listed and all(p.is_file() for p in listed):
        return checkpoint, config
    return None


def default_cache_dir() -> Path:
    """Where rewritten checkpoints go: per user, never a shared temp dir (they are unpickled)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "intake-bot" / "detoxify"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _hf_cached(repo_id: str) -> bool:
    """The base model's config is in the Hugging Face cache (looked up, never downloaded)."""
    from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415  (part of the ml extra)

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _config_data(config_path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((config_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _config_labels(config_path: Path) -> int | None:
    """How many outputs the config folder's model has (transformers defaults to 2)."""
    data = _config_data(config_path)
    if data is None:
        return None
    if isinstance(data.get("id2label"), dict):
        return len(data["id2label"])
    if isinstance(data.get("num_labels"), int):
        return int(data["num_labels"])
    return 2


def _install_problem(model_type: str) -> str | None:
    if model_type not in MODEL_TYPES:
        return f"unknown Detoxify model type {model_type!r}; known: {', '.join(MODEL_TYPES)}"
    missing = [m for m in ("torch", "transformers", "detoxify") if not _installed(m)]
    if missing:
        return (
            f"detoxify not installed (missing {', '.join(missing)}; pip install 'intake-bot[ml]')"
        )
    return None


def _weights_problem(
    model_type: str, checkpoint: Path | None, config_path: Path | None
) -> str | None:
    if config_path is not None and not (config_path / "config.json").is_file():
        return f"no config.json in the Hugging Face config folder {config_path} ({_ENV_CONFIG})"
    if checkpoint is not None:
        if checkpoint.is_file():
            return None
        return f"Detoxify checkpoint {checkpoint} not found ({_ENV_CHECKPOINT})"
    weights = torch_hub_checkpoints() / _WEIGHT_FILES[model_type]
    if not weights.is_file():
        return f"no weights for {model_type!r} in {weights.parent} and no {_ENV_CHECKPOINT} set"
    base = _BASE_MODELS[model_type]
    if config_path is None and not _hf_cached(base):
        return (
            f"weights for {model_type!r} found in {weights.parent} but the Hugging Face "
            f"config/tokenizer of {base!r} is neither in the Hugging Face cache nor "
            f"given as {_ENV_CONFIG}"
        )
    return None


def clean_text(text: str) -> str:
    """Joins surrogate pairs and replaces lone surrogates (the Rust tokenizers reject them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class DetoxifyClassifier:
    """A `bot.contract.ports.Classifier` on a Detoxify model, scored in one dedicated thread."""

    name = "detoxify"

    def __init__(
        self,
        model_type: str = DEFAULT_MODEL_TYPE,
        *,
        checkpoint: Path | None = None,
        config_path: Path | None = None,
        torch_threads: int = 1,
        max_chars: int = DEFAULT_MAX_CHARS,
        cache_dir: Path | None = None,
        allow_download: bool = False,
        reason: str | None = None,
    ) -> None:
        if model_type not in MODEL_TYPES:
            raise DetoxifyUnavailable(
                f"unknown Detoxify model type {model_type!r}; known: {', '.join(MODEL_TYPES)}"
            )
        if torch_threads < 1:
            raise DetoxifyError(f"torch_threads must be at least 1, not {torch_threads}")
        if max_chars < 1:
            raise DetoxifyError(f"max_chars must be at least 1, not {max_chars}")
        self.model_type = model_type
        self.checkpoint = checkpoint
        self.config_path = config_path
        self.torch_threads = torch_threads
        self.max_chars = max_chars
        self.cache_dir = cache_dir or default_cache_dir()
        self.allow_download = allow_download
        weights = str(checkpoint) if checkpoint else "weights from the torch hub cache"
        self.reason = reason or f"detoxify {model_type} ({weights})"
        self.model: Any = None  # the Detoxify instance once loaded (untyped: no stubs)
        self.loaded_checkpoint: Path | None = None  # the file Detoxify was given
        self._token_limit = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detoxify")
        self._load_lock = threading.Lock()

    # -- availability -------------------------------------------------------------------------

    @classmethod
    def available(
        cls,
        model_type: str = DEFAULT_MODEL_TYPE,
        checkpoint: Path | None = None,
        config_path: Path | None = None,
    ) -> tuple[bool, str]:
        """Whether this configuration can load here, and why (or why not). Downloads nothing."""
        problem = _install_problem(model_type) or _weights_problem(
            model_type, checkpoint, config_path
        )
        if problem:
            return False, problem
        if checkpoint is None:
            weights = torch_hub_checkpoints() / _WEIGHT_FILES[model_type]
            return True, f"detoxify {model_type} ({weights})"
        if config_path is None:
            return True, (
                f"detoxify checkpoint {checkpoint}; config and tokenizer from the "
                f"model_type it names (no {_ENV_CONFIG} set)"
            )
        return True, f"detoxify checkpoint {checkpoint} with config {config_path}"

    # -- loading ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Imports Detoxify and loads the model in the scoring thread (idempotent)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load_sync)

    def _load_sync(self) -> None:
        with self._load_lock:
            if self.model is not None:
                return
            if not self.allow_download:
                ok, why = self.available(self.model_type, self.checkpoint, self.config_path)
                if not ok:
                    raise DetoxifyUnavailable(why)
            try:
                import torch  # noqa: PLC0415  (seconds to import: only here, in the worker)

                # untyped (no stubs, no py.typed): Any, so mypy needs no override for it
                detoxify = importlib.import_module("detoxify")
            except Exception as exc:  # ImportError, or OSError from torch's native libraries
                raise DetoxifyUnavailable(
                    f"detoxify not importable: {type(exc).__name__}: {exc}"
                ) from exc
            torch.set_num_threads(self.torch_threads)
            checkpoint, config_path = self._effective_weights()
            try:
                model = detoxify.Detoxify(
                    model_type=self.model_type,
                    checkpoint=str(checkpoint) if checkpoint else None,
                    huggingface_config_path=str(config_path) if config_path else None,
                )
                model.model.eval()
                self._token_limit = _token_limit(model)
                model.tokenizer.model_max_length = self._token_limit
            except Exception as exc:  # whatever transformers raises: the caller falls back on it
                raise DetoxifyLoadError(
                    f"Detoxify could not load {checkpoint or self.model_type}"
                    f"{f' with config {self.config_path}' if self.config_path else ''}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self.loaded_checkpoint = checkpoint
            self.model = model

    def _effective_weights(self) -> tuple[Path | None, Path | None]:
        """The file to hand Detoxify (the user's, the hub cache's, or a rewritten copy) and
        the config folder (the user's, or a copy sized to the checkpoint's outputs)."""
        source = self.checkpoint
        if source is None and self.config_path is not None:
            cached = torch_hub_checkpoints() / _WEIGHT_FILES[self.model_type]
            source = cached if cached.is_file() else None
        if source is None or self.config_path is None:
            return source, self.config_path
        return prepare_checkpoint(source, self.config_path, self.cache_dir)

    # -- scoring ------------------------------------------------------------------------------

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        batch = list(texts)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._score_sync, batch
        )

    def _window(self, text: str) -> tuple[str, bool]:
        if len(text) <= self.max_chars:
            return clean_text(text), False
        cut = text[: self.max_chars]
        space = cut.rfind(" ", self.max_chars * 3 // 4)  # end on a word boundary when near
        return clean_text(cut[:space] if space > 0 else cut), True

    def _score_sync(self, texts: list[str]) -> list[Scores]:
        self._load_sync()
        windows = [self._window(t) for t in texts]
        batch = [w for w, _ in windows]
        try:
            raw = self.model.predict(batch)
            # One more token than the model reads: a text that fills it was cut by the tokenizer.
            ids = self.model.tokenizer(
                batch, truncation=True, max_length=self._token_limit + 1, add_special_tokens=True
            )["input_ids"]
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise DetoxifyScoringError(
                f"Detoxify failed on a batch of {len(batch)}: {type(exc).__name__}: {exc}"
            ) from exc
        columns = _columns(raw, len(batch))
        return [
            Scores(
                values={label: column[i] for label, column in columns.items()},
                truncated=cut or len(ids[i]) > self._token_limit,
            )
            for i, (_, cut) in enumerate(windows)
        ]

    def close(self) -> None:
        """Stops the scoring thread (waits for a running batch)."""
        self._executor.shutdown(wait=True)


def _token_limit(model: Any) -> int:
    """Tokens the model reads; a tokenizer without a limit gets its position-embedding size."""
    limit = int(model.tokenizer.model_max_length)
    positions = getattr(model.model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and limit > positions:
        limit = min(512, positions - 2)  # RoBERTa-style models offset positions by 2
    return limit


def _columns(raw: dict[str, Any], size: int) -> dict[str, list[float]]:
    """Detoxify's {label: scores} (a bare float for a batch of one) -> ours, in [0, 1]."""
    columns: dict[str, list[float]] = {label: [0.0] * size for label in LABELS}
    for key, value in raw.items():
        label = _RENAMES.get(key, key)
        if label not in _KEPT:
            continue
        values = value if isinstance(value, list) else [value]
        if len(values) != size:
            raise DetoxifyScoringError(
                f"Detoxify gave {len(values)} {label} scores for {size} texts"
            )
        for v in values:
            if not isinstance(v, float | int) or math.isnan(v):
                raise DetoxifyScoringError(f"Detoxify gave {label}={v!r}")
        columns[label] = [min(1.0, max(0.0, float(v))) for v in values]
    return columns


def prepare_checkpoint(checkpoint: Path, config_path: Path, cache_dir: Path) -> tuple[Path, Path]:
    """The checkpoint and config folder Detoxify can load without asking the hub.

    A config folder that states no labels (a base model's config as the hub publishes it) is
    replaced by a copy sized to the checkpoint (`_sized_config`). If the checkpoint's arch
    model_type already is that folder, the checkpoint is returned as is; otherwise a copy whose
    model_type is the folder is written once into `cache_dir` (keyed on the checkpoint's path,
    size and mtime, and the config path) and returned. Checks the structure Detoxify reads and
    that a config folder stating labels has as many as the checkpoint has outputs.
    """
    import torch  # noqa: PLC0415  (the ml extra; imported in the scoring thread)

    config_path = config_path.resolve()
    try:
        # weights_only=False as Detoxify itself loads them (Lightning checkpoints hold more
        # than tensors): the checkpoint is trusted configuration. mmap: only the pickle is read.
        try:
            loaded = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
        except RuntimeError:  # a legacy (non-zip) file cannot be mapped: read it whole
            loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise DetoxifyLoadError(f"cannot read Detoxify checkpoint {checkpoint}: {exc}") from exc
    args = _arch_args(loaded, checkpoint)
    expected = _config_labels(config_path)
    if expected is not None and expected != args["num_classes"] and not _states_labels(config_path):
        config_path = _sized_config(config_path, int(args["num_classes"]), cache_dir)
    elif expected is not None and expected != args["num_classes"]:
        raise DetoxifyLoadError(
            f"the checkpoint {checkpoint} has {args['num_classes']} outputs but the config in "
            f"{config_path} has {expected} labels: set id2label (or num_labels) to "
            f"{args['num_classes']} entries in {config_path / 'config.json'}"
        )
    model_type = args.get("model_type")
    if isinstance(model_type, str) and Path(model_type).resolve() == config_path:
        return checkpoint, config_path
    stat = checkpoint.stat()
    where = hashlib.sha256(f"{checkpoint.resolve()}|{config_path}".encode()).hexdigest()[:16]
    version = hashlib.sha256(f"{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_dir / f"{where}-{version}.ckpt"
    if target.is_file():
        return target, config_path
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    rewritten = dict(loaded)
    rewritten["config"] = copy.deepcopy(loaded["config"])
    rewritten["config"]["arch"]["args"]["model_type"] = str(config_path)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        torch.save(rewritten, partial)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DetoxifyLoadError(
            f"cannot write the rewritten checkpoint into {cache_dir}: {exc}"
        ) from exc
    for stale in cache_dir.glob(f"{where}-*.ckpt"):  # copies of older versions of that file
        if stale != target:
            stale.unlink(missing_ok=True)
    return target, config_path


def _states_labels(config_path: Path) -> bool:
    data = _config_data(config_path) or {}
    return "id2label" in data or "num_labels" in data


def _sized_config(config_path: Path, num_classes: int, cache_dir: Path) -> Path:
    """A copy of `config_path` whose config.json has `num_classes` labels, made once.

    Keyed on the folder and its config.json's bytes, so a re-fetched config gets a new copy.
    The other files are symlinks: a tokenizer can be megabytes. Built under a temporary name
    and renamed, so a crash leaves no half-made folder that a later start would trust.
    """
    raw = (config_path / "config.json").read_bytes()
    key = hashlib.sha256(str(config_path).encode() + b"|" + raw).hexdigest()[:16]
    target = (cache_dir / f"config-{key}-{num_classes}").resolve()
    if (target / "config.json").is_file():
        return target
    data = json.loads(raw)
    data["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_classes)}
    data["label2id"] = {f"LABEL_{i}": i for i in range(num_classes)}
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = Path(tempfile.mkdtemp(prefix=".config-", dir=cache_dir))
    try:
        for item in config_path.iterdir():
            if item.name != "config.json":
                (partial / item.name).symlink_to(item.resolve())
        (partial / "config.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if (target / "config.json").is_file():  # another process made it first
            return target
        raise DetoxifyLoadError(f"cannot write a sized config into {cache_dir}: {exc}") from exc
    return target


def _arch_args(loaded: Any, checkpoint: Path) -> dict[str, Any]:
    """The `config.arch.args` Detoxify reads, checked so a bad file gets a clear message."""
    try:
        args = loaded["config"]["arch"]["args"]
        loaded["config"]["dataset"]["args"]["classes"]  # Detoxify reads it
        loaded["state_dict"]
    except (KeyError, TypeError) as exc:
        raise DetoxifyLoadError(
            f"{checkpoint} is not a Detoxify checkpoint: it lacks {exc} (expected "
            "{'config': {'arch': {'args': ...}, 'dataset': {'args': {'classes': [...]}}}, "
            "'state_dict': ...})"
        ) from exc
    needed = ("model_type", "model_name", "tokenizer_name", "num_classes")
    absent = [k for k in needed if k not in args]
    if absent:
        raise DetoxifyLoadError(f"{checkpoint}: config.arch.args lacks {', '.join(absent)}")
    return dict(args)
