"""The case view in the window: editing, inline validation, save, the unsaved-changes guard,
new case, archive, shortcuts, accessibility and persisted geometry."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTableView,
)

from desktop.ui.cases.new_case_dialog import NewCase
from desktop.ui.changes import Changes
from desktop.ui.main_window import CANCEL, DISCARD, SAVE, MainWindow
from desktop.workspace import Workspace

from .conftest import select_case, settle


def two_cases(qtbot, window: MainWindow, ws: Workspace) -> tuple[str, str]:
    a = ws.create_case("Amara Okafor", 47, "female", "cough")
    b = ws.create_case("Bruno Berger", 60, "male")
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    return a.id, b.id


def test_edit_and_save_writes_locally(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    view = window.case_view
    assert view.form.gender.isEnabled() is False  # fixed after creation
    assert not view.dirty and not window.save_action.isEnabled()
    view.form.notes.setPlainText("cough, now with fever")
    view.form.age.setText("48")
    assert view.dirty and "•" in view.title.text() and "Unsaved" in view.dirty_label.text()
    assert window.save_action.isEnabled()
    window.save_action.trigger()  # Ctrl+S
    qtbot.waitUntil(lambda: not view.dirty, timeout=5000)
    settle(qtbot, window)
    saved = ws.get_case(a)
    assert saved.case_summary == "cough, now with fever" and saved.patient_age == 48
    assert "•" not in view.title.text()
    row = window.model.row_of(a)
    assert row is not None and window.model.data(window.model.index(row, 1)) == "48"
    assert window.table.currentIndex().row() == row  # still selected after the refresh


def test_inline_validation_blocks_the_save(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    view = window.case_view
    view.form.name.setText("   ")
    view.form.name.textEdited.emit("   ")
    view.form.status.setCurrentText("")
    window.save_action.trigger()
    assert not view.form.name_error.isHidden()
    assert view.form.name_error.text() == "Patient name is required."
    assert "Status cannot be empty" in view.form.status_error.text()
    settle(qtbot, window)
    assert ws.get_case(a).patient_name == "Amara Okafor"  # nothing written
    view.form.name.setText("Amara O. Okafor")
    view.form.status.setCurrentText("custom-status")  # unknown statuses are allowed
    window.save_action.trigger()
    qtbot.waitUntil(lambda: not view.dirty, timeout=5000)
    assert view.form.name_error.isHidden()
    assert ws.get_case(a).status == "custom-status"
    assert view.form.status.findText("custom-status") >= 0


def test_guard_cancel_keeps_the_edit_and_selection(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.form.notes.setPlainText("unsaved words")
    asked: list[int] = []
    window.ask_unsaved = lambda: asked.append(1) or CANCEL  # type: ignore[method-assign]
    row_b = window.model.row_of(b)
    window.table.selectRow(row_b)
    assert asked == [1]
    assert window.case_view.case_id == a and window.case_view.dirty
    assert window.table.currentIndex().row() == window.model.row_of(a)
    settle(qtbot, window)
    assert ws.get_case(a).case_summary == "cough"


def test_guard_discard_switches_without_saving(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.form.notes.setPlainText("throw me away")
    window.ask_unsaved = lambda: DISCARD  # type: ignore[method-assign]
    select_case(qtbot, window, b)
    assert not window.case_view.dirty
    assert ws.get_case(a).case_summary == "cough"


def test_guard_save_saves_then_switches(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.form.notes.setPlainText("keep me")
    window.ask_unsaved = lambda: SAVE  # type: ignore[method-assign]
    window.table.selectRow(window.model.row_of(b))
    qtbot.waitUntil(lambda: window.case_view.case_id == b, timeout=5000)
    settle(qtbot, window)
    assert ws.get_case(a).case_summary == "keep me"


def test_close_is_guarded(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.form.notes.setPlainText("not yet saved")
    window.ask_unsaved = lambda: CANCEL  # type: ignore[method-assign]
    window.close()
    assert window.isVisible()
    window.ask_unsaved = lambda: SAVE  # type: ignore[method-assign]
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert ws.get_case(a).case_summary == "not yet saved"


def test_new_case_dialog_flow(qtbot, window: MainWindow, ws: Workspace) -> None:
    window.ask_new_case = lambda reason=None: NewCase("Nadia Novak", 29, "female", "new", "pending")  # type: ignore[method-assign]
    window.new_action.trigger()  # Ctrl+N
    qtbot.waitUntil(lambda: window.case_view.record is not None, timeout=5000)
    settle(qtbot, window)
    created = window.case_view.record
    assert created is not None and created.patient_name == "Nadia Novak"
    assert ws.get_case(created.id).patient_gender == "female"
    assert window.table.currentIndex().row() == window.model.row_of(created.id)
    assert "1 change on this computer only" in window.sync_panel.pending_label.text()


def test_archive_hides_the_case(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.ask_archive = lambda name: True  # type: ignore[method-assign]
    window.archive_action.trigger()
    qtbot.waitUntil(lambda: window.model.row_of(a) is None, timeout=5000)
    settle(qtbot, window)
    assert ws.get_case(a).status == "archived"
    assert window.case_view.record is not None and window.case_view.record.status == "archived"
    window.list_panel.status_filter.setCurrentIndex(window.list_panel.status_filter.findText("Archived"))
    qtbot.waitUntil(lambda: window.model.row_of(a) is not None, timeout=5000)


def test_shortcuts_and_sync_seam(qtbot, window: MainWindow) -> None:
    keys = {a.text().replace("&", ""): a.shortcut().toString() for a in window.actions()}
    assert keys["New case…"] == "Ctrl+N"
    assert keys["Save"] == "Ctrl+S"
    assert keys["Find cases"] == "Ctrl+F"
    assert keys["Add files…"] == "Ctrl+O"
    assert keys["Sync now"] == "F5"
    assert keys["Sign in…"] == "Ctrl+Shift+L"
    assert keys["Conflicts…"] == "Ctrl+Shift+K"
    assert window.sync_panel.sync_action.isEnabled() and "F5" in window.sync_panel.sync_action.toolTip()
    window.activateWindow()
    window.find_action.trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.list_panel.search, timeout=5000)


def test_controls_have_accessible_names(window: MainWindow) -> None:
    kinds = (QLineEdit, QComboBox, QPlainTextEdit, QAbstractSpinBox, QTableView)
    unnamed = [
        type(w).__name__ for kind in kinds for w in window.findChildren(kind)
        if not w.accessibleName() and not isinstance(w.parent(), (QComboBox, QAbstractSpinBox))
    ]
    assert unnamed == []
    buttons = [b for b in window.findChildren(QAbstractButton) if b.isVisible()]
    assert all(b.accessibleName() or b.text() or b.toolTip() for b in buttons)


def test_geometry_and_splitter_persist(qtbot, make_window) -> None:
    first = make_window()
    first.resize(1100, 560)
    first.splitter.setSizes([560, 536])
    sizes = first.splitter.sizes()
    first.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # age, ascending
    first.close()
    second = make_window()
    assert second.size().width() == 1100
    assert second.splitter.sizes() == sizes
    assert second.model.query.sort == "age" and not second.model.query.descending


def test_errors_reach_the_status_bar_not_a_traceback(qtbot, window: MainWindow) -> None:
    window.open_case("no-such-case")
    qtbot.waitUntil(lambda: "No case with id" in window.statusBar().currentMessage(), timeout=5000)


def test_real_dialogs_answer_through_the_event_loop(qtbot, window: MainWindow,
                                                    ws: Workspace) -> None:
    """The real QMessageBox and New case dialog, driven like a person would."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from desktop.ui.cases.new_case_dialog import NewCaseDialog

    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.form.notes.setPlainText("draft")

    def press_discard() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        box.button(QMessageBox.StandardButton.Discard).click()

    QTimer.singleShot(0, press_discard)
    assert MainWindow.ask_unsaved(window) == DISCARD

    def fill_and_create() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, NewCaseDialog)
        dialog.name.setText("Real Dialog")
        dialog.age.setText("33")
        dialog.gender.setCurrentText("other")
        dialog.accept()

    QTimer.singleShot(0, fill_and_create)
    value = MainWindow.ask_new_case(window, None)
    assert value == NewCase("Real Dialog", 33, "other", None, "pending")


def test_a_finished_sync_reloads_the_open_case(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    ws.edit_case(a, patient_name="Changed Elsewhere")  # as a pull would
    window.runner.changed.emit(Changes.everything(), None)  # as a finished sync announces
    qtbot.waitUntil(lambda: window.case_view.form.name.text() == "Changed Elsewhere", timeout=5000)
    settle(qtbot, window)


def test_a_damaged_page_found_after_opening_is_said_at_once(qtbot, make_window, ws: Workspace,
                                                            monkeypatch) -> None:
    """Opening checks only the outbox's pages; the window checks the rest in the background
    and says so before more work goes into a damaged cache."""
    from PySide6.QtWidgets import QMessageBox

    from tests.test_cache_faults import corrupt

    for i in range(300):
        ws.create_case(f"Patient {i}", i % 90, "female", "note " * 20)
    ws.engine.dispose()
    corrupt(ws.folder.cache, "cases")
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    window = make_window(wait=False)
    qtbot.waitUntil(lambda: bool(said), timeout=10000)
    assert "is damaged" in said[0] and "repair" in said[0]
    assert "casedesk repair" not in said[0]  # the window's own words, no command line
    assert "is damaged" in window.statusBar().currentMessage()


def test_title_is_the_patient_with_the_unsaved_mark(qtbot, window: MainWindow,
                                                    ws: Workspace) -> None:
    assert window.windowHandle().title() == "Case Desk"
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    assert window.windowHandle().title() == "Amara Okafor — Case Desk"
    window.case_view.form.notes.setPlainText("changed")
    assert window.windowHandle().title() == "Amara Okafor* — Case Desk"
    window.case_view.discard()
    assert window.windowHandle().title() == "Amara Okafor — Case Desk"


def test_archive_asks_and_unarchive_restores_the_status(qtbot, window: MainWindow,
                                                        ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    ws.edit_case(a, status="analyzing")
    window.model.refresh()
    select_case(qtbot, window, a)
    asked: list[str] = []
    window.ask_archive = lambda name: asked.append(name) or False  # type: ignore[method-assign]
    window.archive_action.trigger()
    settle(qtbot, window)
    assert asked == ["Amara Okafor"] and ws.get_case(a).status == "analyzing"  # kept
    window.ask_archive = lambda name: True  # type: ignore[method-assign]
    window.case_view.archive_button.click()
    qtbot.waitUntil(lambda: ws.get_case(a).status == "archived", timeout=5000)
    settle(qtbot, window)
    assert window.unarchive_action.isEnabled() and not window.archive_action.isEnabled()
    assert window.case_view.archive_button.text() == "Unarchive"
    window.unarchive_action.trigger()
    qtbot.waitUntil(lambda: ws.get_case(a).status == "analyzing", timeout=5000)
    settle(qtbot, window)
    assert window.case_view.record.status == "analyzing"
    assert window.model.row_of(a) is not None  # back in the list


def test_a_new_case_opens_on_its_details(qtbot, window: MainWindow, ws: Workspace) -> None:
    a, _b = two_cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    window.case_view.tabs.setCurrentWidget(window.case_view.insights)
    window.ask_new_case = lambda reason=None: NewCase("Nadia Novak", 29, "female", None, "pending")  # type: ignore[method-assign]
    window.new_action.trigger()
    qtbot.waitUntil(lambda: window.case_view.record is not None
                    and window.case_view.record.patient_name == "Nadia Novak", timeout=5000)
    settle(qtbot, window)
    assert window.case_view.tabs.currentWidget() is window.case_view.details
