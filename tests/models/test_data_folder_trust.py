"""The data folder trusts nothing it finds: a cache or blob owned by another account or
hard-linked elsewhere is refused with a clear message; looser permissions are tightened with
a note in the log. And migration 0004 keeps queued uploads while it rebuilds documents."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from desktop.errors import DataFolderError
from desktop.models.database import alembic_config, create_cache_engine
from desktop.workspace import Workspace
from tests import samples

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole
OTHER_UID = 4321


def made(tmp_path: Path) -> tuple[Path, Path]:
    """A data folder with one case and one attached document; (folder, the blob)."""
    source = tmp_path / "lab.pdf"
    source.write_bytes(PDF)
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("A B", 1, "male")
        [result] = ws.attach(case.id, [source])
        assert result.document is not None
        assert ws.stored_bytes(result.document) is not None
        blob = ws.blobs.path_for(result.document.sha256)
    return tmp_path / "d", blob


def root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another account needs root")


def test_loose_cache_and_folder_are_tightened_with_a_log_note(tmp_path, caplog) -> None:
    folder, _ = made(tmp_path)
    os.chmod(folder / "casedesk.sqlite3", 0o644)  # as a restore from a backup leaves it
    os.chmod(folder, 0o755)
    with caplog.at_level(logging.WARNING), Workspace.open(folder):
        pass
    assert stat.S_IMODE(os.stat(folder / "casedesk.sqlite3").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    notes = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    assert any("casedesk.sqlite3 from 644 to 600" in n for n in notes), notes
    assert any("the folder itself from 755 to 700" in n for n in notes), notes


def test_loose_blob_is_tightened_when_read(tmp_path, caplog) -> None:
    folder, blob = made(tmp_path)
    os.chmod(blob, 0o644)
    with Workspace.open(folder) as ws, caplog.at_level(logging.WARNING):
        case = ws.list_cases()[0]
        [doc] = ws.documents(case.id)
        assert ws.stored_bytes(doc) is not None and ws.blobs.path_for(doc.sha256) == blob
    assert stat.S_IMODE(os.stat(blob).st_mode) == 0o600
    assert any("tightened" in r.getMessage() for r in caplog.records)


def test_cache_hard_linked_elsewhere_is_refused(tmp_path) -> None:
    folder, _ = made(tmp_path)
    os.link(folder / "casedesk.sqlite3", tmp_path / "someone-elses-link")
    with pytest.raises(DataFolderError, match="casedesk.sqlite3 has 1 other hard link"):
        Workspace.open(folder)


def test_cache_owned_by_another_account_is_refused(tmp_path) -> None:
    root_only()
    folder, _ = made(tmp_path)
    os.chown(folder / "casedesk.sqlite3", OTHER_UID, OTHER_UID)
    with pytest.raises(DataFolderError, match=f"belongs to another account .user id {OTHER_UID}"):
        Workspace.open(folder)


def test_blob_owned_elsewhere_or_linked_is_refused_when_used(tmp_path) -> None:
    folder, blob = made(tmp_path)
    os.link(blob, tmp_path / "outside-link")
    with Workspace.open(folder) as ws:
        [doc] = ws.documents(ws.list_cases()[0].id)
        with pytest.raises(DataFolderError, match="other hard link"):
            ws.stored_bytes(doc)
    os.unlink(tmp_path / "outside-link")
    if os.geteuid() == 0:
        os.chown(blob, OTHER_UID, OTHER_UID)
        with Workspace.open(folder) as ws, pytest.raises(DataFolderError,
                                                         match="another account"):
            ws.stored_bytes(ws.documents(ws.list_cases()[0].id)[0])


def test_intake_does_not_reuse_a_blob_linked_elsewhere(tmp_path) -> None:
    """The same bytes attached again: a stored blob someone else holds a link to is replaced
    by the fresh copy, so that link keeps only the old file."""
    folder, blob = made(tmp_path)
    outside = tmp_path / "outside-link"
    os.link(blob, outside)
    source = tmp_path / "again.pdf"
    source.write_bytes(PDF)
    with Workspace.open(folder) as ws:
        case = ws.create_case("C D", 2, "female")
        [result] = ws.attach(case.id, [source])
        assert result.outcome == "attached"
    assert os.stat(blob).st_nlink == 1 and os.stat(blob).st_ino != os.stat(outside).st_ino


def test_cli_says_why_in_one_line(tmp_path) -> None:
    import io

    from desktop.cli import main

    folder, _ = made(tmp_path)
    os.link(folder / "casedesk.sqlite3", tmp_path / "someone-elses-link")
    out, err = io.StringIO(), io.StringIO()
    assert main(["--data-dir", str(folder), "cases", "list"], out=out, err=err) == 1
    assert err.getvalue().startswith("casedesk: error: The data folder")
    assert "not safe to use" in err.getvalue() and err.getvalue().count("\n") == 1


def test_migration_0004_keeps_queued_uploads(tmp_path) -> None:
    """Rebuilding documents (the unique constraint goes) must not cascade into the outbox."""
    from alembic import command

    path = tmp_path / "d" / "casedesk.sqlite3"
    path.parent.mkdir()
    engine = create_cache_engine(path)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.exec_driver_sql(
            "INSERT INTO cases (id, patient_name, patient_age, patient_gender, status,"
            " created_at, updated_at, sync_state, detail_stale) VALUES ('c1', 'Old', 50,"
            " 'male', 'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'pending', 1)")
        conn.exec_driver_sql(
            "INSERT INTO documents (id, case_id, name, mime_type, size, sha256, category,"
            " state, added_at) VALUES ('d1', 'c1', 'lab.pdf', 'application/pdf', 10, ?,"
            " 'lab', 'local_only', '2026-01-01 00:00:00')", ("a" * 64,))
        conn.exec_driver_sql(
            "INSERT INTO pending_changes (kind, case_id, document_id, seq, state, attempts,"
            " in_flight, created_at, updated_at) VALUES ('upload_document', 'c1', 'd1', 1,"
            " 'queued', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    engine.dispose()
    with Workspace.open(tmp_path / "d") as ws:
        [change] = ws.pending()
        assert change.kind == "upload_document" and change.document_id == "d1"
        with ws.sessions() as s:
            conn = s.connection()
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            # Two documents of one case may now hold equal bytes.
            conn.exec_driver_sql(
                "INSERT INTO documents (id, case_id, name, mime_type, size, sha256, category,"
                " state, added_at) VALUES ('d2', 'c1', 'copy.pdf', 'application/pdf', 10, ?,"
                " 'lab', 'downloaded', '2026-01-01 00:00:00')", ("a" * 64,))
