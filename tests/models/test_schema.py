"""The cache's schema belongs to Alembic; the models must agree with it exactly."""

from __future__ import annotations

import os
import sqlite3
import stat

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from desktop import datafolder
from desktop.models.database import HEAD_REVISION, alembic_config, open_cache
from desktop.models.tables import Base, is_modelled
from desktop.workspace import Workspace


def test_migrated_schema_equals_models(tmp_path):
    engine, _ = open_cache(tmp_path / "c.sqlite3")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": is_modelled})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_open_upgrades_to_head_and_records_revision(tmp_path):
    engine, _ = open_cache(tmp_path / "c.sqlite3")
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == HEAD_REVISION  # the fast path (skip Alembic at head) must know the head
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_pragmas_wal_foreign_keys_busy_timeout(tmp_path):
    engine, _ = open_cache(tmp_path / "c.sqlite3")
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_reopen_keeps_data(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Jane Smith", 32, "female")
    with Workspace.open(tmp_path / "d") as ws:
        assert ws.get_case(case.id).patient_name == "Jane Smith"


def test_data_folder_private_permissions(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        ws.create_case("A B", 1, "male")
        root = ws.folder.root
    for folder in (root, root / "blobs", root / "logs"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(root / "casedesk.sqlite3").st_mode) == 0o600


def test_data_folder_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEDESK_DATA_DIR", str(tmp_path / "env"))
    assert datafolder.resolve(tmp_path / "flag") == tmp_path / "flag"
    assert datafolder.resolve(None) == tmp_path / "env"
    monkeypatch.delenv("CASEDESK_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert datafolder.resolve(None, "clinic-a") == tmp_path / "xdg" / "casedesk" / "clinic-a"
    assert datafolder.resolve(None).name == "local"


def test_foreign_keys_enforced(tmp_path):
    engine, _ = open_cache(tmp_path / "c.sqlite3")
    raw = sqlite3.connect(tmp_path / "c.sqlite3")
    raw.execute("PRAGMA foreign_keys=ON")
    try:
        raw.execute(
            "INSERT INTO documents (id, case_id, name, mime_type, size, category, state, added_at)"
            " VALUES ('d', 'missing', 'x', 'a/b', 1, 'lab', 'local_only', '2026-01-01')"
        )
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("foreign key not enforced")
    finally:
        raw.close()


def test_upgrade_from_first_release_keeps_data_and_indexes_it(tmp_path):
    """An app upgrade migrates an existing cache in place; nothing typed before is lost."""
    from alembic import command

    from desktop.models.database import create_cache_engine
    from desktop.workspace import CaseQuery

    path = tmp_path / "d" / "casedesk.sqlite3"
    path.parent.mkdir()
    engine = create_cache_engine(path)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO cases (id, patient_name, patient_age, patient_gender, case_summary,"
            " status, created_at, updated_at, sync_state, detail_stale)"
            " VALUES ('c1', 'Old Patient', 50, 'male', 'typed before the upgrade', 'pending',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'pending', 1)"
        )
    engine.dispose()
    with Workspace.open(tmp_path / "d") as ws:
        assert ws.get_case("c1").case_summary == "typed before the upgrade"
        assert [c.id for c in ws.list_cases(CaseQuery(search="before the"))] == ["c1"]


def test_database_errors_do_not_quote_patient_data(tmp_path):
    """Exceptions end up in the log file; their text must not carry the values written."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from desktop.models.tables import Case

    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Jane Confidential", 32, "female", "private note")
        with pytest.raises(IntegrityError) as info, ws.transaction() as session:
            session.add(Case(id=case.id, patient_name="Jane Confidential", patient_age=32,
                             patient_gender="female", case_summary="private note"))
        assert "Confidential" not in str(info.value) and "private note" not in str(info.value)
