"""The case list's table view: its look, shared with the start window's preview, and the
drop-target row it paints while files are dragged over it.

It is a list of rows, not a grid of cells: Tab leaves it (the arrows move inside), Home/End and
Ctrl+Home/Ctrl+End go to the first and last case, and nothing scrolls the patient's name out of
sight sideways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QRect
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QWidget

from desktop.ui.cases.case_columns import COL_NAME, COL_SYNC, COLUMNS, MIN_NAME_WIDTH, WIDEST
from desktop.ui.row_table import RowTable

if TYPE_CHECKING:
    from PySide6.QtCore import Qt

ACCENT = QColor("#1565c0")
_Move = QAbstractItemView.CursorAction


class CaseTable(RowTable):
    """The case list view; paints the drop-target row while files are dragged over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._drop_row = -1

    def apply_list_look(self) -> None:
        """Rows, header and widths of the case list (the start window's preview shares them).
        Runs before the start window's first paint, so it touches no ``Qt`` enum (see
        start_window); the full list sets its default sort itself."""
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        vheader = self.verticalHeader()
        vheader.hide()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: no measuring
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(32)
        header.setHighlightSections(False)
        self.fit_columns()

    def fit_columns(self) -> None:
        """The narrow columns as wide as their widest words (and header, with its sort arrow);
        the name takes the rest, and the list never gets narrower than all of them need."""
        header = self.horizontalHeader()
        metrics = self.fontMetrics()
        icon = self.iconSize().width() if self.iconSize().width() > 0 else 16
        fixed = 0
        for column, texts in WIDEST.items():
            width = max(max(metrics.horizontalAdvance(t) for t in texts) + 14,
                        metrics.horizontalAdvance(COLUMNS[column][0]) + 26)
            if column == COL_SYNC:
                width += icon + 4
            header.resizeSection(column, width)
            fixed += width
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        scrollbar = self.verticalScrollBar().sizeHint().width()  # the style's scroll bar extent
        self.setMinimumWidth(fixed + MIN_NAME_WIDTH + scrollbar + 2 * self.frameWidth() + 2)

    def moveCursor(self, action: _Move, modifiers: Qt.KeyboardModifier) -> QModelIndex:  # noqa: N802 - Qt API
        """Rows only: Home/End go to the first/last case, Left/Right stay on the name."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return super().moveCursor(action, modifiers)
        current = self.currentIndex()
        if not current.isValid() and action in (_Move.MoveDown, _Move.MoveNext,
                                                 _Move.MovePageDown):
            return super().moveCursor(action, modifiers)  # the first case
        if action in (_Move.MoveHome, _Move.MoveEnd):
            row = 0 if action == _Move.MoveHome else model.rowCount() - 1
            return model.index(row, COL_NAME)
        if action in (_Move.MoveLeft, _Move.MoveRight, _Move.MoveNext, _Move.MovePrevious):
            return current if current.isValid() else model.index(0, COL_NAME)
        index = super().moveCursor(action, modifiers)
        return model.index(index.row(), COL_NAME) if index.isValid() else index

    def scrollTo(self, index: QModelIndex, hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible) -> None:  # noqa: N802, E501 - Qt API
        """Scroll to a row, never sideways away from the patient's name."""
        model = self.model()
        if index.isValid() and model is not None and index.column() != COL_NAME:
            index = model.index(index.row(), COL_NAME)
        super().scrollTo(index, hint)

    @property
    def drop_row(self) -> int:
        return self._drop_row

    def set_drop_row(self, row: int) -> None:
        if row != self._drop_row:
            self._drop_row = row
            self.viewport().update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self._drop_row < 0 or self.model() is None:
            return
        y = self.rowViewportPosition(self._drop_row)
        if y < -self.rowHeight(self._drop_row):
            return
        rect = QRect(0, y, self.viewport().width(), self.rowHeight(self._drop_row))
        painter = QPainter(self.viewport())
        fill = QColor(ACCENT)
        fill.setAlpha(110)
        painter.fillRect(rect, fill)
        painter.setPen(QPen(ACCENT.darker(120), 3))
        painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.end()
