"""The New case dialog: inline validation, and the value it hands back."""

from __future__ import annotations

from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog


def test_new_case_dialog_validates_inline(qtbot) -> None:
    dialog = NewCaseDialog()
    qtbot.addWidget(dialog)
    dialog.accept()
    assert dialog.value is None and dialog.result() != NewCaseDialog.DialogCode.Accepted
    assert dialog.name_error.text() == "Patient name is required."
    assert "Gender is required" in dialog.gender_error.text()
    dialog.name.setText("  Nadia Novak ")
    dialog.age.setValue(29)
    dialog.gender.setCurrentText("Female")
    dialog.notes.setPlainText("first visit")
    dialog.accept()
    assert dialog.value == NewCase("Nadia Novak", 29, "female", "first visit", "pending")
    assert dialog.name_error.isHidden()
    assert dialog.age.maximum() == 150
