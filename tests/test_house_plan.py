"""The house plan holds: import-linter's contracts (pyproject.toml) pass on the tree, and a
wrong arrow added to a copy of it breaks them, so `make lint` would fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    for name in ("bot", "channels", "moderation"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "arrow", "contract"),
    [
        ("channels/capture.py", "import bot.store.db", "import only the contract"),
        ("moderation/throttle.py", "import bot.stages.pipeline", "import only the contract"),
        ("bot/contract/domain.py", "import bot.text.i18n", "imports nothing of ours"),
        ("bot/store/models.py", "import bot.app.config", "import only downward"),
        ("bot/tickets/identity.py", "import bot.stages.outbox", "import only downward"),
        ("channels/webchat.py", "import moderation.throttle", "stay apart"),
    ],
)
def test_a_wrong_arrow_breaks_a_contract(
    tmp_path: Path, module: str, arrow: str, contract: str
) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{arrow}  # noqa: E402\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
