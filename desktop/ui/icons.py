"""Small icons drawn with QPainter: no binary resources, crisp at any scale.

The app's icon and the sync icons are drawn before the start window's first paint, so this
module never touches PySide6's ``Qt`` namespace: making its ~90 enum classes costs ~20 ms,
about a seventh of a bare window's start (see start_window). Shapes are filled, not stroked
(no pen or cap styles): a line with round ends is a capsule, filled.
"""

from __future__ import annotations

import math
from functools import cache

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import (
    QBrush,
    QColor,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
    QTransform,
)

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


GLYPH_WIDTH = 3.2  # the sync glyphs' line width on the 32-pixel canvas


def _canvas(size: int = 32, design: int = 32) -> tuple[QPixmap, QPainter]:
    """A transparent *size* pixmap and a painter drawing in a *design* × *design* space."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if size != design:
        painter.scale(size / design, size / design)
    return pixmap, painter


def _solid(color: str) -> QBrush:
    """A solid brush of *color*. Made by a palette: QBrush's own constructors (and QPainter's
    setters that take a colour) have overloads taking ``Qt`` enums, and PySide6 makes the
    whole namespace to rule those out."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(color))
    return palette.window()


def _fill(painter: QPainter, shape: QPainterPath, color: str) -> None:
    painter.fillPath(shape, _solid(color))


def _stroke(start: tuple[float, float], end: tuple[float, float],
            width: float = GLYPH_WIDTH) -> QPainterPath:
    """A line from *start* to *end* with round ends: a capsule, to be filled."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    capsule = QPainterPath()
    capsule.addRoundedRect(QRectF(-width / 2, -width / 2, length + width, width),
                           width / 2, width / 2)
    turn = QTransform()
    turn.translate(x0, y0)
    turn.rotateRadians(math.atan2(y1 - y0, x1 - x0))
    return turn.map(capsule)


@cache
def sync_icon(state: str) -> QIcon:
    """A coloured disc per sync state, with a glyph so colour is not the only signal."""
    pixmap, p = _canvas()
    disc = QPainterPath()
    disc.addEllipse(QRectF(3, 3, 26, 26))
    _fill(p, disc, SYNC_COLORS.get(state, "#757575"))
    if state == "synced":  # tick
        glyph = [_stroke((10, 16.5), (14.5, 21)), _stroke((14.5, 21), (22, 11.5))]
    elif state == "pending":  # clock hands
        glyph = [_stroke((16, 16), (16, 9)), _stroke((16, 16), (21, 19))]
    elif state in ("conflict", "error"):  # exclamation mark
        dot = QPainterPath()
        dot.addEllipse(QPointF(16, 23), GLYPH_WIDTH / 2, GLYPH_WIDTH / 2)
        glyph = [_stroke((16, 9), (16, 18)), dot]
    else:  # removed remotely: a bar
        glyph = [_stroke((10, 16), (22, 16))]
    for part in glyph:  # one by one: overlapping parts of one path would cancel out
        _fill(p, part, "white")
    p.end()
    return QIcon(pixmap)


def _rounded(x: float, y: float, w: float, h: float, radius: float) -> QPainterPath:
    shape = QPainterPath()
    shape.addRoundedRect(QRectF(x, y, w, h), radius, radius)
    return shape


def _disc(x: float, y: float, radius: float) -> QPainterPath:
    shape = QPainterPath()
    shape.addEllipse(QPointF(x, y), radius, radius)
    return shape


BLUE = "#1565c0"
GREEN = "#2e7d32"
BROWN = "#6d4c41"


def _plus_badge(p: QPainter) -> None:
    """A green disc with a white plus, bottom right: "add"."""
    _fill(p, _disc(23, 23, 8.5), "white")  # a ring that keeps the badge apart from the shape
    _fill(p, _disc(23, 23, 7), GREEN)
    for part in (_stroke((23, 19), (23, 27), 2.6), _stroke((19, 23), (27, 23), 2.6)):
        _fill(p, part, "white")


def _draw_new_case(p: QPainter) -> None:  # a case folder, with "add"
    _fill(p, _rounded(2, 9, 26, 19, 3), BLUE)
    _fill(p, _rounded(2, 5, 11, 7, 2), BLUE)
    _plus_badge(p)


def _draw_save(p: QPainter) -> None:  # a diskette
    _fill(p, _rounded(4, 4, 24, 24, 3), BLUE)
    _fill(p, _rounded(9, 4, 14, 9, 1), "white")  # the shutter
    _fill(p, _rounded(19, 5.5, 2.5, 6, 0.5), BLUE)
    _fill(p, _rounded(8, 17, 16, 11, 1.5), "white")  # the label
    for y in (20.5, 24):
        _fill(p, _stroke((11, y), (21, y), 1.4), "#90a4ae")


def _draw_add_files(p: QPainter) -> None:  # a page, with "add"
    _fill(p, _rounded(5, 2, 19, 26, 2), BLUE)
    _fill(p, _rounded(7.5, 4.5, 14, 21, 1), "white")
    for y in (9, 13, 17):
        _fill(p, _stroke((10.5, y), (18.5, y), 1.6), BLUE)
    _plus_badge(p)


def _draw_archive(p: QPainter) -> None:  # a storage box
    _fill(p, _rounded(3, 5, 26, 7, 1.5), BROWN)  # the lid
    _fill(p, _rounded(5, 11, 22, 17, 1.5), BROWN)
    _fill(p, _stroke((12.5, 16.5), (19.5, 16.5), 2.8), "white")  # the handle


_TOOLBAR_DRAWINGS = {
    "new_case": _draw_new_case,
    "save": _draw_save,
    "add_files": _draw_add_files,
    "archive": _draw_archive,
}


@cache
def toolbar_icon(name: str) -> QIcon:
    """The toolbar's icons ("new_case", "save", "add_files", "archive"), drawn at the
    toolbar's usual size and twice it (high-density screens). Drawn rather than the style's
    standard icons: asking the style for one makes PySide6 build QStyle's enums (~10 ms)
    before the start window's first paint, and drawn icons look alike on every platform."""
    icon = QIcon()
    for size in (24, 48):
        pixmap, p = _canvas(size)
        _TOOLBAR_DRAWINGS[name](p)
        p.end()
        icon.addPixmap(pixmap)
    return icon


@cache
def app_icon() -> QIcon:
    """A folder with a medical cross: Case Desk's window icon."""
    pixmap, p = _canvas(64)
    for rect, radius in ((QRectF(4, 12, 56, 44), 6), (QRectF(4, 6, 24, 12), 4)):
        shape = QPainterPath()
        shape.addRoundedRect(rect, radius, radius)
        _fill(p, shape, "#1565c0")
    for rect in (QRectF(28, 22, 8, 26), QRectF(19, 31, 26, 8)):  # the cross's two bars
        bar = QPainterPath()
        bar.addRect(rect)
        _fill(p, bar, "white")
    p.end()
    return QIcon(pixmap)
