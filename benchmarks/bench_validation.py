"""Validation time of a batch holding long text values (the PII regexes once backtracked quadratically).

The frame: 1000 rows (id, a numeric feature, a text feature `comment`, a 0/1 target); `--values`
of the `comment` values (default 20) are one long run of non-space characters without an `@`, the
worst case for an unbounded e-mail pattern. For each length it prints the wall time of
`validate_frame` (the whole GX suite plus our own checks), whether the batch passed, and the failed
checks. A length whose time exceeds `--give-up` seconds stops the larger ones (they would only be slower).

Then, without the length bound, the PII patterns themselves: the time to scan ONE value of each length
with the current patterns, and with the former e-mail pattern `[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}` (quadratic;
only up to `--old-max` characters, it takes minutes beyond).

    python benchmarks/bench_validation.py [--lengths 20000,80000,200000] [--values 20] [--give-up 600] [--old-max 20000]
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import pandas as pd

from modelops.collect.sources import BatchRef, content_hash
from modelops.config.models import ValidationRules
from modelops.config.settings import DatasetSpec
from modelops.validate.redaction import PII_PATTERNS
from modelops.validate.validation import validate_frame

OLD_EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"

ROWS = 1000
SPEC = DatasetSpec(
    name="bench_text",
    description="benchmark: one free-text feature",
    source={"kind": "file", "path": "unused.csv"},
    target="y",
    positive_class=1,
    id_column="id",
    numeric=("x",),
    categorical=("comment",),
    validation=ValidationRules(row_count=[1, None]),
    positive_labels=(1,),
    negative_labels=(0,),
)


def make_frame(length: int, values: int) -> pd.DataFrame:
    """1000 ordinary rows; the first `values` comments are `length` characters with no space and no '@'."""
    rng = np.random.default_rng(0)
    comments = np.array(["fine", "ok", "call back later", "moved away"], dtype=object)[rng.integers(0, 4, ROWS)]
    comments[:values] = "x" * length
    return pd.DataFrame(
        {"id": np.arange(ROWS), "x": rng.normal(size=ROWS), "comment": comments, "y": rng.integers(0, 2, ROWS)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="20000,80000,200000")
    parser.add_argument("--values", type=int, default=20)
    parser.add_argument("--give-up", type=float, default=600.0)
    parser.add_argument("--old-max", type=int, default=20000)
    args = parser.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    validate_frame(make_frame(10, 0), SPEC, _ref(make_frame(10, 0)))  # warm up: GX import and first context
    print(f"{'length':>8} {'values':>6} {'seconds':>8}  verdict")
    for length in lengths:
        frame = make_frame(length, args.values)
        started = time.perf_counter()
        report, _ = validate_frame(frame, SPEC, _ref(frame))
        seconds = time.perf_counter() - started
        failed = ", ".join(f"{f['expectation']}({f.get('column')})" for f in report.failed) or "-"
        print(f"{length:>8} {args.values:>6} {seconds:>8.2f}  {'pass' if report.success else 'FAIL'}: {failed}")
        if seconds > args.give_up:
            print(f"over {args.give_up:.0f} s: larger lengths skipped")
            break
    print("\nPII regex scan of one value, no length bound (seconds):")
    current = re.compile("|".join(f"(?:{p})" for p in PII_PATTERNS))
    old = re.compile(OLD_EMAIL)
    print(f"{'length':>8} {'current':>8} {'old e-mail':>10}")
    for length in lengths:
        text = "x" * length
        started = time.perf_counter()
        current.search(text)
        now = time.perf_counter() - started
        before = "-"
        if length <= args.old_max:
            started = time.perf_counter()
            old.search(text)
            before = f"{time.perf_counter() - started:.2f}"
        print(f"{length:>8} {now:>8.3f} {before:>10}")


def _ref(frame: pd.DataFrame) -> BatchRef:
    return BatchRef(
        dataset=SPEC.name,
        path="",
        content_hash=content_hash(frame),
        rows=len(frame),
        columns=list(frame.columns),
        source={},
    )


if __name__ == "__main__":
    main()
