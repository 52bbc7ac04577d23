"""The test tiers' wall times against their bars (issue 20: `make test-fast` at most 3 minutes, `make test` at
most 20 minutes on a quiet machine).

Runs the Makefile target itself (`make test-fast` or `make test`, the CI command) and prints its wall time, the
CPU time of everything it started, the pytest summary line and the bar. Usage: `make bench-test-fast`,
`make bench-test` (`python benchmarks/bench_test_tiers.py fast|full`).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIERS = {"fast": ("test-fast", 180), "full": ("test", 1200)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tier", choices=sorted(TIERS), nargs="?", default="fast")
    target, bar = TIERS[parser.parse_args().tier]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(["make", target], cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line][-1:]
    print(f"make {target}: {wall:.1f} s wall ({wall / 60:.1f} min), {cpu:.0f} s CPU of its processes")
    print(f"  {summary[0] if summary else 'no pytest summary'}")
    within = wall <= bar and done.returncode == 0
    print(f"  bar {bar} s: " + ("within the bar" if within else "NOT within it, or failed"))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
