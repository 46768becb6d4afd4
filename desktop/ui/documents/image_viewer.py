"""Images as a clinician looks at them: fitted to the window at first, then zoomed (buttons,
Ctrl and the wheel, Ctrl++ / Ctrl+-) and panned by dragging or with the arrow keys. The
pixels come decoded from a worker; only the drawing happens here."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ZOOM_STEP = 1.25
ZOOM_MIN, ZOOM_MAX = 0.05, 16.0


class ZoomView(QGraphicsView):
    """One image in a scene: fit, zoom about the cursor, pan by dragging."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setBackgroundBrush(QColor("#202020"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.fitted = True  # follows the window's size until the person zooms

    def set_image(self, image: QImage | None, keep_view: bool = False) -> None:
        """Show an image; ``keep_view`` keeps zoom and position (the same picture, redrawn)."""
        pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() \
            else QPixmap()
        self.item.setPixmap(pixmap)
        self.scene().setSceneRect(QRectF(pixmap.rect()))
        if not keep_view:
            self.fit()

    def has_image(self) -> bool:
        return not self.item.pixmap().isNull()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self.fitted = True
        if self.has_image():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, factor: float) -> None:
        factor = max(ZOOM_MIN, min(ZOOM_MAX, factor))
        self.fitted = False
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.resetTransform()
        self.scale(factor, factor)
        self.setTransformationAnchor(anchor)
        self.zoom_changed.emit(self.zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            step = ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP
            factor = max(ZOOM_MIN, min(ZOOM_MAX, self.zoom * step)) / max(self.zoom, 1e-6)
            self.fitted = False
            self.scale(factor, factor)  # about the cursor
            self.zoom_changed.emit(self.zoom)
            event.accept()
            return
        super().wheelEvent(event)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self.fitted:
            self.fit()


class ZoomBar(QWidget):
    """Zoom out, the zoom, zoom in, Fit, 100 %: the buttons every picture viewer has."""

    def __init__(self, view: ZoomView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view

        def button(text: str, tip: str, slot: Any) -> QToolButton:
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.setAccessibleName(tip.split(" (")[0])
            b.clicked.connect(lambda _c=False: slot())
            return b

        self.zoom_out_button = button("−", "Zoom out (Ctrl+-)", view.zoom_out)
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("8888%") + 4)
        self.zoom_in_button = button("+", "Zoom in (Ctrl++)", view.zoom_in)
        self.fit_button = button("Fit", "Fit the picture in the view (Ctrl+0)", view.fit)
        self.actual_button = button("100%", "Actual size, one image pixel per screen pixel",
                                    view.actual_size)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(3)
        for w in (self.zoom_out_button, self.zoom_label, self.zoom_in_button, self.fit_button,
                  self.actual_button):
            self.layout_.addWidget(w)
        view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))


class ImageViewer(QWidget):
    """A photo or scan: zoom and pan."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ZoomView(self)
        self.view.setAccessibleName("Image")
        self.bar = ZoomBar(self.view, self)
        self.bar.layout_.addStretch(1)
        self.view.setToolTip("Drag to move the picture; Ctrl and the wheel zoom")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.view, 1)

    def set_image(self, image: QImage | None) -> None:
        self.view.set_image(image)
