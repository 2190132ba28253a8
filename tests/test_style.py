"""The house style, checked as part of the test command: ruff's lint rules and its formatting
(configured in pyproject.toml; .pre-commit-config.yaml runs the same two before each commit)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff():
    """The ruff of this environment: beside the interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.exists() else shutil.which("ruff")
    if found is None:
        pytest.skip('ruff is not installed (pip install -e ".[dev]")')
    return found


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    completed = subprocess.run(
        [ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-1000:]
