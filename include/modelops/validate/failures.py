"""A failed check in words: the dict each failure is recorded as, and the sentences error messages and the
report page print from it (what, where, how many rows, which, and examples only where values may be shown)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from modelops.validate.redaction import PII_EXPECTATION


def _exception_message(info: Any) -> str | None:
    """The message of an expectation that could not be computed (GX nests it per metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")
    return None


def describe_failure(result) -> dict[str, Any]:
    """One failed expectation as a small dict: what, where, how many rows, which, and (safe) examples."""
    config = result.expectation_config
    found = result.result or {}
    details: dict[str, Any] = {
        k: found[k] for k in ("unexpected_count", "unexpected_percent", "observed_value") if k in found
    }
    if found.get("partial_unexpected_index_list"):
        rows = found["partial_unexpected_index_list"][:5]
        details["rows"] = [int(i) if isinstance(i, int | np.integer) else i for i in rows]
    shows_values = config.type not in {PII_EXPECTATION, "expect_column_values_to_not_be_null"} and (
        (config.meta or {}).get("values") != "hidden"
    )
    if found.get("partial_unexpected_list") and shows_values:  # PII: rows only, never values
        details["examples"] = list(dict.fromkeys(str(v) for v in found["partial_unexpected_list"]))[:5]
    if "details" in found:
        details["details"] = json.loads(json.dumps(found["details"], default=str))
    error = _exception_message(result.exception_info)
    if error:
        details["error"] = error
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column") or "+".join(config.kwargs.get("column_list") or []) or None,
        "why": (config.meta or {}).get("why", ""),
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in details.items()},
    }


def failure_parts(f: dict[str, Any]) -> list[str]:
    """The evidence of one failure in words: bad rows, where, examples, observed value, error."""
    parts = []
    count = f.get("unexpected_count")
    if count is not None:
        parts.append(f"{count} bad row{'' if count == 1 else 's'}")
    if f.get("rows"):
        more = ", ..." if (count or 0) > len(f["rows"]) else ""
        at = f"at row position{'s' if len(f['rows']) > 1 else ''} {', '.join(map(str, f['rows']))}{more}"
        parts[-1:] = [f"{parts[-1]} {at}"] if parts else [at]
    if f.get("examples"):
        parts.append(f"e.g. {f['examples']}")
    if "observed_value" in f:
        parts.append(f"observed {f['observed_value']}")
    if f.get("details"):
        parts.append(str(f["details"]))
    if f.get("error"):
        parts.append(f"could not be checked: {f['error']}")
    return parts


def format_failures(failed: list[dict[str, Any]]) -> str:
    """Human-readable list of failed expectations for error messages and logs."""
    lines = []
    for f in failed:
        where = f" on {f['column']!r}" if f.get("column") else ""
        lines.append(f"  - {f['expectation']}{where} ({f['why']}): {'; '.join(failure_parts(f))}")
    return "\n".join(lines)
