"""Opening the SQLite cache: pragmas for durability and concurrency, migration to head.

Creating and upgrading the cache is all-or-nothing. SQLite can change its schema inside a
transaction, but Python's sqlite3 module (in its default mode) starts a transaction only
before INSERT, UPDATE and DELETE, so each CREATE or DROP would commit on its own and a kill
half-way through left a half-made revision that every later start tripped over. So:

- an upgrade runs every migration step and the new revision stamp inside one explicit
  ``BEGIN IMMEDIATE ... COMMIT``: killed or out of space at any point, the old revision is
  still there, whole, and the next start upgrades it again;
- a new cache is made under a temporary name, migrated in the same way, closed and synced,
  then renamed into place: the cache file either does not exist yet or is complete.

A cache that is missing, empty or unreadable in a data folder that shows it was used is
refused with a :class:`CacheError`, never recreated over (see ``cache_health``).

Given the folder's key, the cache is a SQLCipher 4 database (``sqlcipher3``, which carries
its own SQLCipher build): every page, the write-ahead log included, is encrypted with the
raw 256-bit key (no passphrase stretching on each connection). A cache that does not open with
that key is refused, never made anew. An unencrypted cache of an earlier release is converted
first (``cache_encryption``), all or nothing. Without a key (the benchmarks' unencrypted
baseline) the same file format is plain SQLite.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlcipher3.dbapi2 as dbapi
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from desktop.errors import CacheError, CacheProblem, DataFolderError
from desktop.models import cache_health
from desktop.models.cache_file import apply_key, connect  # noqa: F401 - re-exported
from desktop.models.cache_file import fsync_dir as _fsync_dir
from desktop.models.cache_file import fsync_file as _fsync_file
from desktop.models.cache_health import FileState
from desktop.models.schema_version import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

CACHE_FILE = "casedesk.sqlite3"
# A cache already at HEAD_REVISION opens without loading Alembic at all (~200 ms of start-up).
MIGRATIONS = Path(__file__).with_name("migrations")
SIDE_FILES = ("-wal", "-shm", "-journal")


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the GUI read while a sync writes; FULL sync makes a commit survive power loss.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Sorts and temporary tables stay in memory: nothing decrypted reaches a temp file.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: Set in a connection's info while it runs a transaction whose commit is not flushed at once
#: (``Workspace.transaction(flushed=False)``); the connection flushes again before reuse.
UNFLUSHED = "casedesk_unflushed"


def _flushing_again(dbapi_connection: Any, record: Any) -> None:
    """A connection that committed without a flush is handed back set to flush every commit
    (synchronous=FULL) again; one that cannot be set so is closed, never reused."""
    if dbapi_connection is None or not record.info.pop(UNFLUSHED, False):
        return
    try:
        dbapi_connection.execute("PRAGMA synchronous=FULL")
    except Exception as exc:  # noqa: BLE001 - closed below: never reused unflushed
        log.warning("a cache connection could not be set to flush again (%s); closed",
                    type(exc).__name__)
        record.invalidate()


# Rows a connection writes before it gives up its decrypted pages. Below it (a save, a sync
# recording one answer), the few pages written are the ones the next such write reads again:
# shedding them after each of 200 creates' answers made each answer's record decrypt its
# pages anew, 0.2 ms of its 0.55.
SHED_AFTER_ROWS = 256


def _shed_written_pages(dbapi_connection: Any, record: Any) -> None:
    """A connection back from writing many rows gives up its decrypted pages: all connections
    share one budget for them (``cache_file.SQLITE_HEAP_LIMIT_KIB``), and a sync that wrote
    100,000 rows would otherwise hold all of it, leaving the list's reads to decrypt every
    page again. Reads keep theirs (the list's next search finds its index pages there), and
    so do writes until ``SHED_AFTER_ROWS`` rows since the last shedding."""
    if dbapi_connection is None:
        return
    try:
        changes = dbapi_connection.total_changes
    except Exception:  # noqa: BLE001 - a closed connection: nothing to give up
        return
    seen = record.info.get("changes_seen", 0)
    if changes < seen:  # a new connection in this record: counted from its start
        seen = record.info["changes_seen"] = 0
    if changes - seen >= SHED_AFTER_ROWS:
        record.info["changes_seen"] = changes
        try:
            dbapi_connection.execute("PRAGMA shrink_memory")
        except Exception:  # noqa: BLE001 - only memory; the pool's own reset follows
            log.debug("shrink_memory failed", exc_info=True)


def create_cache_engine(path: Path, read_only: CacheProblem | None = None,
                        key: bytes | None = None, cache_kib: int | None = None) -> Engine:
    """An engine on the cache file (encrypted with *key*, when given). *read_only* (why: the
    file or its folder cannot be written, or the disk is full): the file is opened
    read-only, and, with no write-ahead log content beside it, as immutable: SQLite could
    not make the log's index file, and there is nothing in a log to read. *cache_kib*: each
    connection's page cache, where not the default."""
    target, as_uri = str(path), False
    if read_only is not None:
        target, as_uri = cache_health.read_only_uri(path), True

    def creator() -> Any:
        conn = connect(target, key, uri=as_uri)
        if cache_kib is not None:
            conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        return conn

    engine = create_engine(
        f"sqlite:///{path}",
        module=dbapi,
        creator=creator,
        # Error messages otherwise quote the statement's values (patient names, notes), and
        # errors reach the log file.
        hide_parameters=True,
        # The connection used last is handed out next: its page cache holds what the last
        # reads decrypted, so the list's next search or page finds its index pages there
        # instead of decrypting them again on whichever connection waited longest.
        pool_use_lifo=True,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "checkin", _flushing_again)
    if key is not None:
        event.listen(engine, "checkin", _shed_written_pages)

    def named_failure(context: ExceptionContext) -> CacheError | None:
        # Disk full, read-only, damaged pages: one typed error naming the file.
        found = cache_health.classify(context.original_exception, path)
        if found is not None and read_only is not None and found.problem is CacheProblem.READ_ONLY:
            found = cache_health.refused_write(path, read_only)  # opened read-only: say why
        return found

    event.listen(engine, "handle_error", named_failure)
    if read_only is not None:
        _READ_ONLY[engine] = read_only
    return engine


_READ_ONLY: weakref.WeakKeyDictionary[Engine, CacheProblem] = weakref.WeakKeyDictionary()


def read_only_because(engine: Engine) -> CacheProblem | None:
    """Why the cache was opened read-only (None: it was opened for writing)."""
    return _READ_ONLY.get(engine)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, target: str = "head") -> None:
    """Bring the cache to *target* in one transaction: every step or none of them."""
    from alembic import command

    with engine.connect() as connection:
        # Explicit, so that DDL is inside it too (see the module docstring); Alembic sees a
        # transaction already open and runs every step and the stamp within it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)
        connection.commit()


def create_cache(path: Path, target: str = "head", key: bytes | None = None) -> None:
    """A new cache at *path* (encrypted with *key*), appearing whole or not at all."""
    new = path.with_name(path.name + ".new")
    for suffix in ("", *SIDE_FILES):
        Path(f"{new}{suffix}").unlink(missing_ok=True)  # what a killed creation left
    engine = create_cache_engine(new, key=key)
    try:
        migrate(engine, target)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    if any(Path(f"{new}{suffix}").exists() for suffix in ("-wal", "-journal")):
        raise DataFolderError(f"Could not finish creating the local cache {path}.")
    Path(f"{new}-shm").unlink(missing_ok=True)
    os.chmod(new, 0o600)
    _fsync_file(new)
    os.replace(new, path)
    _fsync_dir(path.parent)
    log.info("cache created at revision %s", target)


def current_revision(engine: Engine) -> tuple[str | None, int]:
    """(schema revision, case rows): (None, rows) for a database Case Desk never finished,
    (revision, 0) otherwise. Read without SQLAlchemy or Alembic machinery."""
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        revision = None
        if "alembic_version" in names:
            row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        rows = 0
        if revision is None and "cases" in names:  # only then does it matter
            rows = raw.execute("SELECT count(*) FROM cases").fetchone()[0]
        connection.rollback()
    return revision, int(rows)


def open_cache(
    path: Path, signs_of_use: Callable[[], list[str]] | None = None, key: bytes | None = None
) -> tuple[Engine, sessionmaker[Session]]:
    """Open (creating if needed) and migrate the cache at *path*, encrypted with *key*.

    *signs_of_use* lists what shows the data folder was in use (documents stored, a sync
    run, the folder's record); with any, a missing, empty or unreadable cache is refused
    instead of replaced. Raises CacheError, or DataFolderError for anything else.
    """
    signs = signs_of_use or (lambda: [])
    try:
        engine = _open(path, signs, key)
    except CacheError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure here becomes one clear message
        found = cache_health.classify(exc, path)
        if found is not None:
            raise found from exc
        log.exception("cannot open cache")
        raise DataFolderError(
            f"Cannot open the local cache {path}: {exc.__class__.__name__}."
        ) from exc
    return engine, sessionmaker(engine, expire_on_commit=False)


def _open(path: Path, signs: Callable[[], list[str]], key: bytes | None) -> Engine:
    state = cache_health.file_state(path)
    if state is FileState.MISSING:
        used = signs()
        if used:
            raise CacheError(
                f"The local cache {path} is missing, but this data folder was in use "
                f"({'; '.join(used)}). A new, empty cache was not made in its place.",
                path, CacheProblem.MISSING)
        create_cache(path, key=key)
    elif state is FileState.ZERO_LENGTH:
        _set_aside_unused(path, "is empty (zero bytes)", signs(), wal_counts=True, key=key)
    elif state is FileState.NOT_A_DATABASE and key is None:
        raise CacheError(f"The local cache {path} is not a database (its first bytes are not "
                         "SQLite's).", path, CacheProblem.UNREADABLE)
    elif state is FileState.DATABASE and key is not None:
        # An earlier release's unencrypted cache: encrypted in place, all or nothing.
        from desktop.models.cache_encryption import encrypt_in_place

        encrypt_in_place(path, key)
    read_only = None
    if not cache_health.writable(path.parent) or not cache_health.writable(path):
        read_only = CacheProblem.READ_ONLY
    try:
        return _open_database(path, signs, read_only, key)
    except CacheError as exc:
        if exc.problem is not CacheProblem.DISK_FULL or read_only is not None:
            raise
    # A full disk: SQLite cannot even make the log's index file. Reading needs no space.
    log.warning("disk full: opening the cache read-only")
    return _open_database(path, signs, CacheProblem.DISK_FULL, key)


def _open_database(path: Path, signs: Callable[[], list[str]],
                   read_only: CacheProblem | None, key: bytes | None) -> Engine:
    engine = create_cache_engine(path, read_only=read_only, key=key)
    try:
        try:
            revision, rows = current_revision(engine)
        except Exception as exc:
            found = cache_health.classify(exc, path)
            if key is not None and found is not None and found.problem is CacheProblem.UNREADABLE:
                raise cache_health.wrong_key(path) from exc
            raise
        if revision is None:
            engine.dispose()
            # What an interrupted first start of an earlier release left (its steps
            # committed one by one), or a cache emptied by damage.
            used = signs() + ([f"{rows} case(s) in it"] if rows else [])
            _set_aside_unused(path, "has no Case Desk revision", used, wal_counts=False,
                              key=key)
            engine = create_cache_engine(path, key=key)
        elif revision != HEAD_REVISION:
            if read_only is CacheProblem.DISK_FULL:
                raise CacheError(
                    f"The local cache {path} is from an earlier release and must be upgraded, "
                    "but the disk holding it is full.", path, CacheProblem.DISK_FULL)
            if read_only is not None:
                raise CacheError(
                    f"The local cache {path} is from an earlier release and must be upgraded, "
                    "but it cannot be written here (read-only file or folder).",
                    path, CacheProblem.OUTDATED)
            migrate(engine)
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            problems = cache_health.quick_check(raw)
            connection.rollback()
        if problems:
            raise cache_health.damaged(path, problems)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _set_aside_unused(path: Path, what: str, used: list[str], wal_counts: bool,
                      key: bytes | None = None) -> None:
    """An empty cache: refused where the folder shows use; otherwise left by an interrupted
    first start, so it is moved aside (never deleted) and a new one made."""
    wal = Path(f"{path}-wal")
    if wal_counts and wal.exists() and wal.stat().st_size > 0:
        used = [*used, "a write-ahead log with changes beside it"]
    if used:
        raise CacheError(
            f"The local cache {path} {what}, but this data folder was in use "
            f"({'; '.join(used)}). It was left as it is, not replaced.",
            path, CacheProblem.EMPTY)
    aside = move_aside(path, "incomplete")
    log.warning("unfinished cache moved aside to %s; making a new one", aside.name)
    create_cache(path, key=key)


def move_aside(path: Path, label: str) -> Path:
    """Rename the cache (and its log files) to ``<name>.<label>-<UTC time>``; the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{label}-{stamp}-{n}")
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, f"{aside}{suffix}")
    os.replace(path, aside)
    _fsync_dir(path.parent)
    return aside
