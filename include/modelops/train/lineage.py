"""Lineage: what identifies a training (the commit, the options' hash, the split's key)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from typing import Any

from modelops.collect.sources import BatchRef
from modelops.config.settings import REPO_ROOT, DatasetSpec
from modelops.train.splits import key_columns


def git_commit() -> str:
    """HEAD of the project checkout, with `-dirty` when it has uncommitted changes.

    MODELOPS_GIT_COMMIT, when set, is the answer: an image has no .git (the Dockerfile records the commit
    it was built from there), with `-dirty` when the build said MODELOPS_GIT_DIRTY=true.
    """
    if pinned := os.environ.get("MODELOPS_GIT_COMMIT", "").strip():
        dirty = os.environ.get("MODELOPS_GIT_DIRTY", "").strip().lower() == "true"
        return pinned + ("-dirty" if dirty else "")
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def weighting(spec: DatasetSpec) -> str:
    """How the run weights its rows (the `modelops.weights` tag): `survey:<column>`, `unweighted:<column>` (a weight
    column declared and not used) or `none`. The choice is also in the configuration's identity (`digest_for`)."""
    return f"{spec.weights.use}:{spec.weights.column}" if spec.weights else "none"


def training_hash(training: dict[str, Any]) -> str:
    """Short digest of the training options (the version's `modelops.training_hash` tag)."""
    return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()[:16]


SPLIT_SCHEME = "hash-v3"  # bump when split_indices changes how rows are assigned


def split_key(ref: BatchRef, spec: DatasetSpec, training: dict[str, Any]) -> str:
    """Cache key of a batch's splits: every setting that shapes which row lands where."""
    shaping = {
        "scheme": SPLIT_SCHEME,
        "batch": ref.content_hash,
        "seed": training["seed"],
        "holdout_fraction": training["holdout_fraction"],
        "calibration_fraction": training["calibration_fraction"],
        "latest_period_train_fraction": training.get("latest_period_train_fraction", 0.0),
        "id_column": spec.id_column,
        "time_column": spec.time_column,
        "target": spec.target,
        "positive": [repr(v) for v in spec.positive_labels],
        "negative": None if spec.negative_labels is None else [repr(v) for v in spec.negative_labels],
        "key_columns": key_columns(spec),
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:16]
