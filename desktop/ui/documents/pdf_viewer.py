"""PDF documents as a clinician reads them: QtPdf's view (continuous pages, rendered on its
own threads), zoom in and out, fit to width or page, a page box, find in the text (QtPdf's
search model, matches highlighted), and text selection with copy.

QPdfView has no text selection of its own; ``SelectablePdfView`` adds it with QPdfDocument's
``getSelection``. That needs to know where each page is drawn, which QPdfView keeps private:
``page_rects`` computes the same layout from the same inputs (page sizes in points, the screen's
logical DPI, zoom mode and factor, margins and spacing), and a test checks it against the
pixels QPdfView paints.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QPainter, QPolygonF
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel, QPdfSelection
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.blob_seal import BlobDamaged
from desktop.errors import NotFoundError
from desktop.ui.documents.memory_buffer import MISSING, Source, buffer_of, read_source

log = logging.getLogger(__name__)

ZOOM_STEP = 1.25
ZOOM_MIN, ZOOM_MAX = 0.25, 8.0
SELECTION = QColor(30, 110, 220, 90)

PDF_ERRORS = {
    QPdfDocument.Error.IncorrectPassword: "it is protected by a password",
    QPdfDocument.Error.UnsupportedSecurityScheme: "its security scheme is not supported",
    QPdfDocument.Error.InvalidFileFormat: "it is damaged or not really a PDF",
    QPdfDocument.Error.FileNotFound: "the file is missing from this computer",
}


@dataclass(frozen=True)
class ViewState:
    """Where the reader is: what a sync must leave alone."""

    page: int
    zoom_mode: QPdfView.ZoomMode
    zoom: float
    scroll: tuple[int, int]


def page_rects(view: QPdfView) -> dict[int, QRect]:
    """Where QPdfView draws each page, in document (scrolled) pixels, in MultiPage mode."""
    doc = view.document()
    if doc is None or doc.status() != QPdfDocument.Status.Ready:
        return {}
    resolution = QGuiApplication.primaryScreen().logicalDotsPerInch() / 72.0
    margins, spacing = view.documentMargins(), view.pageSpacing()
    viewport = view.viewport().size()
    mode = view.zoomMode()
    sizes: list[QSize] = []
    for page in range(doc.pageCount()):
        points = doc.pagePointSize(page)
        base = QSize(_round(points.width() * resolution), _round(points.height() * resolution))
        if mode == QPdfView.ZoomMode.Custom:
            zoom = resolution * view.zoomFactor()
            size = QSize(_round(points.width() * zoom), _round(points.height() * zoom))
        elif mode == QPdfView.ZoomMode.FitToWidth:
            factor = (viewport.width() - margins.left() - margins.right()) / max(1, base.width())
            size = QSize(_round(base.width() * factor), _round(base.height() * factor))
        else:
            room = QSize(viewport.width() - margins.left() - margins.right(),
                         viewport.height() - spacing)
            size = base.scaled(room, Qt.AspectRatioMode.KeepAspectRatio)
        sizes.append(size)
    total = max((s.width() for s in sizes), default=0) + margins.left() + margins.right()
    rects: dict[int, QRect] = {}
    y = margins.top()
    for page, size in enumerate(sizes):
        x = (max(total, viewport.width()) - size.width()) // 2
        rects[page] = QRect(x, y, size.width(), size.height())
        y += size.height() + spacing
    return rects


def _round(value: float) -> int:
    """Qt's qRound: halves away from zero (Python's round() goes to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


class SelectablePdfView(QPdfView):
    """QPdfView plus text selection by mouse (and Ctrl+A for a page), copied with Ctrl+C."""

    selection_changed = Signal(str)  # the selected text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPageMode(QPdfView.PageMode.MultiPage)
        self.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        self.selection: QPdfSelection | None = None
        self._selection_page = -1
        self._anchor: tuple[int, QPointF] | None = None

    # ------------------------------------------------------------ geometry

    def page_at(self, pos: QPointF) -> tuple[int, QPointF] | None:
        """The page under a viewport position, and the position on it in PDF points."""
        doc = self.document()
        at = QPointF(pos.x() + self.horizontalScrollBar().value(),
                     pos.y() + self.verticalScrollBar().value())
        for page, rect in page_rects(self).items():
            if rect.contains(at.toPoint()):
                points = doc.pagePointSize(page)
                scale = points.width() / max(1, rect.width())
                return page, QPointF((at.x() - rect.x()) * scale, (at.y() - rect.y()) * scale)
        return None

    def page_to_viewport(self, page: int) -> tuple[QPointF, float] | None:
        """Offset and scale that map a page's points onto the viewport."""
        rect = page_rects(self).get(page)
        doc = self.document()
        if rect is None or doc is None:
            return None
        scale = rect.width() / max(1.0, doc.pagePointSize(page).width())
        return (QPointF(rect.x() - self.horizontalScrollBar().value(),
                        rect.y() - self.verticalScrollBar().value()), scale)

    # ------------------------------------------------------------ selection

    def select(self, page: int, start: QPointF, end: QPointF) -> None:
        doc = self.document()
        selection = doc.getSelection(page, start, end) if doc is not None else None
        self._set_selection(page, selection if selection is not None and selection.isValid()
                            else None)

    def select_page(self, page: int | None = None) -> None:
        doc = self.document()
        if doc is None or doc.pageCount() == 0:
            return
        page = self.pageNavigator().currentPage() if page is None else page
        length = len(doc.getAllText(page).text())
        self._set_selection(page, doc.getSelectionAtIndex(page, 0, length) if length else None)

    def clear_selection(self) -> None:
        self._set_selection(-1, None)

    def selected_text(self) -> str:
        return self.selection.text() if self.selection is not None else ""

    def copy(self) -> bool:
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)
        return bool(text)

    def _set_selection(self, page: int, selection: QPdfSelection | None) -> None:
        self.selection, self._selection_page = selection, page if selection else -1
        self.viewport().update()
        self.selection_changed.emit(self.selected_text())

    # ------------------------------------------------------------ events

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._anchor = self.page_at(event.position())
            self.clear_selection()
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if self._anchor is not None and event.buttons() & Qt.MouseButton.LeftButton:
            here = self.page_at(event.position())
            page, start = self._anchor
            if here is not None and here[0] == page:
                self.select(page, start, here[1])
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._anchor = None
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
            event.accept()
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_page()
            event.accept()
        else:
            super().keyPressEvent(event)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.selection is None:
            return
        placed = self.page_to_viewport(self._selection_page)
        if placed is None:
            return
        offset, scale = placed
        painter = QPainter(self.viewport())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(SELECTION)
        for polygon in self.selection.bounds():
            painter.drawPolygon(QPolygonF([QPointF(offset.x() + p.x() * scale,
                                                   offset.y() + p.y() * scale)
                                           for p in polygon]))
        painter.end()


class PdfViewer(QWidget):
    """A PDF with its controls: zoom, fit width / page, page box, find; selectable text."""

    state_changed = Signal()  # page or zoom changed (the window's menus follow)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = QPdfDocument(self)
        self.view = SelectablePdfView(self)
        self.view.setAccessibleName("PDF pages")
        self.view.setDocument(self.document)
        self.search = QPdfSearchModel(self)
        self.search.setDocument(self.document)
        self.view.setSearchModel(self.search)
        self._buffer: Any = None  # the bytes on show (QPdfDocument reads them as it goes)
        self._pending_step = 0

        def button(text: str, tip: str, slot: Any) -> QToolButton:
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.setAccessibleName(tip.split(" (")[0])
            b.clicked.connect(lambda _c=False: slot())
            return b

        self.zoom_out_button = button("−", "Zoom out (Ctrl+-)", self.zoom_out)
        self.zoom_in_button = button("+", "Zoom in (Ctrl++)", self.zoom_in)
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("8888%") + 4)
        self.fit_width_button = button("Fit width", "Fit the page width (Ctrl+9)",
                                       self.fit_width)
        self.fit_page_button = button("Fit page", "Fit the whole page (Ctrl+0)", self.fit_page)
        for b in (self.fit_width_button, self.fit_page_button):
            b.setCheckable(True)
        self.page_box = QSpinBox(self)
        self.page_box.setAccessibleName("Page")
        self.page_box.setKeyboardTracking(False)
        self.page_box.setMinimum(1)
        self.page_box.setPrefix("Page ")
        self.page_box.valueChanged.connect(lambda n: self.go_to_page(n - 1))
        self.page_count = QLabel(self)
        self.find_box = QLineEdit(self)
        self.find_box.setPlaceholderText("Find in document")
        self.find_box.setAccessibleName("Find in document")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.textChanged.connect(self._find_changed)
        self.find_box.returnPressed.connect(self.find_next)
        self.find_prev_button = button("▲", "Previous match (Shift+F3)", self.find_previous)
        self.find_next_button = button("▼", "Next match (F3)", self.find_next)
        self.find_count = QLabel(self)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(3)
        for w in (self.zoom_out_button, self.zoom_label, self.zoom_in_button,
                  self.fit_width_button, self.fit_page_button):
            bar.addWidget(w)
        bar.addSpacing(6)
        bar.addWidget(self.page_box)
        bar.addWidget(self.page_count)
        bar.addStretch(1)
        find = QHBoxLayout()
        find.setContentsMargins(0, 0, 0, 0)
        find.setSpacing(3)
        find.addWidget(self.find_box, 1)
        find.addWidget(self.find_prev_button)
        find.addWidget(self.find_next_button)
        find.addWidget(self.find_count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(bar)
        layout.addLayout(find)
        layout.addWidget(self.view, 1)

        self.view.pageNavigator().currentPageChanged.connect(self._page_changed)
        self.view.zoomFactorChanged.connect(lambda _f: self._show_zoom())
        self.view.zoomModeChanged.connect(lambda _m: self._show_zoom())
        self.search.countChanged.connect(self._show_matches)
        self.view.currentSearchResultIndexChanged.connect(lambda _i: self._show_matches())

    # ------------------------------------------------------------ the document

    def open(self, source: Source | bytes) -> str | None:
        """Load a PDF into memory (its stored bytes, decrypted: never a file in clear); None,
        or why it cannot be shown (damaged, protected, missing)."""
        self.close_document()
        try:
            data = read_source(source)
        except NotFoundError:
            return MISSING
        except BlobDamaged as exc:
            return str(exc)
        self._buffer = buffer_of(data, self)  # QPdfDocument reads it for as long as it is open
        self.document.load(self._buffer)  # all of it in memory: loaded at once
        error = self.document.error()
        if error != QPdfDocument.Error.None_:
            reason = PDF_ERRORS.get(error, "it could not be opened")
            self.document.close()
            return f"This PDF cannot be shown: {reason}."
        if self.document.pageCount() <= 0:
            self.document.close()
            return "This PDF has no pages."
        self.page_box.setMaximum(self.document.pageCount())
        self.page_count.setText(f"of {self.document.pageCount()}")
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.verticalScrollBar().setValue(0)
        self._page_changed(0)
        self._show_zoom()
        return None

    def close_document(self) -> None:
        self.view.clear_selection()
        self.find_box.clear()
        self.document.close()
        buffer = self._buffer
        if buffer is not None:
            buffer.close()
            buffer.deleteLater()
            self._buffer = None

    def metadata(self) -> dict[str, str]:
        doc = self.document
        data = {"Pages": str(doc.pageCount())}
        if doc.pageCount():
            points = doc.pagePointSize(0)
            data["Page size"] = (f"{points.width() / 72 * 25.4:.0f} × "
                                 f"{points.height() / 72 * 25.4:.0f} mm")
        for label, key in (("Title", QPdfDocument.MetaDataField.Title),
                           ("Producer", QPdfDocument.MetaDataField.Producer)):
            value = doc.metaData(key)
            if value:
                data[label] = str(value)
        return data

    # ------------------------------------------------------------ pages and zoom

    @property
    def page(self) -> int:
        return self.view.pageNavigator().currentPage()

    def go_to_page(self, page: int) -> None:
        if 0 <= page < self.document.pageCount() and page != self.page:
            self.view.pageNavigator().jump(page, QPointF(), 0)

    def effective_zoom(self) -> float:
        """The zoom on screen, whatever the mode (1.0: a point is a logical pixel at 72 dpi)."""
        if self.view.zoomMode() == QPdfView.ZoomMode.Custom:
            return self.view.zoomFactor()
        rect = page_rects(self.view).get(self.page)
        if rect is None:
            return 1.0
        resolution = QGuiApplication.primaryScreen().logicalDotsPerInch() / 72.0
        return rect.width() / max(1.0, self.document.pagePointSize(self.page).width() * resolution)

    def set_zoom(self, factor: float) -> None:
        factor = max(ZOOM_MIN, min(ZOOM_MAX, factor))
        top = self.view.verticalScrollBar().value()
        old = max(1e-6, self.effective_zoom())
        self.view.setZoomMode(QPdfView.ZoomMode.Custom)
        self.view.setZoomFactor(factor)
        self.view.verticalScrollBar().setValue(round(top * factor / old))  # same place

    def zoom_in(self) -> None:
        self.set_zoom(self.effective_zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.effective_zoom() / ZOOM_STEP)

    def fit_width(self) -> None:
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)

    def fit_page(self) -> None:
        self.view.setZoomMode(QPdfView.ZoomMode.FitInView)

    def state(self) -> ViewState:
        return ViewState(self.page, self.view.zoomMode(), round(self.effective_zoom(), 4),
                         (self.view.horizontalScrollBar().value(),
                          self.view.verticalScrollBar().value()))

    def _page_changed(self, page: int) -> None:
        self.page_box.blockSignals(True)
        self.page_box.setValue(page + 1)
        self.page_box.blockSignals(False)
        self.state_changed.emit()

    def _show_zoom(self) -> None:
        mode = self.view.zoomMode()
        self.fit_width_button.setChecked(mode == QPdfView.ZoomMode.FitToWidth)
        self.fit_page_button.setChecked(mode == QPdfView.ZoomMode.FitInView)
        self.zoom_label.setText(f"{self.effective_zoom() * 100:.0f}%")
        self.state_changed.emit()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._show_zoom()

    # ------------------------------------------------------------ find

    def focus_find(self) -> None:
        self.find_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.find_box.selectAll()

    def _find_changed(self, text: str) -> None:
        self._pending_step = 0
        self.search.setSearchString(text)
        self.view.setCurrentSearchResultIndex(-1)
        self._show_matches()

    def matches(self) -> int:
        return self.search.rowCount(QModelIndex())

    def find_next(self) -> None:
        self._step(1)

    def find_previous(self) -> None:
        self._step(-1)

    def _step(self, direction: int) -> None:
        count = self.matches()
        if not count:
            # Still searching (the model fills in as it reads the pages): go there once found.
            self._pending_step = direction if self.find_box.text() else 0
            return
        self._pending_step = 0
        current = self.view.currentSearchResultIndex()
        index = (current + direction) % count if current >= 0 else (0 if direction > 0
                                                                     else count - 1)
        self.view.setCurrentSearchResultIndex(index)
        result = self.search.resultAtIndex(index)
        self.view.pageNavigator().jump(result.page(), result.location(), 0)
        self._show_matches()

    def _show_matches(self) -> None:
        if self._pending_step and self.matches():
            self._step(self._pending_step)
            return
        if not self.find_box.text():
            self.find_count.setText("")
            return
        count = self.matches()
        current = self.view.currentSearchResultIndex()
        if not count:
            self.find_count.setText("no matches")
        elif current >= 0:
            self.find_count.setText(f"{current + 1} of {count}")
        else:
            self.find_count.setText(f"{count} match{'es' if count != 1 else ''}")


def pdf_page_rect_in_viewport(view: QPdfView, page: int) -> QRectF:
    """A page's rectangle on screen (tests compare it with the pixels QPdfView painted)."""
    rect = page_rects(view).get(page, QRect())
    return QRectF(rect.x() - view.horizontalScrollBar().value(),
                  rect.y() - view.verticalScrollBar().value(), rect.width(), rect.height())
