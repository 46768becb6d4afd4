"""Documents on screen: the viewer that suits each (PDF, image, DICOM), and the one-shot
rendering the packaged self-test checks.

``load_preview`` is a plain function that uses only thread-safe Qt classes (QImage,
QImageReader, QPdfDocument created and dropped in the calling thread), so a worker, a test or
the packaged self-test can call it.

A stored document is read through its store (``StoredBytes``: decrypted, every piece checked)
into memory, never into a file in clear; a document whose stored bytes fail their check is
not shown, and the viewer says so.

``PreviewWidget`` holds the viewers (``pdf_viewer``, ``image_viewer``, ``dicom_viewer``) and
picks one per document; their pixels are decoded in a worker. Showing the document already on
show does nothing, so a sync that reloads the documents list leaves the reader's page, zoom and
scroll where they are. Any document can also open in a window of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QImage,
    QImageReader,
    QKeySequence,
    QPainter,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import viewer_handoff
from desktop.blob_seal import BlobDamaged
from desktop.errors import NotFoundError
from desktop.ui.documents.dicom_viewer import DicomViewer
from desktop.ui.documents.document_window import DocumentWindow
from desktop.ui.documents.image_viewer import ImageViewer
from desktop.ui.documents.memory_buffer import MISSING, Source, buffer_of, read_source
from desktop.ui.documents.pdf_viewer import PdfViewer
from desktop.ui.operations import OperationRunner, user_message

log = logging.getLogger(__name__)

SERVER_ONLY_NOTE = "This document is only on the server — it will download when synced."
IMAGE_MIMES = ("image/png", "image/jpeg", "image/tiff", "image/webp", "image/gif", "image/bmp")
DETAILS_BESIDE_PX = 760  # narrower than this, a picture's details go under it
IMAGE_MAX_PX = 8192  # decoded for the viewer: zoom shows the real pixels of any scan


@dataclass
class Preview:
    """What a viewer shows: an image (None when there is nothing to draw), page count,
    technical metadata as label → text, and a note for the person (why there is no image)."""

    image: QImage | None
    page_count: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def load_preview(source: Source, mime: str, page: int = 0, max_px: int = 1600) -> Preview:
    """Render one page/frame of a document to at most ``max_px`` on its longer side.

    Never raises for a bad file: the Preview's note says what went wrong in words.
    """
    if isinstance(source, str):
        source = Path(source)
    try:
        if mime == "application/pdf":
            return _pdf(read_source(source), page, max_px)
        if mime == "application/dicom":
            return _dicom(source, page, max_px)
        if mime in IMAGE_MIMES or mime.startswith("image/"):
            return _image(read_source(source), max_px)
    except NotFoundError:
        return Preview(None, 0, {}, MISSING)
    except BlobDamaged as exc:
        return Preview(None, 0, {}, str(exc))
    except Exception as exc:  # noqa: BLE001 - a damaged file is a note, not a crash
        log.warning("preview failed: %s", type(exc).__name__)
        return Preview(None, 0, {}, f"This file could not be shown ({type(exc).__name__}).")
    return Preview(
        None, 0, {"Type": mime}, "No preview for this kind of file — use “Open with system viewer”."
    )


def _fit(size: QSize, max_px: int) -> QSize:
    if size.width() <= max_px and size.height() <= max_px:
        return size
    return size.scaled(max_px, max_px, Qt.AspectRatioMode.KeepAspectRatio)


def _image(data: bytes, max_px: int) -> Preview:
    buffer = buffer_of(data)
    reader = QImageReader(buffer)
    reader.setAutoTransform(True)
    size = reader.size()
    fmt = bytes(reader.format().data()).decode(errors="replace").upper()
    if size.isValid():
        reader.setScaledSize(_fit(size, max_px))
    image = reader.read()
    metadata = {"Format": fmt or "unknown"}
    if size.isValid():
        metadata["Size"] = f"{size.width()} × {size.height()} px"
    if image.isNull():
        return Preview(None, 0, metadata,
                       f"This image is damaged or incomplete: {reader.errorString()}.")
    return Preview(image, 1, metadata, None)


def _pdf(data: bytes, page: int, max_px: int) -> Preview:
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument(None)
    buffer = buffer_of(data)
    try:
        doc.load(buffer)  # all of it in memory: loaded at once
        error = doc.error()
        if error != QPdfDocument.Error.None_:
            reason = {
                QPdfDocument.Error.IncorrectPassword: "it is protected by a password",
                QPdfDocument.Error.UnsupportedSecurityScheme: "its security scheme is not supported",
                QPdfDocument.Error.InvalidFileFormat: "it is damaged or not really a PDF",
            }.get(error, "it could not be opened")
            return Preview(None, 0, {}, f"This PDF cannot be shown: {reason}.")
        count = doc.pageCount()
        if count <= 0:
            return Preview(None, 0, {}, "This PDF has no pages.")
        page = max(0, min(page, count - 1))
        points = doc.pagePointSize(page)
        scale = max_px / max(points.width(), points.height(), 1.0)
        target = QSize(max(1, round(points.width() * scale)), max(1, round(points.height() * scale)))
        image = doc.render(page, target)
        metadata = {
            "Pages": str(count),
            "Page size": f"{points.width() / 72 * 25.4:.0f} × {points.height() / 72 * 25.4:.0f} mm",
        }
        for label, key in (("Title", QPdfDocument.MetaDataField.Title),
                           ("Producer", QPdfDocument.MetaDataField.Producer)):
            value = doc.metaData(key)
            if value:
                metadata[label] = str(value)
        if image.isNull():
            return Preview(None, count, metadata, "This page could not be drawn.")
        # Pages are drawn on transparent pixels; put them on paper white.
        paper = QImage(image.size(), QImage.Format.Format_RGB32)
        paper.fill(QColor("white"))
        painter = QPainter(paper)
        painter.drawImage(0, 0, image)
        painter.end()
        return Preview(paper, count, metadata, None)
    finally:
        doc.close()
        buffer.close()


def _dicom(source: Source, page: int, max_px: int) -> Preview:
    from desktop.ui.documents.dicom_pixels import read_dicom, render

    image = read_dicom(source, max_px=max_px)
    if image.frames is None:
        return Preview(None, image.frame_count, image.metadata, image.note)
    frame = max(0, min(page, image.frame_count - 1))
    centre, width = image.default_window
    return Preview(render(image, frame, centre, width), image.frame_count, image.metadata, None)


# ------------------------------------------------------------------ widget

NO_DOCUMENT = "Select a document to preview it."
NOTHING_OPENED = viewer_handoff.NOTHING_OPENED
OPENED = "Opened in the system viewer."


@dataclass(frozen=True)
class Shown:
    """The document on show: what a reload compares against to leave it alone."""

    name: str
    mime: str
    path: Source


class MetadataPanel(QScrollArea):
    """Technical details beside a picture: labels never cut short, values wrapped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAccessibleName("Document details")
        inner = QWidget(self)
        self.form = QFormLayout(inner)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.setWidget(inner)
        self.labels: list[QLabel] = []
        self.widest = 0
        self.beside = False

    def set_metadata(self, metadata: dict[str, str]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.labels = []
        for label, value in metadata.items():
            name = QLabel(f"{label}:")
            # A label keeps its whole width; the value wraps instead.
            name.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
            name.setMinimumWidth(name.sizeHint().width())
            text = QLabel(value)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setMinimumWidth(min(text.sizeHint().width(), 120))
            self.form.addRow(name, text)
            self.labels.append(name)
        self.widest = max((n.sizeHint().width() for n in self.labels), default=0)
        self.place(self.beside)
        self.setVisible(bool(metadata))

    def place(self, beside: bool) -> None:
        """Beside the picture in a wide view, under it in a narrow one: either way no label
        is cut, and the details never make the window wider than the screen."""
        self.beside = beside
        if beside:
            self.setMinimumSize(self.widest + 140 if self.labels else 0, 0)
            self.setMaximumSize(max(self.widest + 260, 300), 16777215)
        else:
            self.setMinimumSize(0, 0)
            self.setMaximumSize(16777215, 120)


class PreviewWidget(QWidget):
    """Shows one document in the viewer that suits it, with its details and a note."""

    rendered = Signal()  # a document (or a note) is on screen: tests wait for it
    reveal = Signal()  # an action wants the viewer in sight (the window shows its tab)

    def __init__(self, runner: OperationRunner, parent: QWidget | None = None,
                 detached: bool = False) -> None:
        super().__init__(parent)
        self._runner = runner
        self.detached = detached  # in a window of its own: no "open in new window" there
        self._path: Source | None = None
        self._mime = ""
        self._generation = 0
        self.shown: Shown | None = None
        self.kind: str | None = None  # "pdf", "image", "dicom" or None (a note)
        self.preview: Preview | None = None  # what the viewer shows: pages, metadata, note
        self.windows: list[QWidget] = []  # documents opened in windows of their own
        self.viewer_command: list[str] | None = None  # None: the platform's opener
        self.hand_over_folder: Path | None = None  # None: viewer_handoff picks one

        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: 600;")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(dark); padding: 6px;")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.window_button = QPushButton("New window", self)
        self.window_button.setAccessibleName("Open in a new window")
        self.window_button.setToolTip("Read this document in a window of its own (Ctrl+Shift+O)")
        self.window_button.clicked.connect(self.open_window)
        self.open_button = QPushButton("System viewer", self)
        self.open_button.setAccessibleName("Open with system viewer")
        self.open_button.setToolTip("Open it in another program on this computer")
        self.open_button.clicked.connect(self.open_externally)

        self.pdf = PdfViewer(self)
        self.image = ImageViewer(self)
        self.dicom = DicomViewer(self)
        self.blank = QWidget(self)
        self.stack = QStackedWidget(self)
        for w in (self.blank, self.pdf, self.image, self.dicom):
            self.stack.addWidget(w)
        self.meta = MetadataPanel(self)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.window_button)
        top.addWidget(self.open_button)
        self.body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.body.addWidget(self.stack, 1)
        self.body.addWidget(self.meta)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.body, 1)
        layout.addWidget(self.note)
        self._build_actions()
        self.pdf.state_changed.connect(self._update_actions)
        self.clear()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        beside = self.width() >= DETAILS_BESIDE_PX
        if beside != self.meta.beside:
            self.body.setDirection(QBoxLayout.Direction.LeftToRight if beside
                                   else QBoxLayout.Direction.TopToBottom)
            self.meta.place(beside)

    # ------------------------------------------------------------ actions (the menus)

    def _build_actions(self) -> None:
        def action(text: str, keys: QKeySequence | QKeySequence.StandardKey | str | None,
                   slot: Any, tip: str) -> QAction:
            act = QAction(text, self)
            if keys is not None:
                act.setShortcut(QKeySequence(keys))
            act.setToolTip(tip)
            act.triggered.connect(lambda _c=False: slot())
            return act

        self.find_action = action("Find in doc&ument", "Ctrl+Shift+F", self.find,
                                  "Find words in the PDF on show (Ctrl+Shift+F)")
        self.copy_action = action("&Copy selected text", QKeySequence.StandardKey.Copy,
                                  self.copy, "Copy the text selected in the PDF (Ctrl+C)")
        # Ctrl+C belongs to whatever has the focus: it copies from the document only when the
        # document viewer has it (a window-wide Ctrl+C would take it from the fields).
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.copy_action)
        self.zoom_in_action = action("&Zoom in", QKeySequence.StandardKey.ZoomIn, self.zoom_in,
                                     "Zoom into the document (Ctrl++)")
        self.zoom_out_action = action("Zoom ou&t", QKeySequence.StandardKey.ZoomOut,
                                      self.zoom_out, "Zoom out of the document (Ctrl+-)")
        self.fit_width_action = action("Fit &width", "Ctrl+9", self.fit_width,
                                       "Fit the page's width (Ctrl+9)")
        self.fit_page_action = action("Fit &page", "Ctrl+0", self.fit_page,
                                      "Fit the whole page or picture (Ctrl+0)")
        self.window_action = action("Open document in a new &window", "Ctrl+Shift+O",
                                    self.open_window, "Read it in a window of its own")
        self.external_action = action("Open with s&ystem viewer", None, self.open_externally,
                                      "Hand the document to another program")
        self.edit_actions = [self.find_action, self.copy_action]
        self.view_actions = [self.zoom_in_action, self.zoom_out_action, self.fit_width_action,
                             self.fit_page_action]
        self.case_actions = [self.window_action, self.external_action]

    @property
    def actions_for_menu(self) -> list[QAction]:
        return [*self.edit_actions, *self.view_actions, *self.case_actions]

    @property
    def window_actions(self) -> list[QAction]:
        """Actions whose shortcuts work anywhere in the window (not Copy: see above)."""
        return [a for a in self.actions_for_menu if a is not self.copy_action]

    def _update_actions(self) -> None:
        kind = self.kind
        self.find_action.setEnabled(kind == "pdf")
        self.copy_action.setEnabled(kind == "pdf")
        for act in (self.zoom_in_action, self.zoom_out_action, self.fit_page_action):
            act.setEnabled(kind is not None)
        self.fit_width_action.setEnabled(kind == "pdf")
        has_file = self._path is not None
        for act, button in ((self.window_action, self.window_button),
                            (self.external_action, self.open_button)):
            act.setEnabled(has_file)
            button.setEnabled(has_file)
        if self.detached:
            self.window_action.setEnabled(False)
            self.window_button.hide()

    # ------------------------------------------------------------ what is shown

    def clear(self, note: str = NO_DOCUMENT) -> None:
        self._generation += 1
        self._path = None
        self.shown = None
        self.kind = None
        self.preview = None
        self.title.setText("")
        self.pdf.close_document()
        self.image.set_image(None)
        self.dicom.image = None
        self.stack.setCurrentWidget(self.blank)
        self.meta.set_metadata({})
        self.note.setText(note)
        self.note.setVisible(True)
        self._update_actions()

    def show_document(self, name: str, mime: str, path: Source | None) -> None:
        """Show a document; ``path`` (its stored bytes) None means they are only on the
        server. The one already on show stays as it is: same page, zoom and scroll."""
        if path is not None and self.shown == Shown(name, mime, path):
            return
        self.clear("")
        self.title.setText(name)
        if path is None:
            self.note.setText(SERVER_ONLY_NOTE)
            self.rendered.emit()
            return
        self._path, self._mime = path, mime
        self.shown = Shown(name, mime, path)
        self._update_actions()
        if mime == "application/pdf":
            self._show_pdf(path)
        elif mime == "application/dicom" or mime in IMAGE_MIMES or mime.startswith("image/"):
            self._load(path, mime)
        else:
            self.preview = Preview(None, 0, {"Type": mime},
                                   "No preview for this kind of file — use “Open with system "
                                   "viewer”.")
            self._show_note(self.preview)

    def set_note(self, text: str) -> None:
        """Say something about the document on show (why it cannot be shown, say)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self.rendered.emit()

    def _show_pdf(self, path: Source) -> None:
        """Decrypted in the preview lane, shown from memory when it lands."""
        self._generation += 1
        generation = self._generation
        self.note.setText("Opening…")
        self.note.setVisible(True)
        self._runner.run(
            lambda: read_source(path),
            success=lambda data: self._pdf_read(generation, data),
            failure=lambda exc: self._pdf_read(generation, exc),
            lane="preview",
        )

    def _pdf_read(self, generation: int, data: bytes | BaseException) -> None:
        if generation != self._generation:
            return  # the person moved on to another document
        if isinstance(data, BaseException):
            problem = MISSING if isinstance(data, NotFoundError) else user_message(data)
        else:
            problem = self.pdf.open(data)
        if problem is not None:
            self.preview = Preview(None, 0, {}, problem)
            self._show_note(self.preview)
            return
        self.kind = "pdf"
        self.preview = Preview(None, self.pdf.document.pageCount(), self.pdf.metadata(), None)
        self.stack.setCurrentWidget(self.pdf)
        self.note.setVisible(False)
        self._update_actions()
        self.rendered.emit()

    def _load(self, path: Source, mime: str) -> None:
        """Decode in the preview lane; show when it lands (if the person has not moved on)."""
        self._generation += 1
        generation = self._generation
        self.note.setText("Opening…")
        self.note.setVisible(True)
        if mime == "application/dicom":
            from desktop.ui.documents.dicom_pixels import read_dicom

            work: Any = lambda: read_dicom(path)  # noqa: E731 - one line, in a lane
        else:
            work = lambda: load_preview(path, mime, max_px=IMAGE_MAX_PX)  # noqa: E731
        self._runner.run(
            work,
            success=lambda result: self._loaded(generation, result),
            failure=lambda exc: self._loaded(generation, Preview(None, 0, {}, user_message(exc))),
            lane="preview",
        )

    def _loaded(self, generation: int, result: Any) -> None:
        if generation != self._generation:
            return  # the person moved on to another document
        from desktop.ui.documents.dicom_pixels import DicomImage

        if isinstance(result, DicomImage):
            self.preview = Preview(None, result.frame_count, result.metadata, result.note)
            if result.frames is None:
                self._show_note(self.preview)
                return
            self.kind = "dicom"
            self.dicom.set_image(result)
            self.stack.setCurrentWidget(self.dicom)
        else:
            self.preview = result
            if result.image is None:
                self._show_note(result)
                return
            self.kind = "image"
            self.image.set_image(result.image)
            self.stack.setCurrentWidget(self.image)
        self.meta.set_metadata(self.preview.metadata)
        self.note.setVisible(False)
        self._update_actions()
        self.rendered.emit()

    def _show_note(self, preview: Preview) -> None:
        self.kind = None
        self.stack.setCurrentWidget(self.blank)
        self.meta.set_metadata(preview.metadata)
        self.note.setText(preview.note or "")
        self.note.setVisible(bool(preview.note))
        self._update_actions()
        self.rendered.emit()

    # ------------------------------------------------------------ the viewer's controls

    def _viewer(self) -> Any:
        return {"pdf": self.pdf, "image": self.image.view, "dicom": self.dicom.view}.get(
            self.kind or "")

    def zoom_in(self) -> None:
        self.reveal.emit()
        viewer = self._viewer()
        if viewer is not None:
            viewer.zoom_in()

    def zoom_out(self) -> None:
        self.reveal.emit()
        viewer = self._viewer()
        if viewer is not None:
            viewer.zoom_out()

    def fit_width(self) -> None:
        self.reveal.emit()
        if self.kind == "pdf":
            self.pdf.fit_width()

    def fit_page(self) -> None:
        self.reveal.emit()
        viewer = self._viewer()
        if self.kind == "pdf":
            self.pdf.fit_page()
        elif viewer is not None:
            viewer.fit()

    def find(self) -> None:
        if self.kind == "pdf":
            self.reveal.emit()
            self.pdf.focus_find()

    def copy(self) -> None:
        if self.kind == "pdf":
            self.pdf.view.copy()

    @property
    def page(self) -> int:
        if self.kind == "pdf":
            return self.pdf.page
        if self.kind == "dicom":
            return self.dicom.frame
        return 0

    def open_window(self) -> None:
        """The document on show in a window of its own (its own viewer, zoom and page)."""
        if self.shown is None:
            return
        viewer = PreviewWidget(self._runner, detached=True)
        window = DocumentWindow(viewer, self.shown.name)
        viewer.show_document(self.shown.name, self.shown.mime, self.shown.path)
        window.closed.connect(lambda: self.windows.remove(window) if window in self.windows
                              else None)
        self.windows.append(window)
        window.show()
        window.raise_()

    def close_windows(self) -> None:
        for window in list(self.windows):
            window.close()

    def open_externally(self) -> None:
        """Hand the document to the system viewer: a private, read-only copy named for its
        sniffed type, opened with a clean environment (``desktop.viewer_handoff``)."""
        if self._path is None:
            return
        path, name, command = self._path, self.title.text(), self.viewer_command
        self._runner.run(
            lambda: viewer_handoff.hand_over(path, name, command, folder=self.hand_over_folder),
            success=lambda _target: self.set_note(OPENED),
            failure=lambda exc: self.set_note(user_message(exc)),
            lane="read",
        )
