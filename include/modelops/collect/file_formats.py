"""What a file is by its name (Parquet, CSV plain or compressed), its bytes decompressed, and why they cannot be.

The one place a file's format is decided, by how its name ends. Compressed CSV is decompressed by pyarrow's
codecs for every reader (pandas, csv, Arrow): one codec that reports a cut-short stream (a truncated .zst read
through the `zstandard` package ends early without a word).
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Any

# The one place a file's format is decided, by how its name ends. Compressed CSV is decompressed by pyarrow's
# codecs for every reader (pandas, csv, Arrow): one codec that reports a cut-short stream (a truncated .zst read
# through the `zstandard` package ends early without a word).
FILE_FORMATS: dict[str, tuple[str, str | None]] = {  # suffix -> (kind, codec)
    ".parquet": ("parquet", None),
    ".pq": ("parquet", None),
    ".csv": ("csv", None),
    ".csv.gz": ("csv", "gzip"),
    ".csv.zst": ("csv", "zstd"),
}


_CODEC_NAMES = {"gzip": ("gzip", b"\x1f\x8b"), "zstd": ("Zstandard", b"\x28\xb5\x2f\xfd")}  # name, first bytes


def format_suffix(path: Path | str) -> str | None:
    """The format suffix a file's name ends with (`.csv.gz` rather than `.gz`, any case), or None."""
    name = Path(path).name.lower()
    return next((s for s in sorted(FILE_FORMATS, key=len, reverse=True) if name.endswith(s)), None)


def file_format(path: Path | str) -> tuple[str, str | None] | None:
    """(kind, codec) of a file by its name: ('parquet', None) or ('csv', None | 'gzip' | 'zstd'); None if neither."""
    suffix = format_suffix(path)
    return None if suffix is None else FILE_FORMATS[suffix]


def input_stem(path: Path) -> str:
    """An input's name without its format suffix (`2028-10-01.csv.gz` -> `2028-10-01`); a folder's whole name."""
    suffix = "" if path.is_dir() else format_suffix(path) or path.suffix
    return path.name[: len(path.name) - len(suffix)]


def unsupported_format(path: Path) -> str:
    """Why a file's name says no format read here, and which names are."""
    return (
        f"{path.name} is neither .parquet nor .csv (plain, .csv.gz or .csv.zst): give such a file, "
        "or a folder of Parquet partitions"
    )


def file_codec(path: Path) -> str | None:
    """The codec a file's name says it is compressed with (gzip, zstd), or None."""
    return (file_format(path) or ("", None))[1]


def open_binary(path: Path) -> Any:
    """A file's bytes, decompressed when its name says gzip or Zstandard (a damaged stream raises OSError)."""
    codec = file_codec(path)
    if codec is None:
        return path.open("rb")
    import pyarrow as pa

    return pa.input_stream(str(path), compression=codec)


def open_text(path: Path, errors: str = "strict") -> io.TextIOWrapper:
    """A (decompressed) file as UTF-8 text for the csv module (a byte-order mark skipped)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="", errors=errors)


def compression_problem(path: Path) -> str | None:
    """Why a compressed file cannot be decompressed to its end, in words; None for a plain or sound file."""
    codec = file_codec(path)
    if codec is None or not path.is_file():
        return None
    name, marker = _CODEC_NAMES[codec]
    with path.open("rb") as handle:
        head = handle.read(len(marker))
    if head != marker:
        return (
            f"not {name}-compressed: the file does not start with the {name} marker, yet its name ends "
            f"{format_suffix(path)} (a plain CSV or another format under a compressed name?)"
        )
    try:
        with open_binary(path) as stream:
            while stream.read(1 << 22):
                pass
    except (OSError, ValueError):  # pyarrow's codec errors; their text holds no data
        return (
            f"truncated or corrupt {name} data: the stream cannot be decompressed to its end "
            "(an interrupted copy or download?); fetch or write it again"
        )
    return None


def encoding_problem(path: Path, reason: str = "invalid UTF-8") -> str:
    """Where a file stops being UTF-8: the first offending byte and its offset in the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    head = None
    with open_binary(path) as handle:  # read once from the start (a decompressed stream cannot seek back)
        while True:
            chunk = handle.read(1 << 20)
            head = chunk[:4] if head is None else head
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as bad:
                data = pending + chunk
                where = offset - len(pending) + bad.start
                byte = data[bad.start]
                break
            if not chunk:
                return f"not UTF-8 text ({reason}); save it as UTF-8"
            offset += len(chunk)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = " (it starts with a UTF-16 byte-order mark: it is UTF-16 text)"
    else:
        hint = " (Latin-1 or Windows-1252 text, perhaps)"
    place = f"offset {where}" + (" of the decompressed text" if file_codec(path) else "")
    return f"not UTF-8 text (byte 0x{byte:02x} at {place}); save it as UTF-8{hint}"
