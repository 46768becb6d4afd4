"""Small icons drawn with QPainter: no binary resources, crisp at any scale."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

SYNC_COLORS = {
    "synced": "#2e7d32",
    "pending": "#f9a825",
    "conflict": "#c62828",
    "error": "#c62828",
    "removed_remotely": "#6d4c41",
}

SYNC_LABELS = {
    "synced": "Synced",
    "pending": "Waiting to sync",
    "conflict": "Conflict",
    "error": "Sync error",
    "removed_remotely": "Removed on server",
}

# The list's sync column: one short word beside the icon (the long label is in the tooltip).
SYNC_SHORT = {
    "synced": "Synced",
    "pending": "Waiting",
    "conflict": "Conflict",
    "error": "Error",
    "removed_remotely": "Removed",
}


def _canvas(size: int = 32) -> tuple[QPixmap, QPainter]:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    return pixmap, painter


@cache
def sync_icon(state: str) -> QIcon:
    """A coloured disc per sync state, with a glyph so colour is not the only signal."""
    pixmap, p = _canvas()
    color = QColor(SYNC_COLORS.get(state, "#757575"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(QRectF(3, 3, 26, 26))
    pen = QPen(QColor("white"), 3.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if state == "synced":  # tick
        path = QPainterPath(QPointF(10, 16.5))
        path.lineTo(14.5, 21)
        path.lineTo(22, 11.5)
        p.drawPath(path)
    elif state == "pending":  # clock hands
        p.drawLine(QPointF(16, 16), QPointF(16, 9))
        p.drawLine(QPointF(16, 16), QPointF(21, 19))
    elif state in ("conflict", "error"):  # exclamation mark
        p.drawLine(QPointF(16, 9), QPointF(16, 18))
        p.drawPoint(QPointF(16, 23))
    else:  # removed remotely: a bar
        p.drawLine(QPointF(10, 16), QPointF(22, 16))
    p.end()
    return QIcon(pixmap)


@cache
def app_icon() -> QIcon:
    """A folder with a medical cross: Case Desk's window icon."""
    pixmap, p = _canvas(64)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#1565c0"))
    p.drawRoundedRect(QRectF(4, 12, 56, 44), 6, 6)
    p.drawRoundedRect(QRectF(4, 6, 24, 12), 4, 4)
    p.setBrush(QColor("white"))
    p.drawRect(QRectF(28, 22, 8, 26))
    p.drawRect(QRectF(19, 31, 26, 8))
    p.end()
    return QIcon(pixmap)
