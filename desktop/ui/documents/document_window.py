"""A document in a window of its own: its own viewer (page, zoom, window and level), as big as
the screen allows, beside the main window. Ctrl+W or Escape closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from desktop.ui.icons import app_icon
from desktop.ui.operations import OperationRunner


class DocumentWindow(QMainWindow):
    closed = Signal()

    def __init__(self, runner: OperationRunner, name: str, mime: str, path: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from desktop.ui.documents.preview import PreviewWidget

        self.setWindowTitle(f"{name} — Case Desk")
        self.setWindowIcon(app_icon())
        self.preview = PreviewWidget(runner, self, detached=True)
        self.setCentralWidget(self.preview)
        self.addActions(self.preview.window_actions)
        close = QAction("Close", self)
        close.setShortcuts([QKeySequence(QKeySequence.StandardKey.Close), QKeySequence("Esc")])
        close.triggered.connect(lambda _c=False: self.close())
        self.addAction(close)
        self.preview.show_document(name, mime, path)
        self.resize(960, 900)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.preview.clear()
        self.closed.emit()
        self.deleteLater()
        super().closeEvent(event)
