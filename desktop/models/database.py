"""Opening the SQLite cache: pragmas for durability and concurrency, migration to head."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from desktop.errors import DataFolderError
from desktop.models.schema_version import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

CACHE_FILE = "casedesk.sqlite3"
# A cache already at HEAD_REVISION opens without loading Alembic at all (~200 ms of start-up).
MIGRATIONS = Path(__file__).with_name("migrations")


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # WAL lets the GUI read while a sync writes; FULL sync makes a commit survive power loss.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_cache_engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 10},
        # Error messages otherwise quote the statement's values (patient names, notes), and
        # errors reach the log file.
        hide_parameters=True,
    )
    event.listen(engine, "connect", _on_connect)
    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the cache to the newest schema; an app upgrade never loses data."""
    from alembic import command

    with engine.begin() as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def current_revision(path: Path) -> str | None:
    """The cache's schema revision, read without SQLAlchemy or Alembic (None when new)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return row[0] if row else None


def open_cache(path: Path) -> tuple[Engine, sessionmaker[Session]]:
    """Open (creating if needed) and migrate the cache at *path*, with private permissions."""
    existed = path.exists()
    try:
        engine = create_cache_engine(path)
        if current_revision(path) != HEAD_REVISION:
            migrate(engine)
    except Exception as exc:  # noqa: BLE001 - every failure here becomes one clear message
        log.exception("cannot open cache")
        raise DataFolderError(
            f"Cannot open the local cache {path}: {exc.__class__.__name__}. "
            "Check that the disk is not full and that the folder is yours."
        ) from exc
    if not existed:
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{path}{suffix}")
            if p.exists():
                os.chmod(p, 0o600)
    return engine, sessionmaker(engine, expire_on_commit=False)
