"""The root of every error Case Desk shows to a person."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class CaseDeskError(Exception):
    """An error whose text is fit for a user: what went wrong and what to do about it."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(CaseDeskError):
    """Input a user gave is not acceptable; nothing was changed."""


class NotFoundError(CaseDeskError):
    """The thing a user named does not exist locally. ``what`` says which kind of thing
    ("case", "document", "change", "conflict"), so each front end can say where to look."""

    def __init__(self, message: str, what: str = "") -> None:
        super().__init__(message)
        self.what = what


class DataFolderError(CaseDeskError):
    """The data folder or cache cannot be opened or used."""


class CacheProblem(StrEnum):
    """What is wrong with the cache file, as data: each front end words its own remedy."""

    DISK_FULL = "disk_full"  # a write found no space; that write was rolled back
    READ_ONLY = "read_only"  # the file or its folder cannot be written; reads still work
    DAMAGED = "damaged"  # SQLite found damaged pages or indexes
    EMPTY = "empty"  # zero-length, or a database without Case Desk's tables
    MISSING = "missing"  # gone, in a folder that shows it was used
    UNREADABLE = "unreadable"  # not a database at all, or the disk failed reading it
    OUTDATED = "outdated"  # an older schema that cannot be upgraded here (read-only folder)
    WRONG_KEY = "wrong_key"  # encrypted, and this data folder's key does not open it


class CacheError(DataFolderError):
    """The cache file at ``path`` cannot be used as it is; ``problem`` says how. The message
    states the fact; it never claims that nothing was lost unless that was checked."""

    def __init__(self, message: str, path: Path, problem: CacheProblem) -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem
