"""Edit › Undo for the last removal or deletion made in this window: until it has reached the
server, a document removed or a case deleted can come back. One action, owned here; the
features offer what the last undoable step was."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


class UndoLast(QObject):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.action = QAction("U&ndo", parent)
        self.action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.action.setToolTip("Undo the last removal or deletion, until it reaches the server")
        self.action.triggered.connect(lambda _c=False: self.trigger())
        self._undo: Callable[[], None] | None = None
        self.clear()

    def offer(self, what: str, undo: Callable[[], None]) -> None:
        """``what``: "removal of lab.pdf"; ``undo`` runs the operation that brings it back."""
        self._undo = undo
        self.action.setText(f"U&ndo {what}")
        self.action.setEnabled(True)

    def clear(self) -> None:
        self._undo = None
        self.action.setText("U&ndo")
        self.action.setEnabled(False)

    def trigger(self) -> None:
        undo, self._undo = self._undo, None
        self.clear()
        if undo is not None:
            undo()
