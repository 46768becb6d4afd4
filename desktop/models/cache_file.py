"""Opening the cache file at the DB-API level, and making what was written to it durable.

Shared by the engine (``database``), the conversion of an earlier release's cache
(``cache_encryption``) and repair, which all open the file the same way: through
``sqlcipher3`` (SQLCipher 4, its own build in the wheel), keyed before the first read when
the cache is encrypted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as dbapi


def connect(path: Path | str, key: bytes | None, uri: bool = False, timeout: float = 10) -> Any:
    """A DB-API connection on the cache, keyed first when it is encrypted."""
    conn = dbapi.connect(str(path), uri=uri, check_same_thread=False, timeout=timeout)
    if key is not None:
        apply_key(conn, key)
        # Every page read from the file is decrypted and its HMAC checked: a page cache big
        # enough for the list's indexes at 100,000 cases keeps a search from paying that on
        # each keystroke (the OS's cache serves an unencrypted file for free).
        conn.execute(f"PRAGMA cache_size = -{ENCRYPTED_CACHE_KIB}")
        # ... but all connections together keep at most this much: past it, a connection
        # reuses its least recently used pages instead of growing (process-wide). Several
        # connections each filling 64 MiB made the window 450 MiB at a million cases.
        conn.execute(f"PRAGMA soft_heap_limit = {SQLITE_HEAP_LIMIT_KIB * 1024}")
    return conn


ENCRYPTED_CACHE_KIB = 64 * 1024
SQLITE_HEAP_LIMIT_KIB = 48 * 1024  # the list's working set at 100,000 cases fits (~45 MB)


def apply_key(conn: Any, key: bytes) -> None:
    """SQLCipher's raw-key form: the 256-bit key as is, no passphrase derivation."""
    conn.execute("PRAGMA cipher_log_level = NONE")  # its own log goes to stderr otherwise
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
