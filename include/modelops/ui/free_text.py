"""Recorded values read for the monitor: free text made safe to show and log, a yes/no however it was stored."""

from __future__ import annotations

import unicodedata
from typing import Any

COMMENT_LIMIT = 500  # characters of a free-text comment or reason shown (the rest is cut, and said so)


def plain_text(value: Any, limit: int = COMMENT_LIMIT) -> str:
    """Free text as one line, control characters escaped and cut to `limit`: safe in a log line.

    Line breaks and other control or format characters (a bidi override, a zero-width joiner) are
    written as escapes (`\\n`, `\\u202e`), so a comment cannot forge a log line or hide text; the
    cut says how many characters it dropped. HTML still needs escaping where the text is shown.
    """
    text = "" if value is None else str(value)
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    quoted = "".join(out)
    if len(quoted) > limit:
        return f"{quoted[:limit]}... ({len(quoted) - limit} more characters cut)"
    return quoted


def optional_bool(value: Any) -> bool | None:
    """A recorded yes/no (bool, or text such as "true" or "1"); None when nothing was recorded."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
