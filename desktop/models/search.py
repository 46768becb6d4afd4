"""The case search index (FTS5 trigram, created by migration 0002) and bulk loading around it.

A trigger keeps the index current row by row; for a first sync of thousands of cases that
per-row upkeep costs more than the inserts themselves, so ``insert_cases`` lifts the trigger
for the batch and indexes the new rows in one statement, inside the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from desktop.models.tables import Case

BULK_THRESHOLD = 200
_NOTHING = object()  # no value converted yet (None is a value)


def insert_cases(session: Session, rows: list[dict[str, Any]]) -> None:
    table = Case.__table__
    if len(rows) < BULK_THRESHOLD:
        session.execute(table.insert(), rows)
        return
    conn = session.connection()
    trigger = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'cases_search_insert'"
    ).scalar()
    if trigger is None:
        session.execute(table.insert(), rows)
        return
    last = conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM cases").scalar()
    conn.exec_driver_sql("DROP TRIGGER cases_search_insert")
    _insert_through_driver(conn, table, rows)
    conn.exec_driver_sql(
        "INSERT INTO cases_search(rowid, patient_name, case_summary) "
        "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases WHERE rowid > ?",
        (last,),
    )
    conn.exec_driver_sql(trigger)


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

