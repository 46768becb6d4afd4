"""Conflicts never cost clinical text: a merged value edited from both versions side by side,
when the server wrote its side, and the value not kept readable in the case's History."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.sync import runner
from desktop.ui.changes import Changes
from desktop.ui.main_window import MainWindow
from desktop.ui.sync.conflicts_dialog import ConflictsDialog
from desktop.ui.sync.merge_dialog import MergeDialog
from desktop.workspace import Workspace
from tests.signin import sign_in

from ..conftest import select_case, settle

MINE = "Productive cough for three weeks, mild breathlessness."
THEIRS = "Cough resolving; chest X-ray clear."


def conflict_on_notes(qtbot, window: MainWindow, ws: Workspace, reference_server) -> str:
    sign_in(ws, reference_server.url)
    case = ws.create_case("Amara Okafor", 47, "female", "Productive cough for three weeks.")
    assert runner.run_sync(ws).ok
    server_id = ws.get_case(case.id).server_id
    reference_server.edit_case(server_id, case_summary=THEIRS)
    ws.edit_case(case.id, case_summary=MINE)
    assert runner.run_sync(ws).conflicts == 1
    window.runner.changed.emit(Changes.everything(), None)
    settle(qtbot, window)
    return case.id


def open_dialog(qtbot, window: MainWindow) -> ConflictsDialog:
    window.sync_panel.open_conflicts()
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, ConflictsDialog) and w.isVisible())
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=5000)
    return dialog


def test_merge_from_both_versions_side_by_side(qtbot, window: MainWindow, ws: Workspace,
                                               reference_server, memory_keyring) -> None:
    case_id = conflict_on_notes(qtbot, window, ws, reference_server)
    dialog = open_dialog(qtbot, window)
    assert dialog.merge.isEnabled()
    seen: dict[str, str] = {}

    def merge_in_the_real_editor() -> None:
        editor = QApplication.activeModalWidget()
        assert isinstance(editor, MergeDialog)
        seen.update(mine=editor.mine.toPlainText(), theirs=editor.theirs.toPlainText(),
                    start=editor.text(), title=editor.windowTitle())
        seen["when"] = next(lbl.text() for lbl in editor.findChildren(type(dialog.status))
                            if "server's" in lbl.text())
        editor.editor.setPlainText(MINE + "\nNow: " + THEIRS)
        editor.accept()

    QTimer.singleShot(0, merge_in_the_real_editor)
    dialog.merge.click()
    qtbot.waitUntil(lambda: "No conflicts left" in dialog.status.text(), timeout=5000)
    assert (seen["mine"], seen["theirs"]) == (MINE, THEIRS)
    assert MINE in seen["start"] and THEIRS in seen["start"]  # starts from both
    assert "written" in seen["when"]  # when the server's value was written
    dialog.accept()
    settle(qtbot, window)
    merged = MINE + "\nNow: " + THEIRS
    assert ws.get_case(case_id).case_summary == merged
    assert runner.run_sync(ws).ok
    server = reference_server.case(ws.get_case(case_id).server_id)["case"]
    assert server["case_summary"] == merged

    select_case(qtbot, window, case_id)
    history = window.case_view.history
    qtbot.waitUntil(lambda: "Not kept" in history.text(), timeout=5000)
    text = history.text()
    assert "wrote a merged value" in text and MINE in text and THEIRS in text


def test_keeping_one_side_leaves_the_other_readable(qtbot, window: MainWindow, ws: Workspace,
                                                    reference_server, memory_keyring) -> None:
    case_id = conflict_on_notes(qtbot, window, ws, reference_server)
    select_case(qtbot, window, case_id)
    dialog = open_dialog(qtbot, window)
    dialog.theirs.click()
    qtbot.waitUntil(lambda: "No conflicts left" in dialog.status.text(), timeout=5000)
    dialog.accept()
    settle(qtbot, window)
    history = window.case_view.history
    qtbot.waitUntil(lambda: MINE in history.text(), timeout=5000)  # my text is not lost
    assert "took the server's" in history.text()
    assert window.case_view.form.notes.toPlainText() == THEIRS


def test_the_merge_editor_asks_before_losing_an_edit(qtbot, window: MainWindow,
                                                     ws: Workspace, reference_server,
                                                     memory_keyring) -> None:
    conflict_on_notes(qtbot, window, ws, reference_server)
    [conflict] = ws.conflicts()
    editor = MergeDialog(conflict)
    qtbot.addWidget(editor)
    asked: list[int] = []
    editor.ask_discard = lambda: asked.append(1) or False  # type: ignore[method-assign]
    editor.reject()  # untouched: closes without asking
    assert asked == []
    editor.show()
    editor.editor.setPlainText("half-written")
    editor.reject()
    assert asked == [1] and editor.isVisible()
    editor.editor.setPlainText("")
    editor.accept()  # an emptied note is a value too (the notes field may be empty)
    assert editor.result() == MergeDialog.DialogCode.Accepted and editor.value is None
