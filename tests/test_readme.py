"""README's settings table says what the settings model reads: every variable, no other."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_core import PydanticUndefined

from bot.app.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`(INTAKE_[A-Z0-9_]+)`")
# How a row of several variables separates their defaults: "300, 1000" or "`a` / `b`".
SEPARATOR = re.compile(r",\s+|\s+/\s+")


def settings_table() -> dict[str, str]:
    """Each documented variable and the default cell that goes with it."""
    section = README.read_text(encoding="utf-8").split("## Settings (environment)\n", 1)[1]
    head, rule, *rows = section.lstrip().splitlines()
    assert (head.split("|")[1:3], rule) == ([" name ", " default "], "|---|---|---|")
    documented: dict[str, str] = {}
    for row in rows:
        if not row.startswith("|"):
            break
        name_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = NAME.findall(name_cell)
        assert names, f"a settings row names no variable: {row}"
        defaults = SEPARATOR.split(default_cell)
        for index, name in enumerate(names):
            assert name not in documented, f"{name} is documented twice"
            documented[name] = defaults[index] if len(defaults) == len(names) else default_cell
    return documented


def variable(field: str) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def shown(value: object) -> str | None:
    """A default as the README writes it, or None for one it describes in words."""
    match value:
        case None | "":
            return None
        case bool():
            return str(value).lower()
        case float():
            return f"{value:g}"
        case _:
            return str(value)


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(settings_table())
    variables = {variable(field) for field in Settings.model_fields}
    assert sorted(variables - documented) == [], "settings missing from README's table"
    assert sorted(documented - variables) == [], "README documents variables nobody reads"


def test_documented_defaults_are_the_models() -> None:
    documented = settings_table()
    for field, info in Settings.model_fields.items():
        assert info.default is not PydanticUndefined, f"{field} has no default"
        expected = shown(info.default)
        if expected is None:  # unset: the table says what happens then, in words
            continue
        cell = documented[variable(field)].replace("`", "")
        alone = rf"(?<![\w.]){re.escape(expected)}(?![\w.])"  # 3000 is not 30000
        assert re.search(alone, cell), f"{variable(field)}: README {cell!r}, model {expected!r}"


def test_the_table_is_read_as_a_table() -> None:
    """The parser above pairs several variables in a row with their defaults in order."""
    documented = settings_table()
    assert documented["INTAKE_HTTP_PORT"] == "`8080`"
    assert documented["INTAKE_CLAIM_IDLE_MS"] == "7000"
    assert documented["INTAKE_DETOXIFY_CHECKPOINT"] == "-"
