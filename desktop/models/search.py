"""The case search index (FTS5 trigram, created by migration 0002) and bulk loading around it.

A trigger keeps the index current row by row; for a first sync of thousands of cases that
per-row upkeep costs more than the inserts themselves, so ``insert_cases`` lifts the trigger
for the batch and indexes the new rows in one statement, inside the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from desktop.models.tables import Case

BULK_THRESHOLD = 200


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
    session.execute(table.insert(), rows)
    conn.exec_driver_sql(
        "INSERT INTO cases_search(rowid, patient_name, case_summary) "
        "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases WHERE rowid > ?",
        (last,),
    )
    conn.exec_driver_sql(trigger)
