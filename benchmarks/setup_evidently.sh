#!/usr/bin/env bash
# Separate virtualenv for the Evidently side of the drift benchmark.
#
# Evidently 0.7 needs pandas<3, while the project's own venv (.venv) is on pandas 3, so Evidently
# lives in its own venv under .local/ (git-ignored) and is driven as a subprocess:
#
#     PY=$(bash benchmarks/setup_evidently.sh | tail -n1)
#     "$PY" benchmarks/evidently_side.py REF.parquet CUR.parquet --numeric a,b --categorical x
#
# Idempotent: a second run only checks a stamp file. Quiet except for errors (stderr) and the last
# line of stdout, which is the venv's python.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.local/bench-evidently/venv"
PY="$VENV/bin/python"
STAMP="$VENV/.bench-pins"

# Exact pins, verified to install and run together (Python 3.11).
PINS=(
  "evidently==0.7.23"
  "pandas==2.3.3"
  "pyarrow==26.0.1"
  "scipy==1.17.1"
  "numpy==2.4.6"
)

UV="${UV:-$REPO/.venv/bin/uv}"
if [[ ! -x "$UV" ]]; then
  UV="$(command -v uv || true)"
fi
if [[ -z "$UV" ]]; then
  echo "setup_evidently.sh: uv not found (expected $REPO/.venv/bin/uv or uv on PATH)" >&2
  exit 1
fi

# Only registries are reachable: never let uv try to download a Python build.
export UV_PYTHON_DOWNLOADS=never

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "${PINS[*]}" ]]; then
  echo "$PY"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  # Same interpreter as the project's venv when there is one (uv resolves it to its base Python).
  if [[ -x "$REPO/.venv/bin/python" ]]; then
    BASE_PY="$REPO/.venv/bin/python"
  else
    BASE_PY="$(command -v python3)"
  fi
  mkdir -p "$(dirname "$VENV")"
  "$UV" venv -q --python "$BASE_PY" "$VENV"
fi

"$UV" pip install -q --python "$PY" "${PINS[@]}"
"$PY" -c "import evidently, pandas, pyarrow, scipy, numpy" >&2
printf '%s' "${PINS[*]}" >"$STAMP"
echo "$PY"
