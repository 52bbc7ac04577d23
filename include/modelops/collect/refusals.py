"""The refusals of an input: what is refused for what it is or where it lies, and what may pass on a retry.

Every refusal is an `InputRefused`: the same input is refused again, so retrying cannot help (the
DAGs fail such a task at once, without retry). A `QueryFailed` is the one failure worth a retry.
"""

from __future__ import annotations

from pathlib import Path


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
