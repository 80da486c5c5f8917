"""Builds a tiny randomly initialised BERT saved as a Detoxify checkpoint, for offline tests.

Detoxify's weights cannot be downloaded here, so the tests run Detoxify's real loading and
scoring code on this model instead: a checkpoint in Detoxify's format plus the Hugging Face
config and tokenizer folder it names. Deterministic: the same bytes of weights on every build.
torch and transformers are imported inside `build` so that importing this module is free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Jigsaw's original class names: Detoxify renames them (toxic -> toxicity, ...) on load.
CLASSES: tuple[str, ...] = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_POSITIONS = 64
SENTENCES: tuple[str, ...] = (
    "you are an idiot and I will find you",
    "this inverter is garbage",
    "thank you for the quick repair",
    "sei un idiota, ti denuncio e ti rovino",
    "sono molto arrabbiato, è la terza volta che l'inverter si guasta",
    "это ужасное обслуживание",
    "ты идиот",
    "dit is belachelijk slecht",
    "je bent een idioot",
    "你们的服务太差了",
    "du bist ein Idiot",
    "vous êtes des idiots",
    "eres un idiota",
)


@dataclass(frozen=True)
class TinyModel:
    checkpoint: Path  # Detoxify checkpoint: {"config": ..., "state_dict": ...}
    config_dir: Path  # Hugging Face config.json + tokenizer files
    classes: tuple[str, ...]


def vocabulary(sentences: tuple[str, ...] = SENTENCES) -> list[str]:
    """Special tokens, then the lower-cased words and CJK characters of the sentences."""
    words: set[str] = set()
    for sentence in sentences:
        for word in re.findall(r"\w+", sentence.lower()):
            # BERT's basic tokenizer splits CJK ideographs into single characters.
            if any("\u4e00" <= ch <= "\u9fff" for ch in word):
                words.update(word)
            else:
                words.add(word)
    return [*SPECIAL, *sorted(words)]


def build(
    directory: Path,
    *,
    model_type: str | None = None,
    seed: int = 0,
    classes: tuple[str, ...] = CLASSES,
) -> TinyModel:
    """Writes `directory/config/` and `directory/tiny.ckpt`.

    `model_type`: what the checkpoint's config.arch.args.model_type says; by default the
    config folder's path (what Detoxify needs offline). Give a hub name such as
    "bert-base-uncased" to reproduce a published checkpoint installed by hand.
    """
    import torch  # noqa: PLC0415  (seconds to import; only when a test builds the model)
    import transformers  # noqa: PLC0415

    config_dir = directory / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    # transformers 5: a tokenizer built in code takes the vocabulary itself, `vocab=`.
    tokenizer = transformers.BertTokenizer(
        vocab={w: i for i, w in enumerate(vocab)}, model_max_length=MAX_POSITIONS
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
        # Wide weights so that different texts get visibly different scores.
        initializer_range=0.5,
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    config.save_pretrained(config_dir)
    tokenizer.save_pretrained(config_dir)
    checkpoint = directory / "tiny.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": model_type or str(config_dir),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(classes),
                    }
                },
                "dataset": {"args": {"classes": list(classes)}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return TinyModel(checkpoint, config_dir, classes)
