"""The fast test tier's wall time against its bar (issue 20: `make test-fast` at most 3 minutes).

Runs exactly what `make test-fast` runs (`MODELOPS_FAST_TIER=1 pytest -q -m "not slow"`) and prints the
wall time, the pytest summary line and the bar. Usage: `make bench-test-fast`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAR_SECONDS = 180


def main() -> int:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"],
        cwd=REPO,
        env={**os.environ, "MODELOPS_FAST_TIER": "1"},
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line][-1:]
    print(f"fast tier: {wall:.1f} s wall ({summary[0] if summary else 'no pytest summary'}); bar {BAR_SECONDS} s")
    print("within the bar" if wall <= BAR_SECONDS and done.returncode == 0 else "NOT within the bar or failed")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
