"""The house's figures (issue 20), for the working tree and for any earlier commit.

Prints, for each ref: library modules and their lines (largest, mean, how many over 600), functions over
80 lines (library, DAGs, plugins), import circles between library modules (strongly connected groups in
grimp's import graph), `dict[str, Any]` annotations, config sections read by string key, and imports of
another module's private names. Usage: `make bench-house` (the tree against the commit before issue 20),
or `python benchmarks/bench_house.py REF [REF ...]` (`.` is the working tree).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

REPO = Path(__file__).resolve().parents[1]
BEFORE = "be946a4"  # the last commit of issue 19, before the redesign step began
CODE = ("include", "dags", "plugins")
SECTION_READ = re.compile(
    r"\.(training|evaluation|monitoring|scoring|promotion|fairness|validation|source|search_spaces)"
    r"(\[\s*[\"']|\.get\(\s*[\"'])"
)

# grimp's graph of the `modelops` package found on sys.path[0]; prints the circles as JSON
_CIRCLES = """
import json, sys, grimp
graph = grimp.build_graph("modelops")
modules = sorted(graph.modules)
index = {m: i for i, m in enumerate(modules)}
edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
# Tarjan's strongly connected components
counter, stack, on, low, num, groups = [0], [], set(), {}, {}, []
sys.setrecursionlimit(10000)
def visit(v):
    num[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in num:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], num[w])
    if low[v] == num[v]:
        group = []
        while True:
            w = stack.pop(); on.discard(w); group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(sorted(group))
for m in modules:
    if m not in num:
        visit(m)
print(json.dumps(groups))
"""


def export(ref: str, into: Path) -> Path:
    """The tree of `ref` (or the working tree for '.') under `into`."""
    if ref == ".":
        return REPO
    archive = subprocess.run(["git", "archive", ref, *CODE], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def circles(root: Path) -> list[list[str]]:
    """Groups of library modules that import each other, directly or through others."""
    done = subprocess.run(
        [sys.executable, "-c", _CIRCLES],
        env={"PYTHONPATH": str(root / "include"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def private_uses(path: Path, tree: ast.AST) -> int:
    """Names starting with one underscore imported from another modelops module."""
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelops")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    )


def figures(root: Path) -> dict[str, object]:
    """The figures of one tree."""
    library = sorted((root / "include" / "modelops").rglob("*.py"))
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in library if p.name != "__init__.py"}
    long_functions, dict_any, section_reads, private = 0, 0, 0, 0
    for folder in CODE:
        for path in sorted((root / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            long_functions += sum(
                1
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80
            )
            dict_any += text.count("dict[str, Any]")
            section_reads += len(SECTION_READ.findall(text))
            private += private_uses(path, tree)
    groups = circles(root)
    return {
        "library modules": len(sizes),
        "largest module (lines)": max(sizes.values()),
        "mean module (lines)": round(mean(sizes.values())),
        "modules over 600 lines": sum(n > 600 for n in sizes.values()),
        "functions over 80 lines": long_functions,
        "import circles (modules in them)": f"{len(groups)} ({sum(map(len, groups))})",
        "dict[str, Any] annotations": dict_any,
        "config sections read by string key": section_reads,
        "private names imported across modules": private,
    }


def main(refs: list[str]) -> int:
    columns = []
    for ref in refs:
        with tempfile.TemporaryDirectory() as tmp:
            columns.append(figures(export(ref, Path(tmp))))
    names = ["working tree" if r == "." else r for r in refs]
    print(f"| figure | {' | '.join(names)} |")
    print(f"|---|{'---:|' * len(refs)}")
    for key in columns[0]:
        print(f"| {key} | {' | '.join(str(c[key]) for c in columns)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or [BEFORE, "."]))
