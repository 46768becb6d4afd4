"""DICOM images as a radiologist reads them: window and level by dragging (left button:
sideways for the width, up and down for the level), presets (soft tissue, lung, bone, brain,
abdomen, the file's own, the full range), zoom, pan (Shift+drag, the middle button, or the
arrow keys) and a frame slider for multi-frame images."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.documents.dicom_pixels import PRESETS, DicomImage, render
from desktop.ui.documents.image_viewer import ZoomBar, ZoomView

FILE_WINDOW = "From the file"
FULL_RANGE = "Full range"
CUSTOM = "Custom (dragged)"


class DicomView(ZoomView):
    """A ZoomView whose left-button drag sets window and level; Shift or middle pans."""

    window_dragged = Signal(float, float)  # centre, width

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragMode(ZoomView.DragMode.NoDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.window = (40.0, 400.0)
        self.adjustable = True
        self._drag: tuple[str, QPointF, tuple[float, float]] | None = None

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if pan:
            self._drag = ("pan", event.position(), (self.horizontalScrollBar().value(),
                                                    self.verticalScrollBar().value()))
        elif event.button() == Qt.MouseButton.LeftButton and self.adjustable:
            self._drag = ("window", event.position(), self.window)
        else:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        event.accept()

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if self._drag is None:
            super().mouseMoveEvent(event)
            return
        kind, start, before = self._drag
        delta = event.position() - start
        if kind == "pan":
            self.horizontalScrollBar().setValue(int(before[0] - delta.x()))
            self.verticalScrollBar().setValue(int(before[1] - delta.y()))
        else:
            centre, width = before
            step = max(1.0, width / 200.0)  # finer for narrow windows
            self.window = (centre + delta.y() * step, max(1.0, width + delta.x() * step))
            self.window_dragged.emit(*self.window)
        event.accept()

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if self._drag is not None:
            self._drag = None
            event.accept()
            return
        super().mouseReleaseEvent(event)


class DicomViewer(QWidget):
    """A DICOM image with its window/level, presets, zoom, pan and frame slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: DicomImage | None = None
        self.frame = 0
        self.view = DicomView(self)
        self.view.setAccessibleName("DICOM image")
        self.view.window_dragged.connect(self._dragged)
        self.bar = ZoomBar(self.view, self)
        self.preset = QComboBox(self)
        self.preset.setAccessibleName("Window preset")
        self.preset.setToolTip("Window and level presets; or drag on the image with the left "
                               "button (sideways: width, up and down: level)")
        self.preset.addItems([FILE_WINDOW, *PRESETS, FULL_RANGE])
        self.preset.activated.connect(lambda _i: self.apply_preset(self.preset.currentText()))
        preset_label = QLabel("&Window:", self)
        preset_label.setBuddy(self.preset)
        self.window_label = QLabel(self)
        self.window_label.setAccessibleName("Window and level")
        self.bar.layout_.addStretch(1)
        self.bar.layout_.addWidget(preset_label)
        self.bar.layout_.addWidget(self.preset)

        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setAccessibleName("Frame")
        self.slider.setMinimum(0)
        self.slider.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel(self)
        frames = QHBoxLayout()
        frames.addWidget(self.frame_label)
        frames.addWidget(self.slider, 1)
        self.frames_row = QWidget(self)
        self.frames_row.setLayout(frames)
        frames.setContentsMargins(0, 0, 0, 0)
        below = QHBoxLayout()
        below.addWidget(self.window_label)
        below.addSpacing(16)
        below.addWidget(self.frames_row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.bar)
        layout.addWidget(self.view, 1)
        layout.addLayout(below)
        self.frames_row.hide()

    def set_image(self, image: DicomImage) -> None:
        self.image = image
        self.frame = 0
        count = image.frame_count
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, count - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.frames_row.setVisible(count > 1)
        self.view.adjustable = not image.colour
        for w in (self.preset, self.window_label):
            w.setEnabled(not image.colour)
        self.view.window = image.default_window
        self.preset.setCurrentText(FILE_WINDOW if image.window else FULL_RANGE)
        self._draw(keep_view=False)

    def apply_preset(self, name: str) -> None:
        if self.image is None:
            return
        if name == FILE_WINDOW:
            window = self.image.default_window
        elif name == FULL_RANGE:
            window = self.image.full_range
        elif name in PRESETS:
            window = PRESETS[name]
        else:
            return
        self.view.window = (float(window[0]), float(window[1]))
        if self.preset.currentText() != name:
            self.preset.setCurrentText(name)
        self._draw()

    def set_window(self, centre: float, width: float) -> None:
        self.view.window = (centre, max(1.0, width))
        self._draw()

    def show_frame(self, frame: int) -> None:
        if self.image is not None and 0 <= frame < self.image.frame_count:
            self.frame = frame
            if self.slider.value() != frame:
                self.slider.setValue(frame)
            self._draw()

    def _dragged(self, _centre: float, _width: float) -> None:
        if self.preset.findText(CUSTOM) < 0:
            self.preset.addItem(CUSTOM)
        self.preset.setCurrentText(CUSTOM)
        self._draw()

    def _draw(self, keep_view: bool = True) -> None:
        if self.image is None:
            return
        centre, width = self.view.window
        self.view.set_image(render(self.image, self.frame, centre, width), keep_view=keep_view)
        self.window_label.setText(f"W {width:.0f}  L {centre:.0f}" if not self.image.colour
                                  else "colour image")
        count = self.image.frame_count
        self.frame_label.setText(f"Frame {self.frame + 1} of {count}")
