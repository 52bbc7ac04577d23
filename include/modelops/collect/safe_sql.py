"""Queries that cannot hurt: one SELECT or WITH statement, run read-only, its rows streamed.

A query is one SELECT or WITH statement, run in a read-only transaction (PostgreSQL, optionally as a
role with SELECT only) or on a `query_only` connection (SQLite). A database's own message may quote
values: it never goes further; the refusal or the retryable failure says the kind and the SQLSTATE.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from modelops.collect.refusals import InputRefused, QueryFailed

SQL_DIALECTS = ("postgresql", "sqlite")  # the backends whose read-only mode is known here
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
