"""The image and the compose file say what README's distributed deployment says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_web_workers_redis_with_aof_and_postgres() -> None:
    services = compose()["services"]
    assert set(services) == {"web", "worker", "redis", "postgres"}
    assert services["web"]["command"][0] == "serve"
    assert services["worker"]["command"] == ["worker"]
    assert services["web"]["image"] == services["worker"]["image"]  # one image, two roles
    assert "--appendonly" in services["redis"]["command"]
    assert (
        services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
        == "yes"
    )
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["INTAKE_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["INTAKE_REDIS_URL"] == "redis://redis:6379/0"
        assert "INTAKE_SECRET_KEY" in env  # every process signs sessions alike
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}
    assert "readyz" in " ".join(services["web"]["healthcheck"]["test"])
    port = services["worker"]["environment"]["INTAKE_WORKER_HTTP_PORT"]
    assert f"{port}/readyz" in " ".join(services["worker"]["healthcheck"]["test"])


def test_compose_names_only_settings_that_exist() -> None:
    known = {f"INTAKE_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bINTAKE_[A-Z_]+", (ROOT / "compose.yaml").read_text("utf-8")))
    assert named <= known, named - known


def test_the_image_runs_unprivileged_with_a_healthcheck_and_an_optional_ml_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users == ["intake"]
    assert re.search(r"^HEALTHCHECK CMD ", dockerfile, re.MULTILINE)
    assert re.search(r"^ARG WITH_ML=0$", dockerfile, re.MULTILINE)
    assert '".[ml]"' in dockerfile
    assert re.search(r'^ENTRYPOINT \["intake-bot"\]$', dockerfile, re.MULTILINE)
    copied = re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    assert {"bot", "channels", "moderation"} <= set(copied)


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed here")
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = subprocess.run(
        ["hadolint", str(ROOT / "Dockerfile")],  # noqa: S607 -- from PATH, where installed
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
