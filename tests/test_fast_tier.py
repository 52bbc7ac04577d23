"""The fast tier (`make test-fast`, MODELOPS_FAST_TIER=1) refuses what only `make test` provides: a heavy test
that lands in it fails loudly, naming what it needs, instead of migrating a database or reaching a server."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

HEAVY = [
    "tests/dags/test_training_structure.py::test_chain",  # Airflow's metadata DB (airflow_db)
    "tests/modelops/test_sources.py::test_sql_source_against_real_postgres",  # PostgreSQL (pg_url)
]


def test_heavy_tests_forced_into_the_fast_tier_fail_naming_what_they_need():
    env = {**os.environ, "MODELOPS_FAST_TIER": "1", "PYTHONPATH": str(REPO / "include")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra", *HEAVY]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "2 errors" in done.stdout, done.stdout[-3000:]
    assert "Airflow's metadata DB is not available in the fast tier" in done.stdout
    assert "PostgreSQL is not available in the fast tier" in done.stdout
    assert "db migrate" not in done.stdout


def test_the_fast_selection_leaves_out_whole_dag_runs_and_the_airflow_db():
    env = {**os.environ, "PYTHONPATH": str(REPO / "include")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--collect-only"]
    command += ["-m", "not slow", "tests/integration", "tests/dags"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    ids = {line.strip() for line in done.stdout.splitlines() if "::" in line}
    files = {node.split("::")[0] for node in ids}
    assert "tests/dags/test_dag_integrity.py" in files, done.stdout[-3000:]  # its parse-hygiene subprocesses stay
    structure = [node.split("::")[1] for node in ids if node.startswith("tests/dags/test_training_structure.py::")]
    assert structure == ["test_first_step_refuses_unreviewed_specs_without_retry"]  # the rest needs the Airflow DB
    assert not [f for f in files if f.startswith("tests/integration/")]


def test_the_longest_files_named_for_the_workers_exist():
    """conftest.LONGEST_FILES orders `make test`'s files for its two workers: a renamed file must be renamed there."""
    from conftest import LONGEST_FILES, REPO

    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
    assert [name for name in LONGEST_FILES if not (REPO / name).is_file()] == []
