"""Reads for the case list, on the encrypted cache: every page read from the file is decrypted
and checked, so the list's reads should find what earlier reads decrypted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from desktop.workspace import CaseQuery, Workspace


def test_reads_one_after_another_use_the_connection_used_last(tmp_path: Path) -> None:
    # Several connections exist once reads overlapped (a search while a page is read, a
    # sync); a read afterwards should get the one whose page cache was used last, not the one
    # that waited longest (with its own cold cache, decrypting the same pages again).
    with Workspace.open(tmp_path / "d") as ws:
        ws.create_case("Amara Okafor", 47, "female", "cough")
        held = [ws.engine.connect() for _ in range(3)]
        for connection in held:
            connection.exec_driver_sql("SELECT 1")
        for connection in held:
            connection.close()
        used: list[int] = []
        event.listen(ws.engine, "checkout",
                     lambda dbapi_connection, _record, _proxy: used.append(id(dbapi_connection)))
        for _ in range(3):
            ws.case_ids(CaseQuery(search="oka"), limit=256)
            ws.cases_by_id(ws.case_ids(CaseQuery()))
        assert len(set(used)) == 1


def test_decrypted_pages_are_kept_within_one_budget_for_all_connections(tmp_path: Path) -> None:
    # Each connection may keep a large page cache (a search at 100,000 cases finds its index
    # pages there), but the process as a whole keeps at most SQLITE_HEAP_LIMIT_KIB: several
    # connections each filling theirs made the window ~450 MiB at a million cases.
    from desktop.models.cache_file import SQLITE_HEAP_LIMIT_KIB

    with Workspace.open(tmp_path / "d") as ws:
        with ws.engine.connect() as connection:
            limit = connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar()
        assert limit == SQLITE_HEAP_LIMIT_KIB * 1024


def test_a_block_of_list_rows_reads_as_the_cases_themselves(tmp_path: Path) -> None:
    # The list's block read goes straight through the driver; every field must come back as
    # the ORM gives it (aware UTC times, parsed insights, None where nothing is stored).
    from datetime import UTC, datetime

    from desktop.models.tables import Case

    with Workspace.open(tmp_path / "d") as ws:
        plain = ws.create_case("Amara Okafor", 47, "female", "cough")
        rich = ws.create_case("Bruno Berger", 60, "male", None)
        with ws.transaction() as session:
            case = session.get(Case, rich.id)
            assert case is not None
            case.ai_insights = {"primary_diagnosis": "Pneumonia", "scores": [0.8, 0.9]}
            case.files_checked_at = datetime(2026, 11, 20, 14, 5, 7, 120000, tzinfo=UTC)
        found = ws.cases_by_id([plain.id, rich.id, "no-such-case"])
        assert found == {plain.id: ws.get_case(plain.id), rich.id: ws.get_case(rich.id)}
        assert found[rich.id].ai_insights == {"primary_diagnosis": "Pneumonia",
                                              "scores": [0.8, 0.9]}
        assert found[rich.id].updated_at.tzinfo is UTC
        assert ws.cases_by_id([]) == {}


def test_the_whole_file_check_reads_through_a_small_cache(tmp_path: Path, monkeypatch) -> None:
    # The window checks every page in the background once it is up. Each page is read once,
    # so a large cache only takes the shared budget from the list's reads (at a million
    # cases: ~850 MB decrypted); the shared connections keep their cache size and pages.
    from desktop.models import cache_health
    from desktop.workspace import SCAN_CACHE_KIB

    seen: list[int] = []
    real = cache_health.quick_check

    def watched(conn, tables=cache_health.STARTUP_TABLES):  # noqa: ANN001, ANN202
        seen.append(conn.execute("PRAGMA cache_size").fetchone()[0])
        return real(conn, tables)

    with Workspace.open(tmp_path / "d") as ws:
        ws.create_case("Amara Okafor", 47, "female", "cough")
        with ws.engine.connect() as connection:
            before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        monkeypatch.setattr(cache_health, "quick_check", watched)
        assert ws.check_pages() is None
        assert seen == [-SCAN_CACHE_KIB]
        with ws.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == before
