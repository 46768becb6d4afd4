"""Removing, moving and deleting on this computer (the Workspace): what goes at once, what
waits for the server as a tombstone, what can be undone, and the warnings before a mistake
(a patient already here, a DICOM file naming someone else)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from desktop.errors import NotFoundError, ValidationError
from desktop.models.audit import Action
from desktop.models.tables import Document, PendingChange
from desktop.workspace import ContentNotHereError, Workspace
from tests import samples


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "data") as workspace:
        yield workspace


def attach(ws, case_id, name, data, tmp_path):
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    [result] = ws.attach(case_id, [path])
    assert result.outcome == "attached", result.reason
    return result.document


def on_server(ws, case_id, server_id="srv-case"):
    """As if a sync had put the case and its documents on the server."""
    with ws.transaction() as s:
        s.execute(PendingChange.__table__.delete())
        s.execute(update(Document).where(Document.case_id == case_id).values(
            state="uploaded", server_file_id=Document.id))
        s.connection().exec_driver_sql("UPDATE cases SET server_id = ?, sync_state = 'synced', base = "
                          "json_object('patient_name', patient_name, 'patient_age', patient_age,"
                          " 'patient_gender', patient_gender, 'case_summary', case_summary, "
                          "'status', status) WHERE id = ?", (server_id, case_id))


def kinds(ws):
    return [(p.kind, p.document_name) for p in ws.pending()]


def test_a_document_that_never_left_is_gone_at_once(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    doc = attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    removal = ws.remove_document(doc.id)
    assert not removal.waits_for_server and removal.patient_name == "Maria Lopez"
    assert ws.documents(case.id) == []
    assert kinds(ws) == [("create_case", None)]  # its upload went with it
    with pytest.raises(NotFoundError):
        ws.get_document(doc.id)


def test_a_document_on_the_server_waits_hidden_and_can_be_restored(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    doc = attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, case.id)
    removal = ws.remove_document(doc.id)
    assert removal.waits_for_server
    assert ws.documents(case.id) == []
    assert [d.id for d in ws.removed_documents(case.id)] == [doc.id]
    assert kinds(ws) == [("remove_document", "lab.pdf")]
    assert ws.get_case(case.id).sync_state == "pending"
    # The stored file stays while the removal waits (an undo needs it).
    assert ws.collect_garbage().kept == 1 and ws.stored_bytes(doc) is not None
    restored = ws.restore_document(doc.id)
    assert restored.removed_at is None and [d.id for d in ws.documents(case.id)] == [doc.id]
    assert ws.pending() == [] and ws.get_case(case.id).sync_state == "synced"


def test_an_undo_is_refused_once_the_removal_may_have_reached_the_server(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    doc = attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, case.id)
    ws.remove_document(doc.id)
    with ws.transaction() as s:
        s.execute(update(PendingChange).values(in_flight=True))
    with pytest.raises(ValidationError, match="can no longer be undone"):
        ws.restore_document(doc.id)
    assert ws.documents(case.id) == []


def test_a_document_whose_upload_may_have_arrived_waits_for_the_server(ws, tmp_path):
    """Its upload's answer was lost: the server may hold it, so it is not just dropped."""
    case = ws.create_case("Maria Lopez", 46, "female")
    doc = attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    with ws.transaction() as s:
        s.execute(update(PendingChange).where(PendingChange.kind == "create_case").values(
            in_flight=True, payload={"fields": {}, "documents": [doc.id]}))
    assert ws.remove_document(doc.id).waits_for_server


def test_a_local_move_changes_the_case(ws, tmp_path):
    a = ws.create_case("Maria Lopez", 46, "female")
    b = ws.create_case("Mario Lopez", 50, "male")
    doc = attach(ws, a.id, "lab.pdf", samples.PDF, tmp_path)
    move = ws.move_document(doc.id, b.id)
    assert not move.waits_for_server and move.document.id == doc.id
    assert ws.documents(a.id) == [] and [d.id for d in ws.documents(b.id)] == [doc.id]
    assert [(p.kind, p.case_id) for p in ws.pending() if p.kind == "upload_document"] == [
        ("upload_document", b.id)]


def test_a_move_of_a_document_on_the_server_copies_first_and_removes_after(ws, tmp_path):
    a = ws.create_case("Maria Lopez", 46, "female")
    b = ws.create_case("Mario Lopez", 50, "male")
    doc = attach(ws, a.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, a.id)
    move = ws.move_document(doc.id, b.id)
    assert move.waits_for_server and move.document.id != doc.id
    assert move.document.sha256 == doc.sha256 and move.document.case_id == b.id
    assert ws.documents(a.id) == []
    assert [d.name for d in ws.documents(b.id)] == ["lab.pdf"]
    assert sorted(p.kind for p in ws.pending()) == ["remove_document", "upload_document"]
    with pytest.raises(ValidationError, match="moved to another case"):
        ws.restore_document(doc.id)
    # Giving the copy's upload up keeps the original where it was.
    [upload] = [p for p in ws.pending() if p.kind == "upload_document"]
    ws.discard_change(upload.id)
    assert [d.id for d in ws.documents(a.id)] == [doc.id]
    assert not [p for p in ws.pending() if p.kind == "remove_document"]


def test_a_move_needs_the_bytes_here(ws, tmp_path):
    a = ws.create_case("Maria Lopez", 46, "female")
    b = ws.create_case("Mario Lopez", 50, "male")
    doc = attach(ws, a.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, a.id)
    with ws.transaction() as s:
        s.execute(update(Document).values(sha256=None, state="remote_only"))
    with pytest.raises(ContentNotHereError, match="only on the server"):
        ws.move_document(doc.id, b.id)
    assert [d.id for d in ws.documents(a.id)] == [doc.id] and ws.documents(b.id) == []


def test_deleting_a_case_never_on_the_server_is_at_once(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    deletion = ws.delete_case(case.id)
    assert (deletion.documents, deletion.waits_for_server) == (1, False)
    assert ws.count_cases() == 0 and ws.pending() == []
    with pytest.raises(NotFoundError):
        ws.get_case(case.id)


def test_deleting_a_case_on_the_server_hides_it_until_restored(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    other = ws.create_case("Ann Other", 30, "female")
    attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, case.id)
    deletion = ws.delete_case(case.id)
    assert (deletion.documents, deletion.waits_for_server) == (1, True)
    assert [c.id for c in ws.list_cases()] == [other.id] and ws.count_cases() == 1
    assert ws.case_ids() == [other.id]
    assert [c.id for c in ws.deleted_cases()] == [case.id]
    assert [p.kind for p in ws.pending() if p.case_id == case.id] == ["delete_case"]
    with pytest.raises(ValidationError, match="restore it first"):
        ws.edit_case(case.id, case_summary="x")
    with pytest.raises(ValidationError, match="restore it first"):
        ws.attach(case.id, [tmp_path / "in" / "lab.pdf"])
    restored = ws.restore_case(case.id)
    assert restored.removed_at is None and ws.count_cases() == 2
    assert [d.name for d in ws.documents(case.id)] == ["lab.pdf"]


def test_analysis_requested_is_queued_once_and_shown(ws):
    case = ws.create_case("Maria Lopez", 46, "female")
    record = ws.request_analysis(case.id)
    ws.request_analysis(case.id)
    assert record.analysis == "requested"
    assert [p.kind for p in ws.pending()].count("analyze_case") == 1


@pytest.mark.parametrize(("name", "age", "gender", "found"), [
    ("maria  LÓPEZ", 46, "female", True),
    ("María López", 47, "Female", True),
    ("Maria Lopez", 45, "female", True),
    ("Maria Lopez", 48, "female", False),
    ("Maria Lopez", 46, "male", False),
    ("Maria Lopes", 46, "female", False),
])
def test_a_patient_already_here_is_found(ws, name, age, gender, found):
    existing = ws.create_case("María López", 46, "female")
    ws.create_case("Someone Else", 46, "female")
    matches = ws.similar_patients(name, age, gender)
    assert [m.id for m in matches] == ([existing.id] if found else [])


def test_a_deleted_case_is_no_duplicate(ws):
    case = ws.create_case("Maria Lopez", 46, "female")
    ws.delete_case(case.id)
    assert ws.similar_patients("Maria Lopez", 46, "female") == []


def test_a_dicom_file_naming_another_patient_is_attached_with_a_warning(ws, tmp_path):
    case = ws.create_case("Maria Lopez", 46, "female")
    doc = attach(ws, case.id, "ct.dcm", samples.dicom("Test^Synthetic", "SYN-1"), tmp_path)
    assert doc.patient_mismatch == ("name",)
    assert doc.dicom_patient_name == "Test^Synthetic"
    same = attach(ws, case.id, "mr.dcm", samples.dicom("LOPEZ^MARIA^A", "SYN-1"), tmp_path)
    assert same.patient_mismatch == ()
    other_id = attach(ws, case.id, "xr.dcm", samples.dicom("Lopez^Maria", "OTHER-9"), tmp_path)
    assert other_id.patient_mismatch == ("id",)
    listed = {d.name: d.patient_mismatch for d in ws.documents(case.id)}
    assert listed == {"ct.dcm": ("name",), "mr.dcm": (), "xr.dcm": ("id",)}
    # The warning follows the case's name: renamed to the file's patient, it goes.
    ws.edit_case(case.id, patient_name="Synthetic Test")
    assert {d.name: d.patient_mismatch for d in ws.documents(case.id)}["ct.dcm"] == ()


def test_removals_moves_deletions_restores_and_analyses_are_on_the_audit_trail(ws, tmp_path):
    """Each of these actions writes its audit entry in its own transaction; the chain holds."""
    case = ws.create_case("Maria Lopez", 46, "female")
    other = ws.create_case("Ann Other", 30, "female")
    moved = attach(ws, case.id, "scan.png", samples.PNG, tmp_path)
    removed = attach(ws, case.id, "lab.pdf", samples.PDF, tmp_path)
    on_server(ws, case.id)
    ws.remove_document(removed.id)
    ws.restore_document(removed.id)
    ws.move_document(moved.id, other.id)
    ws.request_analysis(other.id)
    ws.delete_case(case.id)
    ws.restore_case(case.id)

    def trail(case_id):
        return [(e.action, e.document_id, e.detail.get("name")) for e in ws.audit_entries(case_id)
                if e.action not in (Action.CREATE, Action.ATTACH)]

    assert trail(case.id) == [
        (Action.REMOVE, removed.id, "lab.pdf"), (Action.RESTORE, removed.id, "lab.pdf"),
        (Action.MOVE, moved.id, "scan.png"), (Action.DELETE, None, "Maria Lopez"),
        (Action.RESTORE, None, "Maria Lopez")]
    [arrived] = [d for d in ws.documents(other.id)]
    assert trail(other.id) == [(Action.MOVE, arrived.id, "scan.png"), (Action.ANALYZE, None, None)]
    [move_out] = [e for e in ws.audit_entries(case.id) if e.action == Action.MOVE]
    assert move_out.detail["to_case"] == other.id
    assert ws.verify_audit() == []
