"""The codebase stays ruff-clean (including the Airflow AIR rules) and formatted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_check():
    out = subprocess.run(
        [str(RUFF), "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-4000:]


def test_ruff_format():
    out = subprocess.run([str(RUFF), "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]
