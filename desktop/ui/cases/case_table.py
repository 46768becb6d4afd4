"""The case list's table view: its look, shared with the start window's preview, and the
drop-target row it paints while files are dragged over it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from desktop.ui.cases.case_columns import COL_UPDATED, DEFAULT_WIDTHS

ACCENT = QColor("#1565c0")


class CaseTable(QTableView):
    """The case list view; paints the drop-target row while files are dragged over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._drop_row = -1

    def apply_list_look(self) -> None:
        """Rows, header and widths of the case list (the start window's preview shares them)."""
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        vheader = self.verticalHeader()
        vheader.hide()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: no measuring
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(COL_UPDATED, Qt.SortOrder.DescendingOrder)
        for column, width in DEFAULT_WIDTHS:
            header.resizeSection(column, width)
        header.setHighlightSections(False)

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
