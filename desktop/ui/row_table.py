"""A table that is a list of rows (the case list, a case's documents): Tab leaves it, and
arriving in it marks nothing, so the first Down (or Space) picks the first row. Qt would make
the first row current on arrival, and the first Down would then skip it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QAbstractItemView, QTableView, QWidget

if TYPE_CHECKING:  # only named here: the start window paints before Qt's namespace is made
    from PySide6.QtCore import Qt

_Move = QAbstractItemView.CursorAction


class RowTable(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabKeyNavigation(False)  # Tab goes to the next control, not the next cell
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)

    def focusInEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        had_current = self.currentIndex().isValid()
        super().focusInEvent(event)
        sm = self.selectionModel()
        if not had_current and sm is not None and not sm.hasSelection():
            sm.clearCurrentIndex()

    def moveCursor(self, action: _Move, modifiers: Qt.KeyboardModifier) -> QModelIndex:  # noqa: N802 - Qt API
        model = self.model()
        if (model is not None and model.rowCount() > 0 and not self.currentIndex().isValid()
                and action in (_Move.MoveDown, _Move.MoveNext, _Move.MovePageDown)):
            return model.index(0, 0)  # nothing current yet: the first row
        return super().moveCursor(action, modifiers)
