"""Repairing a cache: moved aside, what SQLite can read copied into a new one, the outbox
made whole again, and every stored document accounted for."""

from __future__ import annotations

import json

import pytest

from desktop import datafolder, folder_key, repair
from desktop.workspace import Workspace
from tests import cachefile
from tests.test_cache_faults import PDF, corrupt


def keys(folder: datafolder.DataFolder) -> folder_key.FolderKeys:
    return folder_key.open_keys(folder.root, may_create=False)


def test_a_sound_cache_is_left_alone(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        ws.create_case("Jane", 3, "female")
        folder = ws.folder
    result = repair.repair(folder, keys(folder))
    assert result.nothing_to_do and list(folder.root.glob("*.damaged-*")) == []
    assert repair.check(folder, keys(folder)).sound


def test_repair_waits_for_the_folder_to_be_free(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        ws.folder.cache.write_bytes(b"")  # damage under an open window
        with pytest.raises(repair.FolderInUseError):
            repair.repair(ws.folder, keys(ws.folder))


def test_work_whose_outbox_rows_were_lost_is_queued_again(tmp_path):
    """The cases survived, their outbox rows did not: a never-sent case gets its create back
    (marked as possibly sent: the server is asked first), an unsent file its upload, a case
    edited since the last server copy an update of the fields that differ."""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(PDF)
    with Workspace.open(tmp_path / "d") as ws:
        new = ws.create_case("Never Sent", 30, "female", "typed offline")
        synced = ws.create_case("On Server", 40, "male", "old note")
        ws.attach(synced.id, [scan])
        folder = ws.folder
    conn = cachefile.connect(folder.cache)
    with conn:
        conn.execute("UPDATE cases SET server_id = 'srv-1', sync_state = 'synced', base = ?,"
                     " case_summary = 'new note' WHERE id = ?",
                     (json.dumps({"patient_name": "On Server", "patient_age": 40,
                                  "case_summary": "old note", "status": "pending"}),
                      synced.id))
        conn.execute("DELETE FROM pending_changes")  # as if their pages were unreadable
    conn.close()
    corrupt(folder.cache, "ix_cases_status")  # damage where no row lives: all can be read
    assert not repair.check(folder, keys(folder)).sound
    result = repair.repair(folder, keys(folder))
    assert result.moved_to is not None and result.moved_to.exists()
    assert result.salvage is not None and result.salvage.requeued == {
        "create_case": 1, "upload_document": 1, "update_case": 1}
    with Workspace.open(folder.root) as ws:
        pending = {(p.kind, p.case_id): p for p in ws.pending()}
        assert set(pending) == {("create_case", new.id), ("upload_document", synced.id),
                                ("update_case", synced.id)}
        assert pending[("update_case", synced.id)].fields == ("case_summary",)
        assert ws.get_case(synced.id).sync_state == "pending"
    conn = cachefile.connect(folder.cache)
    [(in_flight, payload)] = conn.execute(
        "SELECT in_flight, payload FROM pending_changes WHERE kind = 'create_case'").fetchall()
    conn.close()
    assert in_flight == 1 and json.loads(payload)["fields"]["case_summary"] == "typed offline"


def test_orphan_documents_are_copied_out_not_deleted(tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(PDF)
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Jane", 3, "female")
        ws.attach(case.id, [scan])
        folder = ws.folder
        [name] = list(ws.blobs.stored())
    folder.cache.write_bytes(b"")
    result = repair.repair(folder, keys(folder))
    assert [p.read_bytes() for p in result.recovered_files] == [PDF]
    assert result.recovered_files[0].suffix == ".pdf"
    assert (folder.blobs / name[:2] / name[2:]).exists()  # the store itself is untouched


def test_salvage_reads_past_damaged_pages_of_a_large_table(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        ids = [ws.create_case(f"Patient {i}", i % 90, "female", "note " * 40).id
               for i in range(600)]
        folder = ws.folder
    pages = corrupt(folder.cache, "cases", pages=2)
    assert pages
    result = repair.repair(datafolder.DataFolder(folder.root), keys(folder))
    cases = result.salvage.tables["cases"]
    # A damaged page may fail to read, or read as fewer rows than it held: the table's
    # indexes still list those, so the loss is counted either way.
    assert not cases.complete and 0 < cases.lost < 100
    assert cases.recovered + cases.lost == 600  # every row accounted for
    with Workspace.open(folder.root) as ws:
        kept = {c.id for c in ws.list_cases()}
    assert len(kept) == cases.recovered and len(kept & set(ids)) > 500
