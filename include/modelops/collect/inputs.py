"""Inputs that cannot hurt: where a file to read may lie, what a query may do, and one diagnosis of bad files.

Every reader of a delivered file (training's collection, scoring's plan and streamed chunks, snapshot
registration, monitoring's windows) goes through this module, so an unreadable file is told the same
way everywhere: the file's name and the problem in words (not UTF-8 with the offending byte's offset,
a wrong delimiter, the line of a ragged row, a truncated Parquet file, an empty file). A reader's own
message can hold a row's text (Arrow's CSV parse error quotes the whole row): it never goes further.

Scoring reads files only under the dataset's production folder and the roots listed in
`scoring.input_roots`, by their resolved absolute path (symlinks followed, relative paths taken from
the workspace root, never the worker's working directory). A query is one SELECT or WITH statement,
run in a read-only transaction (PostgreSQL) or on a `query_only` connection (SQLite).

Every refusal here is an `InputRefused`: the same input is refused again, so retrying cannot help
(the DAGs fail such a task at once, without retry).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.config.settings import ConfigError
from modelops.core import catalog

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
SQL_DIALECTS = ("postgresql", "sqlite")  # the backends whose read-only mode is known here


class InputRefused(ValueError):
    """An input refused for what it is or where it lies: deterministic, so retrying cannot help."""


class InputMissing(InputRefused, FileNotFoundError):
    """An input that is not there (a path that does not exist, a folder without partitions)."""


class SourceError(ValueError):
    """A source could not be read or joined as configured."""


class BadFileError(SourceError, InputRefused):
    """A file that cannot be used as it is: the message names the file and the problem in words."""

    def __init__(self, path: Path | str, problem: str, quarantined: Path | None = None):
        self.path = Path(path)
        self.problem = problem
        self.quarantined = quarantined
        message = f"cannot use {self.path}: {problem}"
        if quarantined:
            message += f"\nthe file was copied to {quarantined} (note.txt says why); no batch was written"
        super().__init__(message)


class QueryFailed(RuntimeError):
    """A query failed for a reason that may pass (connection lost, server busy): worth a retry."""


# --- where an input may lie ----------------------------------------------------------------------


def input_roots(dataset: str, options: dict[str, Any]) -> list[Path]:
    """The folders scoring may read: the dataset's production folder, then `scoring.input_roots` (resolved)."""
    configured = options.get("input_roots") or []
    if not isinstance(configured, list) or not all(isinstance(r, str) and r.strip() for r in configured):
        raise ConfigError(f"scoring.input_roots: expected a list of folder paths, got {configured!r}")
    roots = [catalog.production_dir(dataset)]
    for root in configured:
        path = Path(root)
        roots.append(path if path.is_absolute() else catalog.root() / path)
    return [r.resolve() for r in roots]


def resolve_input(given: str | Path, roots: list[Path]) -> Path:
    """The input's absolute path, symlinks followed (a relative one from the workspace root), if under a root."""
    text = str(given)
    path = Path(text)
    if not path.is_absolute():
        path = catalog.root() / path  # never the worker's working directory
    resolved = path.resolve()
    _require_under(resolved, roots, text)
    return resolved


def _require_under(resolved: Path, roots: list[Path], given: str) -> None:
    """Refuse a resolved path outside every root, naming the path as given and where it leads."""
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return
    climbs = " (its '..' climbs out of the folder it starts from)" if ".." in Path(given).parts else ""
    raise InputRefused(
        f"input {given!r} resolves to {resolved}{climbs}, outside the folders scoring reads from "
        f"({', '.join(str(r) for r in roots)}): put the file under the production folder or list its "
        "folder in scoring.input_roots"
    )


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


def _codec(path: Path) -> str | None:
    """The codec a file's name says it is compressed with (gzip, zstd), or None."""
    return (file_format(path) or ("", None))[1]


def open_binary(path: Path) -> Any:
    """A file's bytes, decompressed when its name says gzip or Zstandard (a damaged stream raises OSError)."""
    codec = _codec(path)
    if codec is None:
        return path.open("rb")
    import pyarrow as pa

    return pa.input_stream(str(path), compression=codec)


def open_text(path: Path, errors: str = "strict") -> io.TextIOWrapper:
    """A (decompressed) file as UTF-8 text for the csv module (a byte-order mark skipped)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="", errors=errors)


def compression_problem(path: Path) -> str | None:
    """Why a compressed file cannot be decompressed to its end, in words; None for a plain or sound file."""
    codec = _codec(path)
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


def locate(path: Path, roots: list[Path] | None = None) -> tuple[str, list[Path]]:
    """(kind, files) of an input: `parquet`, `csv` or `parquet_folder` (partitions sorted, hidden ones left out)."""
    if not path.exists():
        raise InputMissing(f"no input at {path}: it does not exist")
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts[-2:]))
        if not found:
            raise InputMissing(f"the folder {path} holds no .parquet partitions")
        if roots is not None:  # a partition may be a symlink to a file elsewhere
            for part in found:
                _require_under(part.resolve(), roots, str(part))
        return "parquet_folder", found
    found_format = file_format(path)
    if found_format is None:
        raise InputRefused(unsupported_format(path))
    return found_format[0], [path]


def file_rows(kind: str, files: list[Path], where: Path) -> list[int | None]:
    """Rows per file (None for a CSV: known once read), refusing unreadable files and an input without rows."""
    if kind == "csv":
        (path,) = files
        csv_header(path)
        if not csv_has_rows(path):
            raise BadFileError(path, "the file holds a header and no rows: nothing to score")
        return [None]
    sizes = [parquet_rows(p) for p in files]
    if sum(sizes) == 0:
        if kind == "parquet":
            raise BadFileError(where, "the file holds 0 rows (a schema and no data): nothing to score")
        raise InputRefused(f"the folder {where} holds {len(files)} Parquet partitions and 0 rows: nothing to score")
    return list(sizes)


def columns_of(kind: str, path: Path) -> list[str]:
    """The column names of a CSV header or a Parquet schema (unreadable files diagnosed)."""
    return csv_header(path) if kind == "csv" else parquet_columns(path)


# --- one diagnosis of unreadable files -----------------------------------------------------------


def read_table(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a CSV (UTF-8, plain or compressed) or Parquet file by its name (only `columns`, when given);
    BadFileError says why not."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"source file not found: {path}")
    found_format = file_format(path)
    if found_format is None:
        raise SourceError(f"unsupported file type: {unsupported_format(path)}")
    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "file is empty (0 bytes)")
    wanted = None if columns is None else list(columns)
    if found_format[0] == "parquet":
        return _read_parquet(path, wanted)
    return _read_csv(path, wanted)


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """A Parquet file (only the `columns` it has, when given), or BadFileError saying how it is damaged."""
    import pyarrow as pa

    try:
        if columns is not None:
            present = set(parquet_columns(path))
            columns = [c for c in columns if c in present]
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        problem = parquet_problem(path, exc)
    raise BadFileError(path, problem)


def parquet_problem(path: Path, exc: Exception) -> str:
    """Why pyarrow could not read a Parquet file, in words: cut short, not Parquet at all, or damaged inside."""
    detail = str(exc).replace(f"Could not open Parquet input source '{path}': ", "")
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(4)
            handle.seek(max(path.stat().st_size - 4, 0))
            tail = handle.read(4)
        if head != b"PAR1":
            return (
                "truncated or corrupt Parquet: the file does not start with the Parquet marker PAR1 "
                f"(its first bytes are {head!r}; a CSV or another format saved as .parquet?)"
            )
        if tail != b"PAR1":
            return (
                "truncated or corrupt Parquet: the file ends without the Parquet footer, so it was cut short "
                "(an interrupted copy or download?); fetch or write it again"
            )
    return f"truncated or corrupt Parquet ({detail})"


def parquet_file(path: Path, **options: Any) -> Any:
    """A `pyarrow.parquet.ParquetFile` (footer read), or BadFileError saying how the file is damaged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "file is empty (0 bytes)")
    try:
        return pq.ParquetFile(path, **options)
    except (pa.ArrowException, OSError) as exc:
        problem = parquet_problem(path, exc)
    raise BadFileError(path, problem)


def parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return int(parquet_file(path).metadata.num_rows)


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file, from its footer."""
    return list(parquet_file(path).schema_arrow.names)


def parquet_batches(path: Path, columns: list[str], batch_size: int, read_dictionary: list[str]) -> Iterator[Any]:
    """A Parquet file's record batches (only `columns`); a page damaged inside is told as BadFileError."""
    import pyarrow as pa

    handle = parquet_file(path, read_dictionary=read_dictionary)
    batches = handle.iter_batches(batch_size=batch_size, columns=columns, use_threads=True)
    while True:
        problem = None
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            problem = parquet_problem(path, exc)
        if problem is not None:  # raised outside the handler: the reader's exception is not kept as context
            raise BadFileError(path, problem)
        yield batch


_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def ragged_problem(line: int, saw: int, expected: int) -> str:
    """A row with more or fewer fields than the header, by its line number (never its text)."""
    return (
        f"row {line} has {saw} fields, the header has {expected} (line {line} of the file; "
        "an unquoted delimiter inside a value, or a wrong delimiter?)"
    )


def _read_csv(path: Path, columns: list[str] | None) -> pd.DataFrame:
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
    place = f"offset {where}" + (" of the decompressed text" if _codec(path) else "")
    return f"not UTF-8 text (byte 0x{byte:02x} at {place}); save it as UTF-8{hint}"


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


# --- queries -------------------------------------------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


def _in_name(char: str) -> bool:
    """Whether a character can be part of a PostgreSQL name (then a `$` after it opens no quote)."""
    return char.isalnum() or char in "_$" or ord(char) > 127


_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z_]+)")


def _blank(text: str) -> str:
    """The same length of spaces, newlines kept (positions in the judged text match the query's)."""
    return re.sub(r"[^\n]", " ", text)


def _without_literals(query: str) -> str:
    """The query with comments, string literals and quoted names blanked out, position for position."""
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        if query.startswith("--", i):
            end = query.find("\n", i)
            end = n if end < 0 else end
            out.append(_blank(query[i:end]))
            i = end
        elif query.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:  # PostgreSQL block comments nest
                if query.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif query.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise InputRefused("the query has a /* comment that is never closed")
            out.append(_blank(query[i:j]))
            i = j
        elif query[i] in "'\"":
            quote = query[i]
            escapes = quote == "'" and i > 0 and query[i - 1] in "eE" and (i < 2 or not _in_name(query[i - 2]))
            j = i + 1
            while True:
                if j >= n:
                    raise InputRefused("the query has a quoted text or name that is never closed")
                if escapes and query[j] == "\\":
                    j += 2
                    continue
                if query[j] == quote:
                    if query.startswith(quote * 2, j):  # a doubled quote stands for itself
                        j += 2
                        continue
                    break
                j += 1
            out.append(quote + _blank(query[i + 1 : j]) + quote)
            i = j + 1
        elif query[i] == "$" and (i == 0 or not _in_name(query[i - 1])):
            tag = _DOLLAR_TAG.match(query, i)
            if tag is None:
                out.append("$")
                i += 1
                continue
            end = query.find(tag.group(0), tag.end())
            if end < 0:
                raise InputRefused("the query has a $-quoted text that is never closed")
            j = end + len(tag.group(0))
            out.append(tag.group(0) + _blank(query[tag.end() : end]) + tag.group(0))  # delimiters kept: no rstrip
            i = j
        else:
            out.append(query[i])
            i += 1
    return "".join(out)


def check_query(query: str) -> str:
    """The query to run, if it is one SELECT or WITH statement (a trailing semicolon dropped); else InputRefused."""
    judged = _without_literals(query)
    body = judged.rstrip()
    if body.endswith(";"):
        body = body[:-1]
    if ";" in body:
        raise InputRefused(
            "the query holds more than one statement (a ';' before its end): scoring runs one SELECT or WITH "
            "statement, nothing else"
        )
    first = _FIRST_WORD.match(body)
    word = first.group(1).upper() if first else ""
    if word not in ("SELECT", "WITH"):
        shown = f"it starts with {word}" if word else "it is empty"
        raise InputRefused(f"the query must be one SELECT or WITH statement; {shown}")
    return query[: len(body)].rstrip()


def check_sql_url(url: str) -> str:
    """The backend name of a SQL source whose read-only mode is known here (postgresql, sqlite); else InputRefused."""
    import sqlalchemy as sa

    try:
        backend = sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        raise InputRefused("the SQL connection's URL cannot be parsed") from None
    if backend not in SQL_DIALECTS:
        raise InputRefused(
            f"a {backend} connection: scoring reads SQL only where it can hold the query read-only "
            f"({', '.join(SQL_DIALECTS)})"
        )
    return backend


_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_role(role: str | None) -> str | None:
    """A PostgreSQL role name safe to quote (letters, digits, _), or None; else InputRefused."""
    if role is None:
        return None
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise InputRefused("scoring.sql_role: expected a PostgreSQL role name made of letters, digits and _")
    return role


def _hold_read_only(connection: Any, backend: str) -> None:
    """Make a SQLite connection refuse writes before the query runs (a write then fails, changing nothing)."""
    if backend != "sqlite":
        raise InputRefused(f"no read-only mode known for {backend} here")
    connection.exec_driver_sql("PRAGMA query_only = ON")


def _query_problem(exc: Exception) -> Exception:
    """The refusal or the retryable failure for a database error, without the database's message (it may quote
    values)."""
    orig = getattr(exc, "orig", exc)
    code = str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")
    text = str(orig).lower()
    if code == "25006" or "readonly" in text or "read-only" in text:
        return InputRefused("the query tried to change data and its read-only transaction refused it; nothing changed")
    if code.startswith(("0A", "42")):
        return InputRefused(
            f"the query cannot run as written (SQLSTATE {code}: a data-changing WITH, an unknown table or "
            "column, a syntax or permission error); nothing changed"
        )
    if code.startswith(("22", "23")):
        return InputRefused(f"the query failed on the data it read (SQLSTATE {code}); nothing changed")
    if not code and type(orig).__name__ == "OperationalError" and ("no such" in text or "syntax" in text):
        return InputRefused("the query cannot run as written (an unknown table or column, or a syntax error)")
    return QueryFailed(f"the query failed ({type(orig).__name__}, SQLSTATE {code or 'none'}); a retry may pass")


def query_rows(url: str, query: str, chunk_rows: int, role: str | None = None) -> Iterator[tuple[list[str], list[Any]]]:
    """(column names, up to `chunk_rows` rows) of one read-only SELECT/WITH query, streamed by a server cursor;
    on PostgreSQL run as `role` when given (the least privilege that works: a role with SELECT only)."""
    statement = check_query(query)
    backend = check_sql_url(url)
    role = check_role(role)
    if role and backend != "postgresql":
        raise InputRefused(f"scoring.sql_role is set but a {backend} connection has no roles")
    if backend == "postgresql":
        yield from _postgres_rows(url, statement, chunk_rows, role)
    else:
        yield from _sqlite_rows(url, statement, chunk_rows)


def _postgres_rows(url: str, statement: str, chunk_rows: int, role: str | None) -> Iterator[tuple[list[str], list]]:
    """The rows through psycopg 3's server-side cursor: its DECLARE goes by the extended query protocol, which
    the server refuses to run with more than one statement, whatever the text check missed; the connection is
    read-only (every transaction BEGIN READ ONLY), and with `role` the query runs as that role."""
    import psycopg
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    params = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        **{k: v for k, v in parsed.query.items() if isinstance(v, str)},
    }
    failure: Exception | None = None
    try:
        connection = psycopg.connect(**{k: v for k, v in params.items() if v is not None})
    except psycopg.Error as exc:
        failure = QueryFailed(f"the SQL connection failed ({type(exc).__name__}); a retry may pass")
    if failure is not None:  # raised outside the handler: the driver's message is not kept as context
        raise failure
    try:
        connection.read_only = True
        cursor = connection.cursor(name="modelops_scoring")
        try:
            if role:
                connection.execute(f'SET LOCAL ROLE "{role}"')  # the transaction's own, ended with it
            cursor.execute(statement)
            keys = [c.name for c in cursor.description or []]
        except psycopg.Error as exc:
            failure = _query_problem(exc)
        if failure is not None:
            raise failure
        while True:
            try:
                rows = cursor.fetchmany(chunk_rows)
            except psycopg.Error as exc:
                failure = _query_problem(exc)
            if failure is not None:
                raise failure
            if not rows:
                break
            yield keys, rows
    finally:
        with contextlib.suppress(psycopg.Error):
            connection.rollback()  # read, never committed
        connection.close()


def _sqlite_rows(url: str, statement: str, chunk_rows: int) -> Iterator[tuple[list[str], list]]:
    """The rows of a SQLite file with `PRAGMA query_only` (sqlite3 runs one statement per execute)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            failure: Exception | None = None
            try:
                _hold_read_only(connection, "sqlite")
                result = connection.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(
                    sa.text(statement)
                )
                keys = list(result.keys())
                parts = result.partitions(chunk_rows)
            except sa.exc.DBAPIError as exc:
                failure = _query_problem(exc)
            if failure is not None:  # raised outside the handler: the driver's message is not kept as context
                raise failure
            while True:
                try:
                    rows = next(parts)
                except StopIteration:
                    break
                except sa.exc.DBAPIError as exc:
                    failure = _query_problem(exc)
                if failure is not None:
                    raise failure
                yield keys, rows
            connection.rollback()  # read, never committed
    finally:
        engine.dispose()
