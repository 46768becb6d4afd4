"""A document in a window of its own: its own viewer (page, zoom, window and level), as big as
the screen allows, beside the main window. Ctrl+W or Escape closes it.

The viewer is handed in (a detached ``PreviewWidget``) so that this module does not import
the one that opens it."""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from desktop.ui.icons import app_icon


class Viewer(Protocol):
    window_actions: list[QAction]

    def clear(self, note: str = ...) -> None:
        ...


class DocumentWindow(QMainWindow):
    closed = Signal()

    def __init__(self, viewer: QWidget, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{name} — Case Desk")
        self.setWindowIcon(app_icon())
        self.preview: Any = viewer
        self.setCentralWidget(viewer)
        self.addActions(self.preview.window_actions)
        close = QAction("Close", self)
        close.setShortcuts([QKeySequence(QKeySequence.StandardKey.Close), QKeySequence("Esc")])
        close.triggered.connect(lambda _c=False: self.close())
        self.addAction(close)
        self.resize(960, 900)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.preview.clear()
        self.closed.emit()
        self.deleteLater()
        super().closeEvent(event)
