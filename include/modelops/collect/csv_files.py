"""UTF-8 CSV files (plain or compressed) read whole, by their header, or streamed; a bad file told in words.

The words name the file and the problem (not UTF-8 with the offending byte's offset, a wrong delimiter,
the line of a ragged row, an empty file). A reader's own message can hold a row's text (Arrow's CSV
parse error quotes the whole row): it never goes further.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.collect.file_formats import compression_problem, encoding_problem, open_binary, open_text
from modelops.collect.refusals import BadFileError

_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def ragged_problem(line: int, saw: int, expected: int) -> str:
    """A row with more or fewer fields than the header, by its line number (never its text)."""
    return (
        f"row {line} has {saw} fields, the header has {expected} (line {line} of the file; "
        "an unquoted delimiter inside a value, or a wrong delimiter?)"
    )


def read_csv_file(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """A UTF-8 CSV file with a header, or BadFileError naming the encoding or the row at fault."""
    if columns is not None:
        # pandas reading some columns lets a ragged row through: the streamed reader checks every row first
        header = csv_header(path)
        for _ in csv_batches(path, header[:1]):
            pass
        columns_read: Any = set(columns).__contains__
    else:
        columns_read = None
    problem = None
    # low_memory=False: the whole column is typed at once (chunks could mix numbers and text in one column).
    try:
        with open_binary(path) as handle:
            frame = pd.read_csv(handle, low_memory=False, usecols=columns_read)
    except UnicodeDecodeError as exc:
        problem = encoding_problem(path, exc.reason)
    except pd.errors.EmptyDataError:
        problem = "file is empty (no header, only blank lines)"
    except pd.errors.ParserError as exc:
        ragged = _RAGGED.search(str(exc))
        if ragged:
            expected, line, saw = ragged.groups()
            problem = ragged_problem(int(line), int(saw), int(expected))
        else:
            problem = f"not a well-formed CSV ({str(exc).strip()})"
    except OSError as exc:
        problem = compression_problem(path) or f"cannot be read ({exc.strerror or type(exc).__name__})"
    if problem is not None:
        raise BadFileError(path, problem)
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas silently turns extra leading fields into an index when the first data row is longer than the header
        fields = frame.index.nlevels + len(frame.columns)
        raise BadFileError(path, ragged_problem(2, fields, len(frame.columns)))
    return frame


_ANY_DELIMITER = re.compile(r"[,;\t|]")
_SHOWN_NAMES = 20


def header_hint(columns: list[Any], known: Iterable[str]) -> str:
    """How the header was read and which delimiter it seems to use, naming only the spec's own columns.

    The first line may be a data row (a file without a header line), so nothing else of it is shown:
    the fields that are columns of the spec (`known`), and how many other fields there were.
    """
    header = ",".join(map(str, columns))
    fields = [f.strip() for f in _ANY_DELIMITER.split(header) if f.strip()]
    wanted = set(known)
    names = list(dict.fromkeys(f for f in fields if f in wanted))
    others = sum(1 for f in fields if f not in wanted)
    hint = f"it was read as {len(columns)} column{'s' if len(columns) != 1 else ''}"
    if names:
        shown = ", ".join(names[:_SHOWN_NAMES]) + (", ..." if len(names) > _SHOWN_NAMES else "")
        hint += f" whose header holds the spec's columns {shown}"
        hint += f" and {others} other field{'s' if others != 1 else ''} (not shown)" if others else ""
    else:
        hint += f"; none of its first line's {len(fields)} fields is a column of the spec (not shown)"
    for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if delimiter in header:
            return f"{hint}; the delimiter may be wrong: the header is separated by {name}, the reader expects commas"
    return f"{hint}; the delimiter may be wrong, or this is not the dataset's file"


def csv_header(path: Path) -> list[str]:
    """The header of a UTF-8 CSV file; an empty or non-UTF-8 file is BadFileError."""
    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "file is empty (0 bytes)")
    problem = None
    try:
        with open_text(path) as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        problem = encoding_problem(path, exc.reason)
    except csv.Error:
        problem = "not a well-formed CSV (its header line cannot be read)"
    except (OSError, ValueError):  # a compressed stream that cannot be decompressed
        problem = compression_problem(path) or "cannot be read"
    if problem is not None:
        raise BadFileError(path, problem)
    if not header or not any(c.strip() for c in header):
        raise BadFileError(path, "file is empty (no header, only blank lines)")
    return header


def csv_has_rows(path: Path) -> bool:
    """Whether a CSV file holds at least one non-blank row after its header (reads up to that row only)."""
    problem = None
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                if any(cell.strip() for cell in row):
                    return True
    except UnicodeDecodeError as exc:
        problem = encoding_problem(path, exc.reason)
    except csv.Error:
        return True  # a row is there; the streamed reader tells what is wrong with it
    except (OSError, ValueError):  # a compressed stream that cannot be decompressed
        problem = compression_problem(path) or "cannot be read"
    if problem is not None:
        raise BadFileError(path, problem)
    return False


def _ragged_row(path: Path) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first row whose field count differs from the header's, if any."""
    try:
        with open_text(path, errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                return None
            for row in reader:
                if row and len(row) != len(header):
                    return reader.line_num, len(row), len(header)
    except (csv.Error, OSError, ValueError):
        return None
    return None


def _arrow_csv_problem(path: Path, exc: Exception, rows_before: int) -> str:
    """Arrow's CSV error in words, from its kind only: its message quotes the row and is never passed on."""
    damaged = compression_problem(path)
    if damaged is not None:
        return damaged
    text = str(exc)
    if "invalid UTF8" in text or "invalid utf8" in text.lower():
        return encoding_problem(path)
    if "CSV parse error" in text:
        ragged = _ragged_row(path)
        if ragged is not None:
            line, saw, expected = ragged
            return ragged_problem(line, saw, expected)
        return (
            f"not a well-formed CSV: a row after the first {rows_before} data rows cannot be split into the "
            "header's fields (a quoted value spanning lines, or an unbalanced quote?)"
        )
    return (
        f"not a well-formed CSV: the reader stopped after {rows_before} data rows "
        f"({type(exc).__name__}; its message is not shown as it may quote a row)"
    )


def csv_batches(path: Path, columns: list[str], block_size: int = 1 << 20) -> Iterator[Any]:
    """A CSV file's rows as Arrow record batches of text (only `columns`), every row checked for its fields.

    Read as text so a stray value never breaks type inference of a later block; a ragged row, a
    non-UTF-8 byte or another parse failure is BadFileError with the line, never the row's text.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = {
        "read_options": pcsv.ReadOptions(block_size=block_size),
        "convert_options": pcsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            include_columns=columns,
            null_values=[""],
            strings_can_be_null=True,
        ),
    }
    rows = 0
    problem = None
    with open_binary(path) as stream:
        try:
            reader = pcsv.open_csv(stream, **options)
        except (pa.ArrowException, OSError) as exc:
            problem = _arrow_csv_problem(path, exc, rows)
        if problem is not None:  # raised outside the handler: Arrow's message (the row's text) is not its context
            raise BadFileError(path, problem)
        while True:
            try:
                batch = next(reader)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                problem = _arrow_csv_problem(path, exc, rows)
            if problem is not None:
                raise BadFileError(path, problem)
            rows += batch.num_rows
            yield batch


def csv_line_rows(path: Path) -> int:
    """A CSV's rows counted by its line breaks, less the header (a quoted line break counts once more)."""
    breaks, last = 0, b"\n"
    problem = None
    try:
        with open_binary(path) as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                breaks += block.count(b"\n")
                last = block[-1:]
    except (OSError, ValueError):
        problem = compression_problem(path) or "cannot be read"
    if problem is not None:
        raise BadFileError(path, problem)
    return max(breaks + int(last != b"\n") - 1, 0)
