"""The DAG files' shared defaults: one default_args base, and the Params repeated across DAGs made in one place."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk.definitions.param import ParamValidationError

from modelops_airflow.defaults import BASE_DEFAULT_ARGS, dataset_param, make_default_args, optional_dataset_param

DAGS = Path(__file__).resolve().parents[2] / "dags"
SHARED_PARAMS = {"dataset", "input", "snapshot", "model_name"}


def copied_defaults(path: Path) -> list[str]:
    """Where a DAG file writes default_args as a dict literal or builds a shared Param itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            found += [
                f"{path.name}:{node.lineno} default_args"
                for t in node.targets
                if getattr(t, "id", "") == "default_args"
            ]
        elif isinstance(node, ast.keyword) and node.arg == "default_args" and isinstance(node.value, ast.Dict):
            found.append(f"{path.name}:{node.lineno} default_args")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value in SHARED_PARAMS
                    and isinstance(value, ast.Call)
                    and getattr(value.func, "id", "") == "Param"
                ):
                    found.append(f"{path.name}:{key.lineno} Param {key.value!r}")
    return found


def test_every_dag_file_takes_its_defaults_from_the_shared_module():
    assert [hit for path in sorted(DAGS.glob("*.py")) for hit in copied_defaults(path)] == []


def test_a_copied_default_is_found(tmp_path):
    dag_file = tmp_path / "copy.py"
    dag_file.write_text(
        'default_args = {"owner": "modelops"}\n'
        '@dag(default_args={"retries": 0}, params={"dataset": Param("a"), "alias": Param("champion")})\n'
        "def d(): ...\n"
    )
    assert copied_defaults(dag_file) == [
        "copy.py:1 default_args",
        "copy.py:2 default_args",
        "copy.py:2 Param 'dataset'",
    ]


def test_a_dag_states_only_its_difference():
    assert make_default_args(timedelta(minutes=5), retries=0) == {
        "owner": "modelops",
        "retries": 0,
        "retry_delay": timedelta(seconds=20),
        "execution_timeout": timedelta(minutes=5),
    }
    assert BASE_DEFAULT_ARGS["retries"] == 1  # a DAG's difference leaves the base alone


def test_the_dataset_params_read_no_config():
    one = dataset_param("Dataset spec to train on.")
    assert one.value is None and one.description.startswith("Dataset spec to train on.")
    assert one.resolve("any_name") == "any_name"  # checked when the run starts (modelops_airflow.runtime)
    optional = optional_dataset_param("empty = every dataset due")
    assert optional.resolve(None) is None and optional.resolve("voter_turnout") == "voter_turnout"
    with pytest.raises(ParamValidationError):
        one.resolve(3)
