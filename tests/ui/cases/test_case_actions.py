"""Deleting a case in the window (a confirmation naming the patient and how many documents go,
Edit › Undo until the server has it), requesting an analysis and watching it to its end, the
duplicate-patient warning of New case, and a deletion conflict in the conflicts dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop.sync import runner
from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog
from desktop.ui.changes import Changes
from desktop.ui.main_window import MainWindow
from desktop.ui.sync.conflicts_dialog import ConflictsDialog
from desktop.ui.wording import ANALYSIS_TEXT
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in

from ..conftest import select_case, settle


def refreshed(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()


def synced(ws: Workspace, reference_server, tmp_path: Path, files: int = 2) -> str:
    sign_in(ws, reference_server.url)
    case = ws.create_case("Maria Lopez", 46, "female", "Follow-up")
    for n in range(files):
        path = tmp_path / f"lab{n}.pdf"
        path.write_bytes(samples.pdf(f"lab {n}"))
        ws.attach(case.id, [path])
    assert runner.run_sync(ws).ok
    return case.id


def test_delete_case_names_the_patient_and_its_documents_and_can_be_undone(
        qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring,
        tmp_path: Path) -> None:
    case_id = synced(ws, reference_server, tmp_path)
    refreshed(qtbot, window)
    select_case(qtbot, window, case_id)
    asked: list[tuple[str, int]] = []
    window.case_actions.ask_delete = (  # type: ignore[method-assign]
        lambda patient, documents: asked.append((patient, documents)) or True)
    window.case_actions.delete_action.trigger()
    qtbot.waitUntil(lambda: window.model.row_of(case_id) is None, timeout=5000)
    settle(qtbot, window)
    assert asked == [("Maria Lopez", 2)]
    assert window.case_view.case_id is None  # the open case went with it
    assert [p.kind for p in ws.pending()] == ["delete_case"]
    assert len(reference_server.cases("doctor-1")) == 1  # not yet: it goes with the next sync
    assert window.undo.action.isEnabled() and "Maria Lopez" in window.undo.action.text()
    window.undo.action.trigger()
    qtbot.waitUntil(lambda: window.model.row_of(case_id) is not None, timeout=5000)
    settle(qtbot, window)
    assert ws.pending() == [] and len(ws.documents(case_id)) == 2
    # Deleted again and synced: gone from the server, and no longer undoable there.
    window.case_actions.delete(ws.get_case(case_id))
    qtbot.waitUntil(lambda: window.model.row_of(case_id) is None, timeout=5000)
    settle(qtbot, window)
    assert runner.run_sync(ws).ok and reference_server.cases("doctor-1") == []


def test_declining_the_confirmation_keeps_the_case(qtbot, window: MainWindow, ws: Workspace,
                                                   tmp_path: Path) -> None:
    case = ws.create_case("Maria Lopez", 46, "female")
    refreshed(qtbot, window)
    select_case(qtbot, window, case.id)
    window.case_actions.ask_delete = lambda *_a: False  # type: ignore[method-assign]
    window.case_actions.delete_action.trigger()
    settle(qtbot, window)
    assert ws.count_cases() == 1 and window.model.row_of(case.id) is not None


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_an_analysis_is_watched_to_its_end_and_the_person_told(
        qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring,
        tmp_path: Path, outcome: str) -> None:
    reference_server.set_analysis(outcome=outcome, step_seconds=None)
    case_id = synced(ws, reference_server, tmp_path, files=1)
    refreshed(qtbot, window)
    select_case(qtbot, window, case_id)
    watcher = window.analyses
    watcher._signed_in = lambda: True
    watcher.timer.setInterval(50)
    window.case_actions.analyze_action.trigger()
    qtbot.waitUntil(lambda: ws.get_case(case_id).analysis == "requested", timeout=5000)
    settle(qtbot, window)
    row = window.model.row_of(case_id)
    assert row is not None and "requested" in [
        window.model.index(row, c).data() for c in range(window.model.columnCount())]
    assert ANALYSIS_TEXT["requested"] in window.case_view.sync_label.text()
    assert not window.case_actions.analyze_action.isEnabled()  # not twice at once
    assert case_id in watcher.watching
    assert runner.run_sync(ws).analyses == 1  # sent through the outbox
    server_id = ws.get_case(case_id).server_id
    qtbot.waitUntil(lambda: ws.get_case(case_id).analysis == "processing", timeout=5000)
    reference_server.advance_analysis(server_id)
    qtbot.waitUntil(lambda: ws.get_case(case_id).analysis == "analyzing", timeout=5000)
    qtbot.waitUntil(lambda: "analyzing" in window.case_view.sync_label.text(), timeout=5000)
    with qtbot.waitSignal(watcher.finished, timeout=10000) as ended:
        reference_server.advance_analysis(server_id)
    settle(qtbot, window)
    assert ended.args[0].status == outcome and case_id not in watcher.watching
    assert f"Analysis of Maria Lopez {outcome}" in window.statusBar().currentMessage()
    assert window.case_actions.analyze_action.isEnabled()  # it may be asked for again
    assert (ws.get_case(case_id).ai_insights is not None) == (outcome == "completed")


def test_new_case_shows_a_patient_already_here_to_open_or_go_on(qtbot, ws: Workspace,
                                                                 window: MainWindow) -> None:
    existing = ws.create_case("María  López", 46, "female")
    ws.create_case("Maria Lopez", 30, "female")  # a different age: not the same patient
    dialog = NewCaseDialog(None, runner=window.runner, find_matches=lambda v: ws.similar_patients(
        v.patient_name, v.patient_age, v.patient_gender))
    qtbot.addWidget(dialog)
    dialog.ask_discard = lambda: True  # type: ignore[method-assign]
    dialog.name.setText("maria lopez")
    dialog.age.setText("47")
    dialog.gender.setCurrentText("female")
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.matches_box.isVisibleTo(dialog), timeout=5000)
    assert dialog.value is None and dialog.matches.count() == 1
    assert "María  López, 46, female" in dialog.matches.item(0).text()
    assert "may have a case here already" in dialog.matches_label.text()
    dialog.open_selected()
    assert dialog.open_case_id == existing.id and dialog.value is None
    # Or go on: Create anyway makes the new case with what was typed.
    again = NewCaseDialog(None, runner=window.runner, find_matches=lambda v: ws.similar_patients(
        v.patient_name, v.patient_age, v.patient_gender))
    qtbot.addWidget(again)
    again.name.setText("maria lopez")
    again.age.setText("47")
    again.gender.setCurrentText("female")
    again.accept()
    qtbot.waitUntil(lambda: again.matches_box.isVisibleTo(again), timeout=5000)
    assert again.create_button.text() == "Create &anyway"
    again.accept()
    assert again.value == NewCase("maria lopez", 47, "female", None, "pending")
    settle(qtbot, window)


def test_choosing_a_match_opens_it_instead_of_creating(qtbot, window: MainWindow,
                                                       ws: Workspace) -> None:
    existing = ws.create_case("Maria Lopez", 46, "female")
    refreshed(qtbot, window)
    window.ask_new_case = lambda reason=None: existing.id  # type: ignore[method-assign]
    window.new_case()
    qtbot.waitUntil(lambda: window.case_view.case_id == existing.id, timeout=5000)
    settle(qtbot, window)
    assert ws.count_cases() == 1


def test_a_case_deleted_on_the_server_while_edited_here_is_a_conflict_shown(
        qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring,
        tmp_path: Path) -> None:
    case_id = synced(ws, reference_server, tmp_path, files=0)
    ws.edit_case(case_id, case_summary="Mine, not yet sent")
    reference_server.delete_case(ws.get_case(case_id).server_id)
    assert runner.run_sync(ws).conflicts == 1
    window.runner.changed.emit(Changes.everything(), None)
    settle(qtbot, window)
    window.sync_panel.open_conflicts()
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, ConflictsDialog) and w.isVisible())
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=5000)
    texts = [dialog.model.index(0, c).data() for c in range(dialog.model.columnCount())]
    assert texts[1:5] == ["The whole case", "—", "Changed on this computer, not yet sent",
                          "Deleted on the server"]
    dialog.table.selectRow(0)
    assert "put it back on the server" in dialog.status.text()
    dialog.mine.click()  # keep mine: the case goes back to the server
    qtbot.waitUntil(lambda: "No conflicts left" in dialog.status.text(), timeout=5000)
    dialog.accept()
    settle(qtbot, window)
    assert runner.run_sync(ws).ok
    [back] = reference_server.cases("doctor-1")
    assert back["case_summary"] == "Mine, not yet sent"


def test_a_case_deleted_here_while_edited_on_the_server_is_a_conflict_shown(
        qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring,
        tmp_path: Path) -> None:
    case_id = synced(ws, reference_server, tmp_path, files=0)
    ws.delete_case(case_id)
    reference_server.edit_case(ws.get_case(case_id).server_id,
                               case_summary="New results from the lab")
    assert runner.run_sync(ws).conflicts == 1
    window.runner.changed.emit(Changes.everything(), None)
    settle(qtbot, window)
    window.sync_panel.open_conflicts()
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, ConflictsDialog) and w.isVisible())
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=5000)
    texts = [dialog.model.index(0, c).data() for c in range(dialog.model.columnCount())]
    assert texts[0] == "Maria Lopez" and texts[1] == "The whole case"
    assert texts[3] == "Deleted on this computer"
    assert texts[4].startswith("Changed on the server (changed ") and "Notes" in texts[4]
    dialog.table.selectRow(0)
    assert "keep the case, with the server's changes" in dialog.status.text()
    dialog.theirs.click()  # take theirs: the case comes back with the server's change
    qtbot.waitUntil(lambda: "No conflicts left" in dialog.status.text(), timeout=5000)
    dialog.accept()
    qtbot.waitUntil(lambda: window.model.row_of(case_id) is not None, timeout=5000)
    settle(qtbot, window)
    assert runner.run_sync(ws).ok
    assert ws.get_case(case_id).case_summary == "New results from the lab"
    assert len(reference_server.cases("doctor-1")) == 1
