"""Bulk writes around the search index: a large pull's rows go in through the driver, and a
batch of updates has its index rows rewritten in bulk. Both must leave the same rows and the
same search results as the ordinary row-by-row path, and put the triggers back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.models.search import (
    BULK_THRESHOLD,
    UPDATE_BATCH_THRESHOLD,
    insert_cases,
    search_upkeep_batched,
)
from desktop.models.tables import Case, SyncState, new_id
from desktop.workspace import CaseQuery, Workspace


def rows(count: int, prefix: str) -> list[dict]:
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        base = {"patient_name": f"{prefix} {n}", "case_summary": f"cough day {n}"}
        out.append({
            "id": new_id(), "server_id": f"{prefix}-{n}", "numeric_id": str(n) if n % 2 else None,
            "patient_name": f"{prefix} {n}", "patient_age": n % 90, "patient_gender": "other",
            "status": "pending", "case_summary": f"cough day {n}",
            "created_at": now, "updated_at": now - timedelta(seconds=n),
            "server_created_at": "2026-01-01T00:00:00Z", "server_updated_at": None,
            "base": base, "sync_state": SyncState.SYNCED, "sync_error": None,
            "ai_insights": None if n % 3 else {"summary": f"s{n}"}, "detail_stale": True,
        })
    return out


def snapshot(case: Case) -> dict:
    return {k: getattr(case, k) for k in (
        "server_id", "numeric_id", "patient_name", "patient_age", "status", "case_summary",
        "created_at", "updated_at", "server_created_at", "server_updated_at", "base",
        "sync_state", "sync_error", "ai_insights", "detail_stale")}


def test_bulk_rows_read_back_like_ordinary_ones(tmp_path: Path) -> None:
    bulk = rows(BULK_THRESHOLD + 50, "Bulk")
    small = rows(5, "Small")
    with Workspace.open(tmp_path / "d") as ws:
        with ws.transaction() as s:
            insert_cases(s, bulk)  # through the driver
            insert_cases(s, small)  # through the ORM's Core insert
        with ws.sessions() as s:
            cases = {c.server_id: c for c in s.scalars(select(Case))}
            for row in bulk + small:
                got = snapshot(cases[row["server_id"]])
                expected = {k: row[k] for k in got}
                assert got == expected
        assert len(ws.case_ids(CaseQuery(search="cough"))) == len(bulk) + len(small)
        found = ws.case_ids(CaseQuery(search="Bulk day 123"))  # trigram index: a substring
        assert [ws.get_case(i).patient_name for i in found] == ["Bulk 123"]


def _schema(ws: Workspace) -> set[tuple[str, str]]:
    with ws.sessions() as s:
        return set(s.connection().exec_driver_sql(
            "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')").all())


def test_a_first_bulk_load_builds_the_list_indexes_after_its_rows(tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "d") as ws:
        before = _schema(ws)
        with ws.transaction() as s:
            insert_cases(s, rows(BULK_THRESHOLD * 2, "Kite"))  # into an empty table
        assert _schema(ws) == before
        with ws.sessions() as s:
            conn = s.connection()
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM cases ORDER BY updated_at DESC, id DESC, "
                "status LIMIT 5"))
            assert "ix_cases_list_order" in plan


def test_a_bulk_load_with_a_duplicate_server_id_writes_nothing(tmp_path: Path) -> None:
    import sqlalchemy.exc

    batch = rows(BULK_THRESHOLD + 10, "Rail")
    batch[-1]["server_id"] = batch[0]["server_id"]
    with Workspace.open(tmp_path / "d") as ws:
        before = _schema(ws)
        with pytest.raises(sqlalchemy.exc.IntegrityError), ws.transaction() as s:
            insert_cases(s, batch)
        assert _schema(ws) == before
        assert ws.count_cases(CaseQuery()) == 0
        with ws.sessions() as s:
            assert s.connection().exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def _triggers(ws: Workspace) -> set[str]:
    with ws.sessions() as s:
        return set(s.connection().exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())


def _rewrite_notes(ws: Workspace, server_ids: list[str], note: str) -> None:
    """Update the cases' notes inside search_upkeep_batched, as a pull's batched merge does."""
    with ws.transaction() as s:
        conn = s.connection()
        rowids = [conn.exec_driver_sql("SELECT rowid FROM cases WHERE server_id = ?",
                                       (sid,)).scalar() for sid in server_ids]
        with search_upkeep_batched(conn, rowids):
            conn.exec_driver_sql(
                "UPDATE cases SET case_summary = ? || ' ' || server_id WHERE server_id = ?",
                [(note, sid) for sid in server_ids])


@pytest.mark.parametrize("count", [UPDATE_BATCH_THRESHOLD - 1, UPDATE_BATCH_THRESHOLD + 9])
def test_batched_updates_leave_the_index_as_row_by_row_upkeep_would(
    tmp_path: Path, count: int
) -> None:
    with Workspace.open(tmp_path / "d") as ws:
        with ws.transaction() as s:
            insert_cases(s, rows(count + 20, "Heron"))
        before = _triggers(ws)
        edited = [f"Heron-{n}" for n in range(count)]
        _rewrite_notes(ws, edited, "osprey sighting")
        assert _triggers(ws) == before
        found = {ws.get_case(i).server_id for i in ws.case_ids(CaseQuery(search="osprey"))}
        assert found == set(edited)
        # The old notes are gone from the index for the edited rows only.
        assert ws.count_cases(CaseQuery(search="cough day")) == 20
        assert [ws.get_case(i).server_id
                for i in ws.case_ids(CaseQuery(search="osprey sighting Heron-17"))] == ["Heron-17"]
        # The FTS5 integrity check compares the index with its stored content.
        with ws.sessions() as s:
            s.connection().exec_driver_sql(
                "INSERT INTO cases_search(cases_search) VALUES ('integrity-check')")


def test_a_failed_batch_rolls_back_with_its_trigger_in_place(tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "d") as ws:
        with ws.transaction() as s:
            insert_cases(s, rows(UPDATE_BATCH_THRESHOLD + 5, "Ibis"))
        before = _triggers(ws)
        with pytest.raises(RuntimeError), ws.transaction() as s:
            conn = s.connection()
            rowids = list(conn.exec_driver_sql("SELECT rowid FROM cases").scalars())
            with search_upkeep_batched(conn, rowids):
                conn.exec_driver_sql("UPDATE cases SET case_summary = 'lost words'")
                assert "cases_search_update" not in set(conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
                raise RuntimeError("the disk went away")
        assert _triggers(ws) == before
        assert ws.count_cases(CaseQuery(search="lost words")) == 0
        assert ws.count_cases(CaseQuery(search="cough day")) == UPDATE_BATCH_THRESHOLD + 5
        # Row-by-row upkeep still works afterwards.
        some = ws.case_ids(CaseQuery())[0]
        ws.edit_case(some, case_summary="spoonbill")
        assert ws.case_ids(CaseQuery(search="spoonbill")) == [some]


@pytest.mark.parametrize("text", ["k", "Ki"])
def test_a_short_search_reads_the_name_index_alone(tmp_path: Path, text: str) -> None:
    # One or two letters match the start of the name; with the list order and the status in
    # that index, the ~4,000 names a letter starts with in 100,000 cases are never looked up
    # in the table (8 ms of a keystroke before, 1.3 ms after).
    with Workspace.open(tmp_path / "d") as ws:
        with ws.transaction() as s:
            insert_cases(s, rows(50, "Kite"))
        query = CaseQuery(search=text)
        stmt = query.order(query.apply(select(Case.id))).limit(256)
        compiled = stmt.compile(ws.engine)
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        with ws.sessions() as s:
            plan = " ".join(str(r[-1]) for r in s.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled), tuple(params)))
        assert "COVERING INDEX ix_cases_name_nocase_listed" in plan
        assert len(ws.case_ids(query, limit=256)) == 50


def test_the_list_indexes_of_a_pull_are_built_with_what_the_sort_leaves_of_the_budget(
    tmp_path: Path,
) -> None:
    """Each list index reads the whole table: a small load's table is held in the page cache
    while they are built (decrypted once, not once per index); a large load's sort takes the
    budget and the cache stays small, so a pull's memory does not grow with the list."""
    from desktop.models.search import case_loader, index_build_cache_kib

    assert index_build_cache_kib(10_000) > 12 * 1024  # a 10,000-case cache is ~9 MB in all
    for cases in (100_000, 1_000_000):  # their sort alone is 12 MiB and more
        assert index_build_cache_kib(cases) <= 3 * 1024

    count = BULK_THRESHOLD * 3
    new_rows = [(new_id(), f"Loon-{n}", None, f"Loon {n}", n % 90, "other", "cough", "pending",
                 "2026-01-01T00:00:00Z", f"2026-01-02T00:00:{n % 60:02d}Z") for n in range(count)]
    with Workspace.open(tmp_path / "data") as ws, ws.transaction() as s:
        db = s.connection().connection.dbapi_connection
        (before,) = db.execute("PRAGMA cache_size").fetchone()
        issued: list[str] = []
        db.set_trace_callback(issued.append)
        try:
            with case_loader(s, datetime.now(UTC)) as loader:
                loader.add(new_rows)
                loader.finish()
        finally:
            db.set_trace_callback(None)
        assert f"PRAGMA cache_size = -{index_build_cache_kib(count)}" in issued
        assert any(sql.startswith("CREATE INDEX") for sql in issued)
        assert db.execute("PRAGMA cache_size").fetchone() == (before,)  # put back
