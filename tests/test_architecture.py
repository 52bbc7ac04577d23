"""The import contract: stages import only earlier stages, no circles, no Airflow in the library, no private names.

The layers live in pyproject.toml (`[tool.importlinter]`) and are drawn in the README's Architecture section.
Each rule is also shown to fail: the contract is run on a copy of the library with one bad import added.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "include" / "modelops"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PRODUCTION_CODE = (LIBRARY, REPO / "include" / "modelops_airflow", REPO / "dags", REPO / "plugins")


def run_contract(root: Path, config: Path) -> subprocess.CompletedProcess:
    """`lint-imports` over the `modelops` package found under `root`, with the contracts of `config`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(config)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def module_name(path: Path) -> str:
    """`modelops.core.catalog` for include/modelops/core/catalog.py; the file's stem elsewhere."""
    parts = path.with_suffix("").parts
    return ".".join(parts[parts.index("modelops") :]) if "modelops" in parts else path.stem


def private_imports(files: list[Path]) -> list[str]:
    """Where a file uses another modelops module's private name (`from modelops.x.y import _z` or `y._z`)."""
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> modelops module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "modelops":
                aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("modelops.")})
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelops."):
                owner = node.module
                names = [a.name for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                owner, names = aliases[node.value.id], [node.attr] if _private(node.attr) else []
            else:
                continue
            if owner != module_name(path):
                found += [f"{path.name}:{node.lineno} uses {owner}.{name}" for name in names]
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_import_contract_is_kept():
    out = run_contract(REPO / "include", REPO / "pyproject.toml")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # a collection module reaching forward into scoring, inside a function (those count too)
        (
            "collect.sources",
            "def reach_forward():\n    from modelops.score import run\n",
            ["earlier stages", "circles"],
        ),
        # the catalog reading a setting from config again: a lower layer importing a higher one, and a circle
        (
            "core.catalog",
            "from modelops.config.settings import load_settings\n",
            ["Stages import only earlier stages", "circles"],
        ),
        ("evaluate.evaluation", "import airflow\n", ["never imports Airflow"]),
        ("config.settings", "def shared():\n    from modelops_airflow import defaults\n", ["never imports Airflow"]),
    ],
)
def test_the_contract_fails_on_a_bad_import(tmp_path, module, bad_import, broken):
    shutil.copytree(LIBRARY, tmp_path / "modelops", ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / "modelops" / (module.replace(".", "/") + ".py")).open("a", encoding="utf-8") as handle:
        handle.write("\n\n" + bad_import)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    out = run_contract(tmp_path, tmp_path / "pyproject.toml")
    assert out.returncode != 0, out.stdout[-4000:]
    broken_lines = [line for line in out.stdout.splitlines() if line.endswith("BROKEN")]
    for name in broken:
        assert any(name in line for line in broken_lines), out.stdout[-4000:]
    assert len(broken_lines) == len(broken), broken_lines
    assert f"modelops.{module}" in out.stdout


def test_no_module_uses_another_modules_private_names():
    files = [p for folder in PRODUCTION_CODE for p in sorted(folder.rglob("*.py"))]
    assert len(files) > 60
    assert private_imports(files) == []


def test_private_names_are_found(tmp_path):
    cards = tmp_path / "modelops" / "govern" / "cards.py"
    cards.parent.mkdir(parents=True)
    cards.write_text(
        "from modelops.present import reports as r\nfrom modelops.present.reports import _png, plain_value\n"
        "from modelops.govern import cards\n\ndef f():\n    return r._fmt(1), cards._own, r.__name__\n"
    )
    assert private_imports([cards]) == [
        "cards.py:2 uses modelops.present.reports._png",
        "cards.py:6 uses modelops.present.reports._fmt",
    ]


# --- names declared once: MLflow tags and alert kinds in their enums, file names in the catalog -------------


def _declared_in_enum(tree: ast.AST) -> set[int]:
    """Ids of the string constants assigned in the body of a `StrEnum` class (the one place a name is declared)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "StrEnum" for b in node.bases):
            ids |= {id(c) for stmt in node.body for c in ast.walk(stmt) if isinstance(c, ast.Constant)}
    return ids


def stray_modelops_names(files: list[Path]) -> list[str]:
    """Where a `"modelops.…"` string (an MLflow tag, an alert kind) is typed outside the enum that declares it.

    Exempt: the bare prefix, file names (`modelops.db`, `modelops.yaml`), module paths given to `import_module`.
    """
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt = _declared_in_enum(tree) | {
            id(node.args[0])
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("modelops.")
                and node.value not in ("modelops.", "modelops.db", "modelops.yaml")
                and id(node) not in exempt
            ):
                found.append(f"{path.name}:{node.lineno} {node.value}")
    return found


def stray_file_names(files: list[Path], names: set[str]) -> list[str]:
    """Where one of the catalog's file names is typed as a string outside the catalog."""
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.name}:{node.lineno} {node.value}")
    return found


def _production_files() -> list[Path]:
    return [p for folder in PRODUCTION_CODE for p in sorted(folder.rglob("*.py"))]


def test_tag_names_and_alert_kinds_are_typed_only_in_their_enums():
    assert stray_modelops_names(_production_files()) == []


def test_stray_tag_names_are_found(tmp_path):
    view = tmp_path / "view.py"
    view.write_text(
        "import importlib\nfrom enum import StrEnum\n\nclass Tag(StrEnum):\n    VERDICT = 'modelops.verdict'\n\n"
        "def f(tags):\n    importlib.import_module('modelops.cards')\n"
        "    return tags.get('modelops.verdict'), f'modelops.holdout_{tags}', 'modelops.db'\n"
    )
    assert stray_modelops_names([view]) == ["view.py:9 modelops.verdict", "view.py:9 modelops.holdout_"]


def test_file_names_are_typed_only_in_the_catalog():
    from modelops.core import catalog

    names = {v for k, v in vars(catalog).items() if k.isupper() and isinstance(v, str) and "." in v}
    assert {"card.html", "report.html", "manifest.json", "batch.parquet", "modelops.db"} <= names
    files = [p for p in _production_files() if p != LIBRARY / "core" / "catalog.py"]
    assert stray_file_names(files, names) == []
    assert stray_file_names([LIBRARY / "core" / "catalog.py"], names)  # the scan sees them where they are declared
