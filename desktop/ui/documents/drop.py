"""Drag and drop of files onto the window: accept, highlight the target, hand off — nothing slow.

An event filter on the window and on each of its widgets that takes drops of its own (text
fields would otherwise swallow file drops) sees every drag over the window, works out the target under the cursor — a case row, the open
case, or "a new case" — highlights it, and on drop only emits a queued signal. Intake itself
runs in a worker (see MainWindow.attach).

The filter is deliberately not application-wide: that would run Python, and so take the GIL,
for every event of every widget, and while a sync works in another thread each of those
takes up to a switch interval; bench.gui's stall probe showed 40-75 ms event-loop stalls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDropEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from desktop.ui.cases.case_table import ACCENT, CaseTable
from desktop.ui.documents.documents_view import DOCUMENT_MIME


def local_paths(mime: QMimeData | None) -> list[Path]:
    """The local files and folders a drag carries; remote URLs are not ours to fetch."""
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


@dataclass(frozen=True)
class DropTarget:
    """Where a drop would go: ``kind`` is "row" (case_id of that row), "open" or "new"."""

    kind: str
    case_id: str | None = None
    row: int = -1
    label: str = ""


class DropOverlay(QWidget):
    """A translucent frame with a caption over ``cover`` while it is the drop target.

    It is a child of ``parent`` (never of a splitter, which would adopt it as a pane) and is
    placed over ``cover`` each time it is shown.
    """

    def __init__(self, parent: QWidget, cover: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cover = cover or parent
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setAccessibleName("Drop target")
        self.text = ""
        self.hide()

    def show_text(self, text: str) -> None:
        self.text = text
        parent = self.parentWidget()
        if parent is not None:
            if self.cover is parent:
                self.setGeometry(parent.rect())
            else:
                top_left = self.cover.mapTo(parent, QPoint(0, 0))
                self.setGeometry(QRect(top_left, self.cover.size()))
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(ACCENT)
        fill.setAlpha(40)
        painter.fillRect(self.rect(), fill)
        pen = QPen(ACCENT, 3, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(self.rect().adjusted(4, 4, -5, -5), 10, 10)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        painter.setFont(font)
        box = self.rect().adjusted(24, 0, -24, 0)
        metrics = painter.fontMetrics()
        text_rect = metrics.boundingRect(box, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.text)
        bubble = text_rect.adjusted(-20, -14, 20, 14)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("white"))
        painter.drawRoundedRect(bubble, 8, 8)
        painter.setPen(ACCENT.darker(130))
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.text)


class DropController(QObject):
    """Routes file drags anywhere on ``window`` to a target and emits ``dropped`` (queued)."""

    dropped = Signal(list, object)  # list[Path], DropTarget
    document_dropped = Signal(str, str)  # a document dragged from the list, the case it goes to

    def __init__(
        self,
        window: QWidget,
        table: CaseTable,
        case_area: QWidget,
        whole_area: QWidget,
        open_case: Callable[[], tuple[str, str] | None],
        row_label: Callable[[int], tuple[str, str] | None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.table = table
        self.case_overlay = DropOverlay(case_area)
        self.window_overlay = DropOverlay(window, whole_area)
        self._open_case = open_case  # () -> (case id, name) of the open case, or None
        self._row_label = row_label  # row -> (case id, name), or None
        self.target: DropTarget | None = None
        window.setAcceptDrops(True)
        # Qt sends a drag to the widget under the cursor that takes drops, else to its nearest
        # ancestor that does: the window. The table's viewport is watched too, so a drag sent
        # straight to it (as tests do) is seen.
        for widget in [window, table.viewport(), *window.findChildren(QWidget)]:
            if widget is window or widget is table.viewport() or widget.acceptDrops():
                widget.installEventFilter(self)

    # ------------------------------------------------------------ routing

    def target_at(self, global_pos: QPoint) -> DropTarget:
        viewport = self.table.viewport()
        local = viewport.mapFromGlobal(global_pos)
        if viewport.isVisible() and viewport.rect().contains(local):
            row = self.table.rowAt(local.y())
            info = self._row_label(row) if row >= 0 else None
            if info is not None:
                return DropTarget("row", info[0], row, f"Attach to {info[1]}")
        opened = self._open_case()
        if opened is not None:
            return DropTarget("open", opened[0], -1, f"Drop to attach to {opened[1]}")
        return DropTarget("new", None, -1, "Drop to create a new case with these files")

    def _highlight(self, target: DropTarget | None) -> None:
        self.target = target
        self.table.set_drop_row(target.row if target and target.kind == "row" else -1)
        if target is not None and target.kind == "open":
            self.case_overlay.show_text(target.label)
        else:
            self.case_overlay.hide()
        if target is not None and target.kind == "new":
            self.window_overlay.show_text(target.label)
        else:
            self.window_overlay.hide()
        status = getattr(self.window, "statusBar", None)
        if callable(status):
            if target is not None:
                status().showMessage(target.label)
            else:
                status().clearMessage()

    def clear(self) -> None:
        self._highlight(None)

    # ------------------------------------------------------------ events

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove,
                        QEvent.Type.DragLeave, QEvent.Type.Drop):
            return False
        if not isinstance(obj, QWidget):
            return False
        if kind == QEvent.Type.DragLeave:
            self.clear()
            return False
        assert isinstance(event, QDropEvent)  # DragEnter and DragMove derive from it
        mime = event.mimeData()
        if mime is not None and mime.hasFormat(DOCUMENT_MIME):
            return self._document_drag(obj, event, kind)
        paths = local_paths(event.mimeData())
        if not paths:
            return False  # not files: let the widget handle it (text drags into fields)
        target = self.target_at(obj.mapToGlobal(event.position().toPoint()))
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        if kind == QEvent.Type.Drop:
            self.clear()
            # Queued: the drag source (a file manager) is released before any work starts.
            QTimer.singleShot(0, lambda: self.dropped.emit(paths, target))
        else:
            self._highlight(target)
        return True

    def _document_drag(self, obj: QWidget, event: QDropEvent, kind: QEvent.Type) -> bool:
        """A document dragged from the documents list: onto another case's row, it moves
        there; anywhere else it is not taken."""
        raw = bytes(event.mimeData().data(DOCUMENT_MIME).data()).decode(errors="replace")
        document_id, _, from_case = raw.partition("\n")
        target = self.target_at(obj.mapToGlobal(event.position().toPoint()))
        if target.kind != "row" or target.case_id in (None, from_case) or not document_id:
            self._highlight(None)
            if kind == QEvent.Type.DragEnter:
                event.acceptProposedAction()  # keep hearing the drag as it moves on
            else:
                event.ignore()
            return True
        label = "Move to " + target.label.removeprefix("Attach to ")
        target = DropTarget("row", target.case_id, target.row, label)
        event.setDropAction(Qt.DropAction.MoveAction)
        event.accept()
        if kind == QEvent.Type.Drop:
            self.clear()
            case_id = target.case_id
            assert case_id is not None
            QTimer.singleShot(0, lambda: self.document_dropped.emit(document_id, case_id))
        else:
            self._highlight(target)
        return True
