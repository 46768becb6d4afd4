"""The open case's form in the window: what a person types is never changed or saved wrong."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace

from ..conftest import select_case, settle


def open_one(qtbot, window: MainWindow, ws: Workspace) -> str:
    case = ws.create_case("Amara Okafor", 47, "female", "cough")
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    select_case(qtbot, window, case.id)
    return case.id


def test_age_200_is_shown_refused_and_never_saved(qtbot, window: MainWindow,
                                                   ws: Workspace) -> None:
    case_id = open_one(qtbot, window, ws)
    form = window.case_view.form
    window.activateWindow()
    form.age.setFocus()
    form.age.selectAll()
    qtbot.keyClicks(form.age, "200")
    assert form.age.text() == "200"
    assert form.age_error.text() == "Age must be between 0 and 150 years; '200' is not."
    assert not form.age_error.isHidden() and window.case_view.dirty
    qtbot.keyClick(form.age, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S
    window.save_action.trigger()
    settle(qtbot, window)
    assert ws.get_case(case_id).patient_age == 47  # not 20, not 150, not 200
    assert form.age.text() == "200" and window.case_view.dirty
    qtbot.keyClick(form.age, Qt.Key.Key_Backspace)
    assert form.age_error.isHidden()  # 20 is a valid age: the message goes at once
    qtbot.keyClick(form.age, Qt.Key.Key_Backspace)
    qtbot.keyClick(form.age, Qt.Key.Key_Backspace)
    window.save_action.trigger()
    assert form.age_error.text().startswith("Age is required")
    qtbot.keyClicks(form.age, "48")
    assert form.age_error.isHidden()
    window.save_action.trigger()
    qtbot.waitUntil(lambda: not window.case_view.dirty, timeout=5000)
    settle(qtbot, window)
    assert ws.get_case(case_id).patient_age == 48


def test_name_message_clears_when_fixed(qtbot, window: MainWindow, ws: Workspace) -> None:
    case_id = open_one(qtbot, window, ws)
    form = window.case_view.form
    form.name.clear()
    window.save_action.trigger()
    assert form.name_error.text() == "Patient name is required."
    form.name.setFocus()
    qtbot.keyClicks(form.name, "A")
    assert form.name_error.isHidden()
    form.status.setCurrentText("")
    window.save_action.trigger()
    assert not form.status_error.isHidden()
    form.status.setCurrentText("completed")
    assert form.status_error.isHidden()
    settle(qtbot, window)
    assert ws.get_case(case_id).patient_name == "Amara Okafor"


def test_case_form_letters_focus_their_fields(qtbot, window: MainWindow, ws: Workspace) -> None:
    open_one(qtbot, window, ws)
    form = window.case_view.form
    window.activateWindow()
    form.name.setFocus()
    for key, field in ((Qt.Key.Key_A, form.age), (Qt.Key.Key_T, form.status),
                       (Qt.Key.Key_N, form.notes), (Qt.Key.Key_P, form.name)):
        qtbot.keyClick(QApplication.focusWidget(), key, Qt.KeyboardModifier.AltModifier)
        focused = QApplication.focusWidget()
        assert focused is field or field.isAncestorOf(focused), (key, focused)
