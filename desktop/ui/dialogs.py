"""What every dialog that takes typed input shares: Escape (or Cancel, or the close button)
never throws away what a person typed without asking first."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QMessageBox, QWidget


def ask_discard(parent: QWidget, what: str) -> bool:
    """Ask before typed text is thrown away; True means throw it away."""
    box = QMessageBox(QMessageBox.Icon.Question, "Discard what you typed?",
                      f"Close without keeping {what}?", parent=parent)
    box.setInformativeText("What you typed here will be lost.")
    discard = box.addButton("&Discard", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("&Keep editing", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is discard


class GuardedDialog(QDialog):
    """A dialog whose reject (Escape, Cancel, the window's close button) asks first when the
    person has typed something. Subclasses say whether they hold typed text and what it is."""

    discard_what = "what you typed"

    def has_typed_text(self) -> bool:
        return False

    def ask_discard(self) -> bool:
        """True to close and lose the typed text (tests replace this)."""
        return ask_discard(self, self.discard_what)

    def reject(self) -> None:
        if self.has_typed_text() and not self.ask_discard():
            return
        super().reject()
