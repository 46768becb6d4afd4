"""Is the cache file usable? Looked at before SQLite opens it, and SQLite's failures named.

SQLite treats a missing or zero-length file as a new, empty database, and deletes the
write-ahead log beside a zero-length one when it opens it: either would hide a lost cache
behind an empty case list. So the file is looked at first (its size and the 16-byte header),
and only then handed to SQLite.

SQLite's own failures (disk full, read-only, damaged pages, not a database) become a
:class:`CacheError` naming the file and the problem, so every front end can say what happened
and what to do, instead of "something unexpected".
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from desktop.errors import CacheError, CacheProblem

# Both drivers' errors: the cache goes through SQLCipher's; a plain file may come through
# the standard library's (a tool, an older release's leftovers).
SQLITE_ERRORS = (sqlite3.Error, sqlcipher.Error)
DATABASE_ERRORS = (sqlite3.DatabaseError, sqlcipher.DatabaseError)

SQLITE_HEADER = b"SQLite format 3\x00"

# SQLite's primary result codes (the low byte of an extended code).
_READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 8, 10, 11, 13, 14, 26

# The tables a start-up checks page by page: the work not yet on the server and what it
# points at. Each takes well under a millisecond at 100,000 cases; the case list and its
# search index (~110 ms at 100,000 cases) are checked by the full check and in the
# background of the window.
STARTUP_TABLES = ("pending_changes", "conflicts", "documents", "sync_meta", "alembic_version")


class FileState(StrEnum):
    MISSING = "missing"
    ZERO_LENGTH = "zero_length"
    NOT_A_DATABASE = "not_a_database"
    DATABASE = "database"


def file_state(path: Path) -> FileState:
    """What the file is, from its first bytes, without letting SQLite touch it."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return FileState.MISSING
    except OSError as exc:
        raise CacheError(f"The local cache {path} cannot be read: {_os_words(exc)}.", path,
                         CacheProblem.UNREADABLE) from exc
    if not head:
        return FileState.ZERO_LENGTH
    if head != SQLITE_HEADER:
        return FileState.NOT_A_DATABASE
    return FileState.DATABASE


def classify(error: BaseException, path: Path) -> CacheError | None:
    """The cache failure behind *error* (anywhere in its chain), as a CacheError about
    *path*; None when it is not a disk or database failure."""
    for exc in _chain(error):
        if isinstance(exc, CacheError):
            return exc
        if isinstance(exc, SQLITE_ERRORS):
            found = _from_sqlite(exc, path)
            if found is not None:
                return found
        elif isinstance(exc, OSError) and exc.errno in _OS_PROBLEMS:
            problem = _OS_PROBLEMS[exc.errno]
            return CacheError(_MESSAGES[problem](path, _os_words(exc)), path, problem)
    return None


def _from_sqlite(exc: Exception, path: Path) -> CacheError | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    detail = str(exc).split("\n")[0][:120]  # SQLite's own words; never the statement
    problem = {_FULL: CacheProblem.DISK_FULL, _READONLY: CacheProblem.READ_ONLY,
               _CORRUPT: CacheProblem.DAMAGED, _NOTADB: CacheProblem.UNREADABLE}.get(primary)
    if primary in (_IOERR, _CANTOPEN):
        if disk_full(path):
            problem = CacheProblem.DISK_FULL
        elif not writable(path.parent) or (path.exists() and not writable(path)):
            problem = CacheProblem.READ_ONLY
        else:
            problem = CacheProblem.UNREADABLE
    if problem is None:
        return None
    return CacheError(_MESSAGES[problem](path, detail), path, problem)


def wrong_key(path: Path) -> CacheError:
    """An encrypted cache this data folder's key does not open: never replaced."""
    return CacheError(
        f"The local cache {path} cannot be decrypted with this data folder's key: it was "
        "encrypted with another key, or it is not a Case Desk cache. It was left as it is.",
        path, CacheProblem.WRONG_KEY)


def refused_write(path: Path, why: CacheProblem) -> CacheError:
    """A write to a cache that was opened read-only, worded for the reason it was."""
    return CacheError(_MESSAGES[why](path, ""), path, why)


_MESSAGES = {
    CacheProblem.DISK_FULL: lambda path, _detail: (
        f"The disk holding {path} is full: this change could not be saved there."),
    CacheProblem.READ_ONLY: lambda path, _detail: (
        f"{path} is read-only here (the file or its folder cannot be written): this change "
        "could not be saved; reading works."),
    CacheProblem.DAMAGED: lambda path, detail: (
        f"The local cache {path} is damaged (SQLite: {detail})."),
    CacheProblem.UNREADABLE: lambda path, detail: (
        f"The local cache {path} cannot be read ({detail})."),
}

_OS_PROBLEMS = {
    errno.ENOSPC: CacheProblem.DISK_FULL,
    errno.EDQUOT: CacheProblem.DISK_FULL,
    errno.EROFS: CacheProblem.READ_ONLY,
    errno.EACCES: CacheProblem.READ_ONLY,
    errno.EPERM: CacheProblem.READ_ONLY,
    errno.EIO: CacheProblem.UNREADABLE,
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop(0)
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        todo += [getattr(exc, "orig", None), exc.__cause__, exc.__context__]


def _os_words(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def read_only_uri(path: Path, writable_folder: bool = False) -> str:
    """An SQLite URI that opens *path* for reading only. With no log content beside it (and
    a folder where SQLite could not make the log's index file), as immutable: nothing in a
    log to read, and no file to create."""
    wal = Path(f"{path}-wal")
    logged = wal.exists() and wal.stat().st_size > 0
    immutable = not logged and not writable_folder
    return path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def disk_full(path: Path) -> bool:
    """No room left on the disk holding *path* (or its nearest existing folder)."""
    place = path
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        st = os.statvfs(place)
    except (OSError, AttributeError):  # AttributeError: Windows has no statvfs
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


# ------------------------------------------------------------------ checks


def quick_check(conn: Any, tables: tuple[str, ...] | None = STARTUP_TABLES) -> list[str]:
    """SQLite's quick check of *tables* (None: the whole file); [] when all is well. A
    check that cannot even read the pages it needs reports that as its problem."""
    problems: list[str] = []
    for table in tables or (None,):
        pragma = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
        try:
            rows = conn.execute(pragma).fetchall()
        except DATABASE_ERRORS as exc:
            problems.append(str(exc))
            continue
        problems += _lines(row[0] for row in rows)
    return problems


def integrity_check(conn: Any, limit: int = 100) -> list[str]:
    """SQLite's full integrity check (every page, every index entry); [] when all is well."""
    return _lines(row[0] for row in conn.execute(f"PRAGMA integrity_check({int(limit)})"))


def cipher_integrity_check(conn: Any) -> list[str]:
    """SQLCipher's check of every page's HMAC (pages altered or swapped on disk); [] when
    all is well, and for an unencrypted file (which has no HMACs to check)."""
    return _lines(str(row[0]) for row in conn.execute("PRAGMA cipher_integrity_check"))


def _lines(results: Iterator[str]) -> list[str]:
    """One problem a line (SQLite may put several in one row), headings and "ok" left out."""
    return [line.strip() for text in results for line in str(text).splitlines()
            if line.strip() and line.strip() != "ok" and not line.startswith("***")]


def damaged(path: Path, problems: list[str]) -> CacheError:
    more = f"; {len(problems) - 1} more" if len(problems) > 1 else ""
    return CacheError(f"The local cache {path} is damaged (SQLite: {problems[0]}{more}).",
                      path, CacheProblem.DAMAGED)
