"""Confirmations before something leaves: a document removed from a patient's case, a case
deleted with its documents. Each names the patient and what goes, says what can be undone,
and has the safe choice as its default (Enter and Escape keep everything)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(parent: QWidget | None, title: str, text: str, detail: str, act: str) -> QMessageBox:
    """The box (not yet shown): ``act`` is the destructive button's text."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setInformativeText(detail)
    box.setObjectName("confirmRemoval")
    go = box.addButton(act, QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("&Keep it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.setProperty("go", go)
    return box


def removal_box(parent: QWidget | None, patient: str, document: str) -> QMessageBox:
    return confirm(
        parent, "Remove document", f"Remove “{document}” from the case of {patient}?",
        "It leaves this computer's list at once, and the server at the next sync. Until "
        "then, Edit › Undo brings it back.", "&Remove")


def deletion_box(parent: QWidget | None, patient: str, documents: int) -> QMessageBox:
    files = (f"its {documents} document{'s' if documents != 1 else ''}" if documents
             else "no documents")
    return confirm(
        parent, "Delete case", f"Delete the case of {patient} with {files}?",
        "The case and its documents leave this computer's list at once, and the server at "
        "the next sync. Until then, Edit › Undo brings them back.", "&Delete case")


def accepted(box: QMessageBox) -> bool:
    box.exec()
    return box.clickedButton() is box.property("go")
