"""Removing and moving the open case's documents in the window: the Delete key and the list's
context menu ask first (naming the patient and the file), Edit › Undo brings a removal back
until it reached the server, a document dragged onto a case row moves there, and a DICOM file
naming another patient is flagged in the list."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from sqlalchemy import update

from desktop.models.tables import Document, PendingChange
from desktop.ui.documents.documents_view import DOCUMENT_MIME, state_text
from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tests import samples

from ..conftest import drop, settle
from .test_preview import show_documents


def attach(ws: Workspace, case_id: str, name: str, data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    [result] = ws.attach(case_id, [path])
    assert result.document is not None, result.reason
    return result.document.id


def as_if_synced(ws: Workspace, case_id: str) -> None:
    """As if a sync had put the case and its documents on the server."""
    with ws.transaction() as s:
        s.execute(PendingChange.__table__.delete())
        s.execute(update(Document).where(Document.case_id == case_id).values(
            state="uploaded", server_file_id=Document.id))
        s.connection().exec_driver_sql(
            "UPDATE cases SET server_id = 'srv-' || id, sync_state = 'synced' WHERE id = ?",
            (case_id,))


def answer(window: MainWindow, yes: bool) -> list[tuple[str, str]]:
    asked: list[tuple[str, str]] = []

    def ask(patient: str, document: str) -> bool:
        asked.append((patient, document))
        return yes

    window.document_actions.ask_remove = ask  # type: ignore[method-assign]
    return asked


def test_delete_key_asks_naming_patient_and_file_and_undo_brings_it_back(
        qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    case = ws.create_case("Maria Lopez", 46, "female")
    attach(ws, case.id, "lab.pdf", samples.pdf("lab"), tmp_path)
    as_if_synced(ws, case.id)
    docs = show_documents(qtbot, window, case.id, 1)
    docs.table.selectRow(0)
    docs.table.setFocus()
    asked = answer(window, yes=False)
    qtbot.keyClick(docs.table, Qt.Key.Key_Delete)
    assert asked == [("Maria Lopez", "lab.pdf")]  # the patient and the file, named
    settle(qtbot, window)
    assert len(ws.documents(case.id)) == 1 and docs.model.rowCount() == 1  # "Keep it"
    asked = answer(window, yes=True)
    qtbot.keyClick(docs.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: docs.model.rowCount() == 0, timeout=5000)
    settle(qtbot, window)
    assert asked == [("Maria Lopez", "lab.pdf")] and ws.documents(case.id) == []
    assert [p.kind for p in ws.pending()] == ["remove_document"]  # the server's, via the outbox
    undo = window.undo.action
    assert undo.isEnabled() and "lab.pdf" in undo.text()
    undo.trigger()
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=5000)
    settle(qtbot, window)
    assert ws.pending() == [] and not undo.isEnabled()


def test_a_document_that_never_left_goes_at_once_without_undo(
        qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    case = ws.create_case("Maria Lopez", 46, "female")
    attach(ws, case.id, "lab.pdf", samples.pdf("lab"), tmp_path)
    docs = show_documents(qtbot, window, case.id, 1)
    docs.table.selectRow(0)
    answer(window, yes=True)
    # The list's own context menu holds Remove and Move to…
    assert docs.table.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    assert {window.document_actions.remove_action, window.document_actions.move_action} <= set(
        docs.table.actions())
    window.document_actions.remove_action.trigger()
    qtbot.waitUntil(lambda: docs.model.rowCount() == 0, timeout=5000)
    settle(qtbot, window)
    assert [p.kind for p in ws.pending()] == ["create_case"]  # nothing to remove on a server
    assert not window.undo.action.isEnabled()


def test_a_document_dragged_onto_a_case_row_moves_there(
        qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    maria = ws.create_case("Maria Lopez", 46, "female")
    bruno = ws.create_case("Bruno Berger", 60, "male")
    attach(ws, maria.id, "lab.pdf", samples.pdf("lab"), tmp_path)
    docs = show_documents(qtbot, window, maria.id, 1)
    mime = docs.model.mimeData([docs.model.index(0, 0)])
    assert mime.hasFormat(DOCUMENT_MIME)
    row = window.model.row_of(bruno.id)
    assert row is not None
    point = QPointF(30, window.table.rowViewportPosition(row) + 4)
    event = drop(window.table.viewport(), point, mime)
    assert event.isAccepted()
    qtbot.waitUntil(lambda: len(ws.documents(bruno.id)) == 1, timeout=5000)
    qtbot.waitUntil(lambda: docs.model.rowCount() == 0, timeout=5000)
    settle(qtbot, window)
    assert ws.documents(maria.id) == [] and ws.documents(bruno.id)[0].name == "lab.pdf"
    # Dropped on the row of the case it is on, it is not taken.
    [moved] = ws.documents(bruno.id)
    mime.setData(DOCUMENT_MIME, f"{moved.id}\n{bruno.id}".encode())
    assert not drop(window.table.viewport(), point, mime).isAccepted()
    settle(qtbot, window)
    assert [d.id for d in ws.documents(bruno.id)] == [moved.id]


def test_move_to_picks_a_case(qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    maria = ws.create_case("Maria Lopez", 46, "female")
    bruno = ws.create_case("Bruno Berger", 60, "male")
    attach(ws, maria.id, "scan.png", samples.png(), tmp_path)
    docs = show_documents(qtbot, window, maria.id, 1)
    docs.table.selectRow(0)
    window.document_actions.ask_target = (  # type: ignore[method-assign]
        lambda doc: (bruno.id, "Bruno Berger"))
    window.document_actions.move_action.trigger()
    qtbot.waitUntil(lambda: docs.model.rowCount() == 0, timeout=5000)
    settle(qtbot, window)
    assert [d.name for d in ws.documents(bruno.id)] == ["scan.png"]
    assert "Bruno Berger" in window.statusBar().currentMessage()


def test_a_dicom_file_naming_another_patient_is_flagged_in_the_list(
        qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    case = ws.create_case("Maria Lopez", 46, "female")
    attach(ws, case.id, "scan.dcm", samples.dicom("Test^Synthetic"), tmp_path)
    docs = show_documents(qtbot, window, case.id, 1)
    [doc] = ws.documents(case.id)
    assert "Check patient" in state_text(doc)
    tip = docs.model.data(docs.model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert "Test^Synthetic" in tip and "Maria Lopez" in tip


def test_the_verdict_warns_of_a_dicom_file_naming_another_patient(
        qtbot, ws: Workspace, tmp_path: Path) -> None:
    from desktop.ui.documents.attach_results import AttachResultsDialog

    case = ws.create_case("Maria Lopez", 46, "female")
    paths = []
    for name, data in (("scan.dcm", samples.dicom("Test^Synthetic")), ("lab.pdf", samples.pdf())):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    results = ws.attach(case.id, paths)
    assert [r.outcome for r in results] == ["attached", "attached"]  # never refused
    dialog = AttachResultsDialog(results, "Maria Lopez")
    qtbot.addWidget(dialog)
    (dcm, verdict, why), pdf = dialog.rows()
    assert (dcm, verdict) == ("scan.dcm", "Attached — check the patient")
    assert why.startswith("Its DICOM header names the patient 'Test^Synthetic', not 'Maria Lopez'")
    assert pdf == ("lab.pdf", "Attached", "")
