"""The case search index (FTS5 trigram, created by migration 0002) and bulk loading around it.

Triggers keep the index current row by row. Each trigger run makes FTS5 write its pending
terms out as a new segment (it syncs on every statement savepoint), so a trigger costs ~40 us
a row where the same work done in one statement for a batch costs ~7 us. ``insert_cases`` and
``search_upkeep_batched`` therefore lift the trigger for a batch and index its rows in bulk,
inside the same transaction: a failure rolls the lifted trigger back with everything else.
A first sync also builds the list indexes after its rows rather than row by row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from desktop.models.tables import Case

BULK_THRESHOLD = 200
# Lifting a trigger is a schema change (other connections re-read the schema): worth it from
# a few dozen rows.
UPDATE_BATCH_THRESHOLD = 32
_NOTHING = object()  # no value converted yet (None is a value)


def insert_cases(session: Session, rows: list[dict[str, Any]]) -> None:
    table = Case.__table__
    if len(rows) < BULK_THRESHOLD:
        session.execute(table.insert(), rows)
        return
    conn = session.connection()
    last, count = conn.exec_driver_sql(
        "SELECT coalesce(max(rowid), 0), count(*) FROM cases").one()
    lifted = ["cases_search_insert"]
    if count < len(rows):
        # Into a (nearly) empty table, as in a first sync: building the list indexes after
        # the rows costs a third of keeping them up row by row (sorted once, not searched
        # 10,000 times). The unique keys stay, so duplicates are still refused.
        lifted += conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' "
            "AND sql IS NOT NULL").scalars()
    with _schema_lifted(conn, lifted) as dropped:
        _insert_through_driver(conn, table, rows)
    if "cases_search_insert" in dropped:
        conn.exec_driver_sql(
            "INSERT INTO cases_search(rowid, patient_name, case_summary) "
            "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases WHERE rowid > ?",
            (last,),
        )


# A bulk load into a nearly empty table builds the list indexes after its rows. Building one
# sorts all its keys in memory (temp_store=MEMORY keeps decrypted keys out of temp files;
# about SORT_BYTES_PER_CASE a case, 100,000 cases: ~12 MiB). The build's memory is held to
# INDEX_BUILD_BUDGET_KIB: SQLite's page cache gets what the sort leaves of it, never less
# than INDEX_BUILD_CACHE_KIB. Each index (and then the search index) reads the whole table:
# a table that fits in the cache is decrypted once for all of them (10,000 cases: the build
# took ~35 ms less); a longer one is read through the small cache in order, once per index.
# Kept up row by row instead, the indexes of 100,000 cases outgrow a small cache and each
# insert reads and decrypts index pages again.
INDEX_BUILD_CACHE_KIB = 2048
INDEX_BUILD_BUDGET_KIB = 14 * 1024
SORT_BYTES_PER_CASE = 120
# What CaseLoader.add takes of each case first seen in a pull, in this order.
NEW_CASE_FIELDS = ("id", "server_id", "numeric_id", "patient_name", "patient_age",
                   "patient_gender", "case_summary", "status", "server_created_at",
                   "server_updated_at")
# One row per tuple, made by SQLite: the columns' defaults for absent values and the merge
# base (the server's values as listed) as JSON built in C, where converting each row through
# the table's types cost more than SQLite's own writing. A second listing of a server id
# already written is left out (the first stays).
_NEW_CASE_SQL = (
    "INSERT INTO cases (id, server_id, numeric_id, patient_name, patient_age, patient_gender, "
    "case_summary, status, created_at, updated_at, server_created_at, server_updated_at, "
    "base, sync_state, sync_error, ai_insights, detail_stale) "
    "VALUES (?1, ?2, ?3, coalesce(?4, ''), coalesce(?5, 0), coalesce(?6, ''), ?7, "
    "coalesce(nullif(?8, ''), 'pending'), {now}, {now}, ?9, ?10, "
    "json_object('patient_name', ?4, 'patient_age', ?5, 'patient_gender', ?6, "
    "'case_summary', ?7, 'status', ?8), {synced}, NULL, NULL, {stale}) "
    "ON CONFLICT (server_id) DO NOTHING"
)


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class CaseLoader:
    """New case rows written batch by batch as a pull reads them (see :func:`case_loader`)."""

    def __init__(self, session: Session, trigger: ExitStack, indexes: ExitStack,
                 now: datetime) -> None:
        self._session = session
        dialect = session.get_bind().dialect
        columns = Case.__table__.c

        def stored(column: Any, value: object) -> str:
            process = column.type.bind_processor(dialect)
            return _literal(process(value) if process is not None else value)

        self._sql = _NEW_CASE_SQL.format(
            now=stored(columns.created_at, now), synced=stored(columns.sync_state, "synced"),
            stale=stored(columns.detail_stale, True))
        self._trigger = trigger
        self._indexes = indexes
        self._last: int | None = None  # the highest rowid before the first bulk batch
        self._lifted: list[str] = []
        self.count = 0  # rows written (a server id listed twice counts once)

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Write *rows* (tuples of :data:`NEW_CASE_FIELDS`; a row whose server id is already
        in the table is left out), synced as the server listed them, their files unchecked. The first batch of :data:`BULK_THRESHOLD` rows or more lifts the search
        trigger until the end and, into a nearly empty table, the list indexes; smaller
        batches before it go row by row."""
        if not rows:
            return
        conn = self._session.connection()
        if self._last is None and len(rows) >= BULK_THRESHOLD:
            last, count = conn.exec_driver_sql(
                "SELECT coalesce(max(rowid), 0), count(*) FROM cases").one()
            self._last = last
            self._lifted = self._trigger.enter_context(
                _schema_lifted(conn, ["cases_search_insert"]))
            if count < len(rows):
                self._lifted += self._indexes.enter_context(_schema_lifted(conn, list(
                    conn.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                        "tbl_name = 'cases' AND sql IS NOT NULL").scalars())))
        self.count += int(conn.exec_driver_sql(self._sql, rows).rowcount)

    def finish(self) -> None:
        """Put back what was lifted and index the new rows for search in one statement."""
        if len(self._lifted) > 1:
            db = self._session.connection().connection.dbapi_connection
            (previous,) = db.execute("PRAGMA cache_size").fetchone()
            db.execute(f"PRAGMA cache_size = -{index_build_cache_kib(self.count)}")
            try:
                self._indexes.close()
            finally:
                db.execute(f"PRAGMA cache_size = {int(previous)}")
        self._trigger.close()
        if "cases_search_insert" in self._lifted:
            self._session.connection().exec_driver_sql(
                "INSERT INTO cases_search(rowid, patient_name, case_summary) "
                "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases "
                "WHERE rowid > ?", (self._last,))
        self._lifted = []


def index_build_cache_kib(cases: int) -> int:
    """SQLite's page cache while the list indexes of *cases* new rows are built (see
    INDEX_BUILD_BUDGET_KIB)."""
    return max(INDEX_BUILD_CACHE_KIB, INDEX_BUILD_BUDGET_KIB - cases * SORT_BYTES_PER_CASE // 1024)


@contextmanager
def case_loader(session: Session, now: datetime) -> Iterator[CaseLoader]:
    """A bulk load of new cases in batches, inside the caller's transaction, stamped *now*:
    ends with :meth:`CaseLoader.finish`; a failure on the way puts the lifted schema back (the
    caller's transaction then rolls back the rows)."""
    with ExitStack() as trigger, ExitStack() as indexes:
        yield CaseLoader(session, trigger, indexes, now)


@contextmanager
def search_upkeep_batched(conn: Connection, rowids: Sequence[int]) -> Iterator[None]:
    """Around UPDATEs of the case rows *rowids* (and no others) that may change their name or
    notes: the search index follows in two statements afterwards instead of row by row."""
    if len(rowids) < UPDATE_BATCH_THRESHOLD:
        yield
        return
    with _schema_lifted(conn, ["cases_search_update"]) as dropped:
        yield
    if dropped:
        listed = json.dumps(list(rowids))
        conn.exec_driver_sql(
            "DELETE FROM cases_search WHERE rowid IN (SELECT value FROM json_each(?))", (listed,)
        )
        conn.exec_driver_sql(
            "INSERT INTO cases_search(rowid, patient_name, case_summary) "
            "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases "
            "WHERE rowid IN (SELECT value FROM json_each(?))",
            (listed,),
        )


@contextmanager
def _schema_lifted(conn: Connection, names: list[str]) -> Iterator[list[str]]:
    """Drop the triggers and indexes *names* for the block and create them again after, even
    when the block fails (the caller's transaction then rolls back; a caller that carried on
    would keep them). Yields the names that existed and were dropped."""
    found = conn.exec_driver_sql(
        "SELECT name, type, sql FROM sqlite_master WHERE name IN "
        "(SELECT value FROM json_each(?))", (json.dumps(names),)
    ).all()
    for name, kind, _ in found:
        conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
    try:
        yield [name for name, _, _ in found]
    finally:
        for _, _, sql in found:
            conn.exec_driver_sql(sql)


def _insert_through_driver(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``table.insert()`` for many rows of the same keys, with each column's bind processing
    done once per distinct value object: a pull stamps every row with the same datetimes and
    the same empty JSON, and converting those 10,000 times was a third of a first sync."""
    columns = list(rows[0])
    processed = [
        (index, process)
        for index, name in enumerate(columns)
        if (process := table.c[name].type.bind_processor(conn.dialect)) is not None
    ]
    last: dict[int, tuple[object, object]] = {}
    params = []
    for row in rows:
        values = [row[name] for name in columns]
        for index, process in processed:
            value = values[index]
            seen, converted = last.get(index, (_NOTHING, None))
            if value is not seen:
                converted = process(value)
                last[index] = (value, converted)
            values[index] = converted
        params.append(tuple(values))
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", params)

