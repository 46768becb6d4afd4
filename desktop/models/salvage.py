"""Copying what SQLite can still read out of a damaged cache into a new one.

A damaged page makes a plain ``SELECT`` fail part-way, so each table is read in rowid order
and, where a read fails, the reader steps over the damaged stretch (probing further ahead,
then back to the first rowid that reads) and carries on: one bad page costs the rows on it,
not the table. Tables are read without their indexes (an index is a second, possibly damaged
copy of what the table holds), the outbox first.

Rows are written into a cache freshly made at the newest schema, columns matched by name (a
cache from an earlier release has fewer). What cannot stand on its own afterwards — a queued
change, a document or a conflict whose case was lost — is counted as lost. Work whose outbox
row was lost but whose case survived is queued again: a case never sent gets its create
back, a document never uploaded its upload, a case whose values differ from the last
server copy an update of those fields.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.models.cache_health import DATABASE_ERRORS

log = logging.getLogger(__name__)

# Read in this order: the work not yet on the server first.
TABLES = ("pending_changes", "cases", "documents", "conflicts", "sync_meta")
# Written in this order (parents before children).
WRITE_ORDER = ("sync_meta", "cases", "documents", "pending_changes", "conflicts")
BATCH = 256
MATCH_FIELDS = ("patient_name", "patient_age", "patient_gender", "case_summary")
FAR = 1 << 40  # beyond any rowid a cache will reach


@dataclass
class TableSalvage:
    """One table: rows copied, stretches of rowids that could not be read, and whether the
    table could be found at all."""

    recovered: int = 0
    unreadable: list[tuple[int, int]] = field(default_factory=list)  # (first, last) rowids
    missing: bool = False
    dropped: int = 0  # read, but lost with the row it belonged to
    read: int = 0  # rows read from the table itself
    indexed: int = 0  # the most rows any readable index of the table lists

    @property
    def lost(self) -> int:
        """Rows the old cache shows it had (through an index) that are not in the new one: a
        lower bound, as a damaged stretch may hold rows no index lists either. Counted from
        what was kept, not what was read: a damaged page can read as rows that were never
        there (they clash with real ones and are dropped), which must not hide a loss."""
        return max(0, self.indexed - max(self.recovered, 0))

    @property
    def complete(self) -> bool:
        return not self.unreadable and not self.missing and not self.lost


@dataclass
class SalvageResult:
    tables: dict[str, TableSalvage] = field(default_factory=dict)
    requeued: dict[str, int] = field(default_factory=dict)  # outbox kind -> rows re-made
    schema_readable: bool = True
    blobs_named: set[str] = field(default_factory=set)


def salvage(damaged: Path, target: Path, source_key: bytes | None = None,
            target_key: bytes | None = None) -> SalvageResult:
    """Copy every readable row of *damaged* into *target* (a new cache at the newest
    schema), each opened with its key (None: unencrypted). *damaged* is only read."""
    from desktop.models.database import connect

    result = SalvageResult()
    src = _Reopening(lambda: connect(f"{damaged.absolute().as_uri()}?mode=ro", source_key,
                                     uri=True))
    dst = connect(target, target_key)
    dst.isolation_level = None
    try:
        src_columns = _columns(src, result)
        dst.execute("PRAGMA foreign_keys=OFF")
        dst.execute("BEGIN IMMEDIATE")
        read: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
        for table in TABLES:
            outcome = result.tables[table] = TableSalvage()
            columns = [c for c in src_columns.get(table, []) if c in _table_columns(dst, table)]
            if not columns:
                outcome.missing = True
                continue
            rows = list(_readable_rows(src, table, columns, outcome))
            outcome.read, outcome.indexed = len(rows), _indexed_count(src, table)
            read[table] = (columns, rows)
        for table in WRITE_ORDER:
            if table not in read:
                continue
            columns, rows = read[table]
            marks = ", ".join("?" for _ in columns)
            # A damaged page can read as rows that clash with others (a repeated id): the
            # first one stays, the others count as lost with what they belonged to.
            dst.executemany(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES "
                            f"({marks})", rows)
            outcome = result.tables[table]
            outcome.recovered = dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            outcome.dropped = len(rows) - outcome.recovered
        _drop_orphans(dst, result)
        _requeue(dst, result)
        result.blobs_named = {row[0] for row in dst.execute(
            "SELECT sha256 FROM documents WHERE sha256 IS NOT NULL")}
        dst.execute("COMMIT")
    finally:
        src.close()
        dst.close()
    return result


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _Reopening:
    """The damaged cache, read through a connection made anew after each failed read:
    SQLCipher keeps a connection in error once a page fails its check, which would make
    every later read fail too, and hide what the other pages still hold."""

    def __init__(self, opener: Any) -> None:
        self._open = opener
        self._conn = opener()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _Rows:
        try:
            return _Rows(self._conn.execute(sql, params).fetchall())
        except DATABASE_ERRORS:
            self._conn.close()
            self._conn = self._open()
            raise

    def close(self) -> None:
        self._conn.close()


def _columns(src: Any, result: SalvageResult) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table in TABLES:
        try:
            columns[table] = [row[1] for row in src.execute(f"PRAGMA table_info({table})")]
        except DATABASE_ERRORS:
            result.schema_readable = False
            columns[table] = []
    return columns


def _table_columns(conn: Any, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _readable_rows(
    src: Any, table: str, columns: list[str], outcome: TableSalvage
) -> Iterator[tuple[object, ...]]:
    """Every row that reads, in rowid order, stepping over damaged stretches: a batch that
    fails is read again row by row up to the damage, which is then stepped over."""
    select = (f"SELECT rowid, {', '.join(columns)} FROM {table} NOT INDEXED "
              "WHERE rowid >= ? ORDER BY rowid LIMIT ?")
    after, limit = -FAR, BATCH
    while True:
        try:
            # ">= after + 1", not "> after": a seek to *after* itself would land on the
            # damaged page that ended the last stretch.
            batch = src.execute(select, (after + 1, limit)).fetchall()
        except DATABASE_ERRORS:
            if limit > 1:
                limit = 1
                continue
            resume = _next_readable(src, table, after)
            outcome.unreadable.append((after + 1, FAR if resume is None else resume - 1))
            if resume is None:
                return
            after, limit = resume - 1, BATCH
            continue
        if not batch:
            return
        for row in batch:
            yield tuple(row[1:])
        after = batch[-1][0]


def _indexed_count(src: Any, table: str) -> int:
    """How many rows the table's whole-table indexes list (the largest count that reads)."""
    try:
        names = [row[0] for row in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND"
            " (sql IS NULL OR sql NOT LIKE '% WHERE %')", (table,))]
    except DATABASE_ERRORS:
        return 0
    best = 0
    for name in names:
        try:
            count = src.execute(f'SELECT count(*) FROM {table} INDEXED BY "{name}"').fetchone()[0]
        except DATABASE_ERRORS:
            continue
        best = max(best, int(count))
    return best


def _reads_from(src: Any, table: str, start: int) -> bool:
    """Whether the first row at or after rowid *start* reads (or there is none)."""
    try:
        src.execute(f"SELECT * FROM {table} NOT INDEXED WHERE rowid >= ? ORDER BY rowid "
                    "LIMIT 1", (start,)).fetchall()
    except DATABASE_ERRORS:
        return False
    return True


def _next_readable(src: Any, table: str, after: int) -> int | None:
    """The smallest rowid past *after* from which the table reads again (None: nowhere)."""
    step = 1
    bad = after + 1
    while not _reads_from(src, table, after + step):
        bad = after + step
        step *= 2
        if after + step > FAR:
            return None
    good = after + step
    while good - bad > 1:  # the first readable start between the last failure and success
        middle = (bad + good) // 2
        if _reads_from(src, table, middle):
            good = middle
        else:
            bad = middle
    return good


def _drop_orphans(dst: Any, result: SalvageResult) -> None:
    """Rows that lost what they belong to cannot stand alone: count them as lost."""
    checks = {
        "documents": "case_id NOT IN (SELECT id FROM cases)",
        "pending_changes": "case_id NOT IN (SELECT id FROM cases) OR (document_id IS NOT NULL"
                           " AND document_id NOT IN (SELECT id FROM documents))",
        "conflicts": "case_id NOT IN (SELECT id FROM cases)",
    }
    for table, orphan in checks.items():
        cursor = dst.execute(f"DELETE FROM {table} WHERE {orphan}")
        if table in result.tables:
            result.tables[table].dropped += cursor.rowcount
            result.tables[table].recovered -= cursor.rowcount


def _same(a: object, b: object) -> bool:
    """Equal, an empty note and no note being the same (as the sync's merge has it)."""
    return a == b or (a in (None, "") and b in (None, ""))


def _requeue(dst: Any, result: SalvageResult) -> None:
    """Work that survived without its outbox row goes back in the outbox."""
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    creates = 0
    for case_id, created, *fields in dst.execute(
        "SELECT id, created_at, patient_name, patient_age, patient_gender, case_summary"
        " FROM cases WHERE server_id IS NULL AND id NOT IN"
        " (SELECT case_id FROM pending_changes WHERE kind = 'create_case')").fetchall():
        # As if sent once: the next sync looks for it on the server before sending it.
        payload = {"fields": dict(zip(MATCH_FIELDS, fields, strict=True)),
                   "sent_at": str(created).replace(" ", "T") + "+00:00"}
        dst.execute(
            "INSERT INTO pending_changes (kind, case_id, seq, state, attempts, in_flight,"
            f" payload, created_at, updated_at) VALUES ('create_case', ?, 1, 'queued', 0, 1,"
            f" ?, {now}, {now})", (case_id, json.dumps(payload)))
        creates += 1
    uploads = dst.execute(
        "INSERT INTO pending_changes (kind, case_id, document_id, seq, state, attempts,"
        f" in_flight, created_at, updated_at) SELECT 'upload_document', case_id, id, 1,"
        f" 'queued', 0, 1, {now}, {now} FROM documents"
        " WHERE server_file_id IS NULL AND sha256 IS NOT NULL AND id NOT IN"
        " (SELECT document_id FROM pending_changes WHERE document_id IS NOT NULL)").rowcount
    updates = 0
    editable = ("patient_name", "patient_age", "case_summary", "status")
    rows = dst.execute(
        f"SELECT id, base, {', '.join(editable)} FROM cases WHERE server_id IS NOT NULL"
        " AND base IS NOT NULL AND id NOT IN"
        " (SELECT case_id FROM pending_changes WHERE kind = 'update_case')").fetchall()
    for case_id, base_text, *values in rows:
        try:
            base = json.loads(base_text)
        except (TypeError, ValueError):
            continue
        dirty = [name for name, value in zip(editable, values, strict=True)
                 if name in base and not _same(base[name], value)]
        if dirty:
            dst.execute(
                "INSERT INTO pending_changes (kind, case_id, fields, seq, state, attempts,"
                f" in_flight, created_at, updated_at) VALUES ('update_case', ?, ?, 1,"
                f" 'queued', 0, 0, {now}, {now})", (case_id, json.dumps(sorted(dirty))))
            updates += 1
    # In flight: the server may already have a lost create or upload; the next sync looks
    # for it there before sending it again.
    result.requeued = {"create_case": creates, "upload_document": uploads,
                       "update_case": updates}
    dst.execute("UPDATE cases SET sync_state = 'pending', sync_error = NULL WHERE sync_state ="
                " 'synced' AND id IN (SELECT case_id FROM pending_changes)")
