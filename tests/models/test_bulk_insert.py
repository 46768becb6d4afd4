"""A large pull's rows go in through the driver, bypassing the ORM: they must read back exactly
as rows written the ordinary way, and be searchable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from desktop.models.search import BULK_THRESHOLD, insert_cases
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
