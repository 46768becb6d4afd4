"""Document previews rendered off the GUI thread, and the widget that shows them.

``load_preview`` is a plain function that uses only thread-safe Qt classes (QImage,
QImageReader, QPdfDocument created and dropped in the calling thread), so a worker, a test or
the packaged self-test can call it. The widget asks a worker for a Preview and paints the image.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QImage, QImageReader, QPainter
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.operations import OperationRunner, user_message

log = logging.getLogger(__name__)

SERVER_ONLY_NOTE = "This document is only on the server — it will download when synced."
IMAGE_MIMES = ("image/png", "image/jpeg", "image/tiff", "image/webp", "image/gif", "image/bmp")


@dataclass
class Preview:
    """What a viewer shows: an image (None when there is nothing to draw), page count,
    technical metadata as label → text, and a note for the person (why there is no image)."""

    image: QImage | None
    page_count: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def load_preview(path: Path, mime: str, page: int = 0, max_px: int = 1600) -> Preview:
    """Render one page/frame of a document to at most ``max_px`` on its longer side.

    Never raises for a bad file: the Preview's note says what went wrong in words.
    """
    path = Path(path)
    if not path.is_file():
        return Preview(None, 0, {}, "The file is missing from this computer.")
    try:
        if mime == "application/pdf":
            return _pdf(path, page, max_px)
        if mime == "application/dicom":
            return _dicom(path, page, max_px)
        if mime in IMAGE_MIMES or mime.startswith("image/"):
            return _image(path, max_px)
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


def _image(path: Path, max_px: int) -> Preview:
    reader = QImageReader(str(path))
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
        return Preview(None, 0, metadata, f"This image could not be read: {reader.errorString()}.")
    return Preview(image, 1, metadata, None)


def _pdf(path: Path, page: int, max_px: int) -> Preview:
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument(None)
    try:
        error = doc.load(str(path))
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


# Technical fields only: these are safe to show and useful to a radiologist checking the study.
DICOM_FIELDS = (
    ("Modality", "Modality"),
    ("BodyPartExamined", "Body part"),
    ("StudyDate", "Study date"),
    ("SeriesDescription", "Series"),
    ("PhotometricInterpretation", "Photometric"),
    ("BitsStored", "Bits stored"),
    ("Manufacturer", "Manufacturer"),
)


def _dicom(path: Path, page: int, max_px: int) -> Preview:
    import numpy as np
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(str(path))
    metadata: dict[str, str] = {}
    name = ds.get("PatientName")
    if name:
        metadata["Patient"] = str(name)  # shown to the clinician, never logged
    for keyword, label in DICOM_FIELDS:
        value = ds.get(keyword)
        if value not in (None, ""):
            metadata[label] = str(value)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows and cols:
        metadata["Size"] = f"{rows} × {cols}"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        metadata["Frames"] = str(frames)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        metadata["Transfer syntax"] = str(getattr(syntax, "name", syntax))
    if "PixelData" not in ds:
        return Preview(None, 0, metadata, "This DICOM file holds no image (no pixel data).")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - e.g. a compressed syntax with no decoder here
        log.info("dicom pixel data not decodable: %s", type(exc).__name__)
        return Preview(
            None,
            frames,
            metadata,
            "The image in this DICOM file cannot be decoded on this computer "
            "(its compression is not supported here); the details are shown below. "
            "Use “Open with system viewer” to view it in a DICOM viewer.",
        )
    frame = max(0, min(page, frames - 1))
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames > 1:
        pixels = pixels[frame]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples == 1:
        data = apply_modality_lut(pixels, ds)
        data = apply_voi_lut(data, ds)
        data = np.asarray(data, dtype=np.float64)
        low, high = float(np.min(data)), float(np.max(data))
        span = high - low if high > low else 1.0
        grey = ((data - low) / span * 255.0).clip(0, 255).astype(np.uint8)
        if photometric == "MONOCHROME1":
            grey = 255 - grey  # MONOCHROME1: low values are white
        grey = np.ascontiguousarray(grey)
        h, w = grey.shape
        image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    else:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        rgb = np.asarray(pixels)
        if rgb.dtype != np.uint8:
            top = float(rgb.max()) or 1.0
            rgb = (rgb.astype(np.float64) / top * 255).clip(0, 255).astype(np.uint8)
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    target = _fit(image.size(), max_px)
    if target != image.size():
        image = image.scaled(target, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return Preview(image, frames, metadata, None)


# ------------------------------------------------------------------ widget


class ImageCanvas(QWidget):
    """Paints an image scaled to fit, centred, never larger than its own pixels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._image is None or self._image.isNull():
            return
        size = self._image.size()
        if size.width() > self.width() or size.height() > self.height():
            size = size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(x, y, size.width(), size.height()), self._image)


class PreviewWidget(QWidget):
    """Shows one document: image, page navigation, metadata and a note; renders in a worker."""

    rendered = Signal()  # a preview (or a note) is on screen: tests wait for it

    def __init__(self, runner: OperationRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._path: Path | None = None
        self._mime = ""
        self._page = 0
        self._pages = 0
        self._generation = 0
        self.preview: Preview | None = None
        # Actions the window's menus list (filled by the document viewers).
        self.edit_actions: list[QAction] = []
        self.view_actions: list[QAction] = []
        self.case_actions: list[QAction] = []

        self.canvas = ImageCanvas(self)
        self.canvas.setAccessibleName("Document preview")
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: 600;")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(dark); padding: 6px;")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prev_button = QPushButton("◀ Previous", self)
        self.next_button = QPushButton("Next ▶", self)
        self.page_label = QLabel(self)
        self.open_button = QPushButton("Open with system viewer", self)
        self.prev_button.setAccessibleName("Previous page")
        self.next_button.setAccessibleName("Next page")
        self.open_button.setAccessibleName("Open with system viewer")
        self.prev_button.clicked.connect(lambda: self.show_page(self._page - 1))
        self.next_button.clicked.connect(lambda: self.show_page(self._page + 1))
        self.open_button.clicked.connect(self.open_externally)

        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.page_label)
        nav.addWidget(self.next_button)
        nav.addStretch(1)
        nav.addWidget(self.open_button)
        self.meta_form = QFormLayout()
        self.meta_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(nav)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        meta = QWidget(self)
        meta.setMaximumWidth(300)
        meta.setLayout(self.meta_form)
        body.addWidget(meta, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(body, 1)
        layout.addWidget(self.note)
        self.clear()

    def clear(self, note: str = "Select a document to preview it.") -> None:
        self._generation += 1
        self._path = None
        self.preview = None
        self.title.setText("")
        self.canvas.set_image(None)
        self._set_meta({})
        self.note.setText(note)
        self.note.setVisible(True)
        self._pages = 0
        self._update_nav()

    def show_document(self, name: str, mime: str, path: Path | None) -> None:
        """Preview a document; ``path`` None means its bytes are only on the server."""
        self.clear("")
        self.title.setText(name)
        if path is None:
            self.note.setText(SERVER_ONLY_NOTE)
            self.rendered.emit()
            return
        self._path, self._mime, self._page = path, mime, 0
        self._render()

    def set_note(self, text: str) -> None:
        """Say something about the document on show (why it cannot be shown, say)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self.rendered.emit()

    def show_page(self, page: int) -> None:
        if self._path is None or not 0 <= page < self._pages or page == self._page:
            return
        self._page = page
        self._render()

    def _render(self) -> None:
        self._generation += 1
        generation = self._generation
        path, mime, page = self._path, self._mime, self._page
        assert path is not None
        self.note.setText("Rendering…")
        self.note.setVisible(True)
        self._runner.run(
            lambda: load_preview(path, mime, page),
            success=lambda preview: self._show(generation, preview),
            failure=lambda exc: self._show(generation, Preview(None, 0, {}, user_message(exc))),
            lane="preview",
        )

    def _show(self, generation: int, preview: Preview) -> None:
        if generation != self._generation:
            return  # the user moved on to another document or page
        self.preview = preview
        self.canvas.set_image(preview.image)
        self._pages = preview.page_count
        self.note.setText(preview.note or "")
        self.note.setVisible(bool(preview.note))
        self._set_meta(preview.metadata)
        self._update_nav()
        self.rendered.emit()

    def _set_meta(self, metadata: dict[str, str]) -> None:
        while self.meta_form.rowCount():
            self.meta_form.removeRow(0)
        for label, value in metadata.items():
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.meta_form.addRow(f"{label}:", text)

    def _update_nav(self) -> None:
        many = self._pages > 1
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(many)
        self.prev_button.setEnabled(self._page > 0)
        self.next_button.setEnabled(self._page < self._pages - 1)
        kind = "Frame" if self._mime == "application/dicom" else "Page"
        self.page_label.setText(f"{kind} {self._page + 1} of {self._pages}")
        self.open_button.setEnabled(self._path is not None)

    @property
    def page(self) -> int:
        return self._page

    @property
    def actions_for_menu(self) -> list[QAction]:
        return [*self.edit_actions, *self.view_actions, *self.case_actions]

    def open_externally(self) -> None:
        """Hand the document to the system viewer (a named copy; blobs have no extension)."""
        if self._path is None:
            return
        path, name = self._path, self.title.text()
        self._runner.run(
            lambda: viewer_copy(path, name),
            success=lambda target: QDesktopServices.openUrl(QUrl.fromLocalFile(str(target))),
            failure=lambda exc: self.note.setText(user_message(exc)),
            lane="read",
        )


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def viewer_copy(blob: Path, name: str) -> Path:
    """A private, named link to a blob for the system viewer: <data>/open/<sha256>/<safe name>.

    The name comes from a person or a server, so it is reduced to a plain file name. A hard link
    costs nothing; a copy is the fallback on file systems without links. Files stay 0600.
    """
    blobs_root = blob.parent.parent  # <data>/blobs/ab/cdef…
    folder = blobs_root.parent / "open" / (blob.parent.name + blob.name)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = _UNSAFE.sub("_", Path(name).name).strip(" .") or "document"
    target = folder / safe[:120]
    if not target.exists():
        try:
            os.link(blob, target)
        except OSError:
            shutil.copyfile(blob, target)
            os.chmod(target, 0o600)
    return target
