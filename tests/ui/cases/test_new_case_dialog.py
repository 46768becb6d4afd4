"""The New case dialog: inline validation that never alters what was typed, the value it hands
back, reading-order focus, underlined letters, and Escape that asks before losing typed text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog


def shown(qtbot, reason: str | None = None) -> NewCaseDialog:
    dialog = NewCaseDialog(None, reason)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5000)
    return dialog


def test_new_case_dialog_validates_inline(qtbot) -> None:
    dialog = NewCaseDialog()
    qtbot.addWidget(dialog)
    dialog.accept()
    assert dialog.value is None and dialog.result() != NewCaseDialog.DialogCode.Accepted
    assert dialog.name_error.text() == "Patient name is required."
    assert "Gender is required" in dialog.gender_error.text()
    assert dialog.age_error.text() == "Age is required: a whole number of years, 0–150."
    dialog.name.setText("  Nadia Novak ")
    dialog.age.setText("29")
    dialog.gender.setCurrentText("Female")
    dialog.notes.setPlainText("first visit")
    dialog.accept()
    assert dialog.value == NewCase("Nadia Novak", 29, "female", "first visit", "pending")
    assert dialog.name_error.isHidden()


def test_a_new_case_has_no_made_up_age(qtbot) -> None:
    dialog = NewCaseDialog()
    qtbot.addWidget(dialog)
    assert dialog.age.text() == ""
    dialog.name.setText("Nadia Novak")
    dialog.gender.setCurrentText("female")
    dialog.accept()
    assert dialog.value is None and not dialog.age_error.isHidden()


def test_typing_age_200_shows_why_and_keeps_every_digit(qtbot) -> None:
    dialog = shown(qtbot)
    dialog.name.setText("Nadia Novak")
    dialog.gender.setCurrentText("female")
    dialog.age.setFocus()
    qtbot.keyClicks(dialog.age, "200")
    assert dialog.age.text() == "200"  # not 20: nothing typed is dropped
    assert not dialog.age_error.isHidden()  # shown while typing, before any save
    assert dialog.age_error.text() == "Age must be between 0 and 150 years; '200' is not."
    qtbot.keyClick(dialog.age, Qt.Key.Key_Return)  # the default button: Create case
    assert dialog.value is None and dialog.isVisible() and dialog.age.text() == "200"
    for bad, message in (("4x", "whole number"), ("12.5", "whole number"), ("-3", "between")):
        dialog.age.setText(bad)
        assert message in dialog.age_error.text()
        dialog.accept()
        assert dialog.value is None and dialog.age.text() == bad


def test_messages_clear_when_the_field_is_fixed(qtbot) -> None:
    dialog = shown(qtbot)
    dialog.accept()
    assert all(not e.isHidden() for e in (dialog.name_error, dialog.age_error,
                                           dialog.gender_error))
    qtbot.keyClicks(dialog.name, "Nadia")
    assert dialog.name_error.isHidden()
    dialog.age.setFocus()
    qtbot.keyClicks(dialog.age, "2000")
    assert not dialog.age_error.isHidden()
    qtbot.keyClick(dialog.age, Qt.Key.Key_Backspace)
    assert dialog.age.text() == "200" and not dialog.age_error.isHidden()
    qtbot.keyClick(dialog.age, Qt.Key.Key_Backspace)
    assert dialog.age.text() == "20" and dialog.age_error.isHidden()
    dialog.gender.setCurrentText("other")
    assert dialog.gender_error.isHidden()


def test_opens_on_the_name_and_tabs_in_reading_order(qtbot) -> None:
    dialog = shown(qtbot)
    assert QApplication.focusWidget() is dialog.name
    seen = [QApplication.focusWidget()]
    for _ in range(len(dialog.tab_chain) - 1):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    names = [w.accessibleName() or w.text() for w in seen]
    assert seen == dialog.tab_chain, names
    assert names == ["Patient name", "Age", "Gender", "Status", "Notes", "Create case", "Cancel"]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.name  # round again, never lost
    qtbot.keyClick(dialog.name, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is dialog.cancel_button


def test_every_underlined_letter_focuses_its_field(qtbot) -> None:
    dialog = shown(qtbot)
    for key, field in ((Qt.Key.Key_A, dialog.age), (Qt.Key.Key_G, dialog.gender),
                       (Qt.Key.Key_S, dialog.status), (Qt.Key.Key_N, dialog.notes),
                       (Qt.Key.Key_P, dialog.name)):
        qtbot.keyClick(QApplication.focusWidget(), key, Qt.KeyboardModifier.AltModifier)
        focused = QApplication.focusWidget()
        assert focused is field or field.isAncestorOf(focused), (key, focused)


def test_escape_with_typed_text_asks_first(qtbot) -> None:
    dialog = shown(qtbot)
    asked: list[int] = []
    dialog.ask_discard = lambda: asked.append(1) or False  # type: ignore[method-assign]
    qtbot.keyClicks(dialog.name, "Nadia")
    qtbot.keyClick(dialog.name, Qt.Key.Key_Escape)
    assert asked == [1] and dialog.isVisible() and dialog.name.text() == "Nadia"
    dialog.ask_discard = lambda: asked.append(2) or True  # type: ignore[method-assign]
    qtbot.keyClick(dialog.name, Qt.Key.Key_Escape)
    assert asked == [1, 2] and not dialog.isVisible()
    assert dialog.result() == NewCaseDialog.DialogCode.Rejected


def test_escape_on_an_empty_dialog_just_closes(qtbot) -> None:
    dialog = shown(qtbot)
    dialog.ask_discard = lambda: (_ for _ in ()).throw(AssertionError("asked"))  # type: ignore[method-assign]
    qtbot.keyClick(dialog.name, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
