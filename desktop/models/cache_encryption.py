"""An earlier release's unencrypted cache, encrypted in place: all or nothing.

The cache may hold work that never reached the server, so the conversion follows the rule of
every upgrade (``database``): at any moment the file named ``casedesk.sqlite3`` is either the
whole old cache or the whole encrypted one.

1. The write-ahead log is folded into the file (nothing lives only in ``-wal``); a cache
   another process has open is not converted (that process could still write to it).
2. ``sqlcipher_export`` copies every table, index, trigger and row into a new file under a
   temporary name, encrypted with the folder's key.
3. The copy is checked: SQLCipher's page check, SQLite's integrity check, and the same row
   count in every table as the original.
4. The copy is synced to disk and renamed over the original (the emptied log files of the
   original go first), and the folder is synced.

Killed before the rename, the old cache is whole and the next start converts it again (the
half-made copy is removed first); killed after it, the encrypted cache is in place.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

from desktop.errors import CacheError, CacheProblem, DataFolderError
from desktop.models import cache_health
from desktop.models.cache_file import apply_key, connect
from desktop.models.cache_file import fsync_dir as _fsync_dir
from desktop.models.cache_file import fsync_file as _fsync_file

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm", "-journal")


def encrypt_in_place(path: Path, key: bytes) -> None:
    """Replace the unencrypted cache at *path* with an encrypted copy of it. A failure (a
    full disk, most often: the copy needs as much room as the cache) removes the half-made
    copy and leaves the cache as it was; the error names the file and the problem."""
    new = path.with_name(path.name + ".encrypting")
    try:
        _encrypt(path, new, key)
    except (CacheError, DataFolderError):
        _remove_with_side_files(new)
        raise
    except Exception as exc:
        found = cache_health.classify(exc, path)
        # sqlcipher_export reports SQLite's "database or disk is full" with a generic code.
        full = cache_health.disk_full(path) or "disk is full" in str(exc)
        _remove_with_side_files(new)
        if found is None and full:
            found = cache_health.classify(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                          path)
        if found is None:
            raise
        raise found from exc


def _encrypt(path: Path, new: Path, key: bytes) -> None:
    _remove_with_side_files(new)  # what a killed conversion left
    source = connect(path, None)
    try:
        busy, _, _ = source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise DataFolderError(
                f"The local cache {path} is in use by another Case Desk program, so it cannot "
                "be encrypted now. Close every Case Desk window and command, then start again.")
        counts = _row_counts(source)
        source.execute("ATTACH DATABASE ? AS sealed KEY ?", (str(new), f"x'{key.hex()}'"))
        source.execute("SELECT sqlcipher_export('sealed')")
        version = source.execute("PRAGMA main.user_version").fetchone()[0]
        source.execute(f"PRAGMA sealed.user_version = {int(version)}")
        source.execute("DETACH DATABASE sealed")
    finally:
        source.close()
    copy = connect(new, None)
    try:
        apply_key(copy, key)
        problems = (cache_health.cipher_integrity_check(copy)
                    + cache_health.integrity_check(copy))
        if not problems and _row_counts(copy) != counts:
            problems = ["the encrypted copy does not hold every row of the original"]
        copy.execute("PRAGMA journal_mode=DELETE")  # no log beside the copy when it moves
    finally:
        copy.close()
    if problems:
        _remove_with_side_files(new)
        raise CacheError(f"The local cache {path} could not be encrypted ({problems[0]}); it "
                         "was left as it was.", path, CacheProblem.DAMAGED)
    os.chmod(new, 0o600)
    _fsync_file(new)
    for suffix in SIDE_FILES:  # the original's log, emptied by the checkpoint above
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_size and suffix != "-shm":
            raise DataFolderError(f"The local cache {path} still has a log being written; "
                                  "it was not encrypted now.")
        side.unlink(missing_ok=True)
    os.replace(new, path)
    _fsync_dir(path.parent)
    log.info("cache encrypted (%d tables)", len(counts))


def _row_counts(conn: Any) -> dict[str, int]:
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in sorted(names)}


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
