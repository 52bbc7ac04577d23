"""Values that look like personal data, kept out of everything validation writes or says.

A data value is shown only when it is safe: PII-shaped text is replaced by a marker and over-long text by its
length; messages and tracebacks have their PII-shaped parts masked. Every pattern's repeat is bounded, so a
search costs at most ~64 steps per character (linear in the text, measured in benchmarks/bench_validation.py).
"""

from __future__ import annotations

import re
from typing import Any

# Content that looks like personal data must not sit in any kept text column. Every repeat is
# bounded, so a search costs at most ~64 steps per character (linear in the text, measured in
# benchmarks/bench_validation.py); the former `[^@\s]+@` was quadratic on long runs without an "@".
PII_PATTERNS = [
    r"[^@\s]{1,64}@[^@\s.]{1,253}(?:\.[^@\s.]{1,63})*\.[A-Za-z]{2,24}",  # e-mail address
    r"\b\d{3}-\d{2}-\d{4}\b",  # social security number
    r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b",  # phone number
]


# Longer text values fail validation by themselves and are never scanned (nor shown).
MAX_TEXT_LENGTH = 1000


PII_EXPECTATION = "expect_column_values_to_not_match_regex_list"


REDACTED = "<redacted: PII-shaped value>"


_PII = re.compile("|".join(f"(?:{p})" for p in PII_PATTERNS))


def redact_pii(text: str) -> str:
    """`text` with every PII-shaped part replaced by a marker (for sentences that quote data)."""
    return _PII.sub("<redacted>", text)


def safe_value(value: Any) -> Any:
    """A data value fit to be shown: PII-shaped or over-long text is replaced by a marker."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            return f"<text of {len(value)} characters>"
        if _PII.search(value):
            return REDACTED
    return value


def scrub(data: Any) -> Any:
    """`data` (a GX result dict, value counts...) with every data value made safe, keys included."""
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            key, value = safe_value(key), scrub(value)
            if key in out and isinstance(out[key], int) and isinstance(value, int):
                out[key] += value  # two redacted values: one count
            else:
                out.setdefault(key, value)
        return out
    if isinstance(data, list | tuple):
        return [scrub(v) for v in data]
    return safe_value(data)


def redact_texts(data: Any) -> Any:
    """`data` with PII-shaped parts of every string masked (messages, tracebacks, our own sentences)."""
    if isinstance(data, dict):
        return {redact_texts(k): redact_texts(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_texts(v) for v in data]
    return redact_pii(data) if isinstance(data, str) else data


def scrub_result(result: Any) -> None:
    """Remove data values that look like personal data from a GX result, in place (idempotent)."""
    for r in result.results:
        r.result = scrub(r.result or {})
        if r.exception_info:
            r.exception_info = redact_texts(r.exception_info)
