"""The first screenful of the case list, read straight from the cache file, read-only, before
the data layer (SQLAlchemy, the schema check) has loaded: the start window's first paint.

Qt-free, so that the key helper (``key_prefetch``), which has the cache's key first, reads
these rows in its own process, on the other core, while the window's process loads Qt: the
window then needs neither SQLCipher's library nor the read before its first paint. The start
window reads them itself when the helper has not (another sort, no helper, no key).

Nothing here writes: the file is opened read-only and only if it already exists at the schema
revision this release understands; anything else gives None, and the full start-up deals
with it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from desktop.models.schema_version import HEAD_REVISION

log = logging.getLogger(__name__)

PREVIEW_ROWS = 64  # more than a tall screen shows
# The list's sort when none was chosen (and the one the key helper reads ahead).
DEFAULT_SORT = ("updated", True)
# CaseQuery sort key → column of the cases table (tests keep it equal to Workspace's SORT_KEYS).
SORT_COLUMNS = {
    "name": "patient_name",
    "age": "patient_age",
    "gender": "patient_gender",
    "status": "status",
    "updated": "updated_at",
    "created": "created_at",
    "sync": "sync_state",
}

# patient_name, patient_age, patient_gender, status, updated_at (naive UTC text), sync_state
StoredRow = tuple[str, int | None, str | None, str, str, str]


def read_first_rows(cache: Path, key: bytes | None, sort: str = "updated",
                    descending: bool = True, limit: int = PREVIEW_ROWS
                    ) -> list[StoredRow] | None:
    """The first rows of the default list (archived hidden), as stored; None if the cache
    cannot be read as it is: not there yet, at another schema revision, locked or damaged.
    *key*: the cache's key, None for an unencrypted cache."""
    if sort not in SORT_COLUMNS or not cache.is_file() or cache.stat().st_size == 0:
        # Zero bytes: SQLite would delete the write-ahead log beside it on opening, and the
        # full start-up must see it to refuse the cache (see models.cache_health).
        return None
    import sqlcipher3.dbapi2 as sqlite3

    from desktop.models.cache_file import apply_key

    direction = "DESC" if descending else "ASC"
    # No write-ahead log beside the file (the app closed cleanly, nothing else has it open):
    # the file is all there is, and "immutable" reads it without creating -wal/-shm files.
    # Otherwise read-only through the log, which then holds the newest commits.
    wal = cache.with_name(cache.name + "-wal").exists()
    mode = "mode=ro" if wal else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{cache.absolute().as_uri()}?{mode}", uri=True, timeout=0.2)
    except sqlite3.Error:
        return None
    try:
        if key is not None:
            apply_key(conn, key)
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] != HEAD_REVISION:
            return None
        return conn.execute(
            "SELECT patient_name, patient_age, patient_gender, status, updated_at, sync_state "
            "FROM cases WHERE status != 'archived' AND removed_at IS NULL "
            f"ORDER BY {SORT_COLUMNS[sort]} {direction}, id {direction} LIMIT ?",
            (limit,),
        ).fetchall()
    except (sqlite3.Error, ValueError, TypeError) as exc:
        log.info("first glance: the cache cannot be read as it is (%s)", type(exc).__name__)
        return None
    finally:
        conn.close()
