"""Attaching files from the window: intake off the GUI thread, per-file progress in the status
bar (shown only after a short delay, so quick batches do not flash), Cancel between files, and
one verdict list at the end.

The window hands it paths and a case; it announces what the intake changed on the runner, so
the list, the open case's documents and the pending count refresh themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

from desktop.ui.changes import Changes
from desktop.ui.documents.attach_results import AttachResultsDialog, summary
from desktop.ui.operations import OperationRunner
from desktop.workspace import AttachProgress, AttachResult, Workspace

PROGRESS_DELAY_MS = 600  # quick batches finish without flashing a progress bar


class AttachController(QObject):
    # case id, the first newly attached document (None when none was): the window may show it
    attached = Signal(str, object)
    message = Signal(str, int)  # status bar text, milliseconds
    failed = Signal(object)  # the error of a batch that could not run at all

    def __init__(self, workspace: Workspace, runner: OperationRunner, parent: QWidget) -> None:
        super().__init__(parent)
        self.ws, self.runner, self._parent = workspace, runner, parent
        self._cancel = threading.Event()
        self._running = 0
        self.batches_done = 0  # intake batches finished (tests wait on it)
        self.result_dialogs: list[AttachResultsDialog] = []

        self.progress = QProgressBar(parent)
        self.progress.setMaximumWidth(220)
        self.progress.setAccessibleName("Attach progress")
        self.progress_label = QLabel(parent)
        self.cancel_button = QPushButton("Cancel", parent)
        self.cancel_button.setAccessibleName("Cancel attaching")
        self.cancel_button.clicked.connect(self.cancel)
        self.status_widgets: list[QWidget] = [self.progress_label, self.progress,
                                              self.cancel_button]
        for widget in self.status_widgets:
            widget.hide()
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._show_progress)

    def attach(self, case_id: str, paths: Sequence[Path], case_name: str) -> None:
        """Take files in off the GUI thread; per-file progress; one verdict list at the end."""
        paths = list(paths)
        cancel = self._cancel
        if self._running == 0:
            cancel.clear()
        self._running += 1
        ws = self.ws

        def work(report: Callable[[Any], None]) -> tuple[list[AttachResult], bool]:
            def progress(state: AttachProgress) -> None:
                last = state.results[-1] if state.results else None
                report((state.done, state.total, last.path.name if last else ""))

            results = ws.attach(case_id, paths, progress=progress, cancelled=cancel.is_set)
            return results, cancel.is_set()

        self.progress.setRange(0, 0)
        self.progress_label.setText(f"Adding files to {case_name}…")
        self._progress_timer.start()
        touched = frozenset({case_id})
        self.runner.run_with_progress(
            work,
            progress=self._progress,
            success=lambda outcome: self._done(case_id, case_name, *outcome),
            failure=self._failed,
            lane="intake",
            changes=Changes(cases=touched, case_list=True, documents=touched, outbox=True,
                            local=True),
            initiator=self,
        )

    def cancel(self) -> None:
        self._cancel.set()
        self.progress_label.setText("Stopping after the current file…")

    def close(self) -> None:
        """The window is closing: stop after the current file and close the verdict lists."""
        self._cancel.set()
        for dialog in list(self.result_dialogs):
            dialog.close()

    def _show_progress(self) -> None:
        if self._running:
            for widget in self.status_widgets:
                widget.show()

    def _progress(self, payload: tuple[int, int, str]) -> None:
        done, total, name = payload
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"Added {done} of {total}" + (f": {name}" if name else ""))

    def _finished(self) -> None:
        self._running -= 1
        self.batches_done += 1
        if self._running == 0:
            self._progress_timer.stop()
            for widget in self.status_widgets:
                widget.hide()

    def _done(self, case_id: str, case_name: str, results: list[AttachResult],
              cancelled: bool) -> None:
        self._finished()
        self.message.emit(f"{case_name}: {summary(results, cancelled)}", 8000)
        dialog = AttachResultsDialog(results, case_name, cancelled, self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _=None, d=dialog: self._forget_dialog(d))
        self.result_dialogs.append(dialog)
        dialog.show()
        first = next((r.document.id for r in results
                      if r.document and r.outcome == "attached"), None)
        self.attached.emit(case_id, first)

    def _forget_dialog(self, dialog: AttachResultsDialog) -> None:
        if dialog in self.result_dialogs:
            self.result_dialogs.remove(dialog)

    def _failed(self, error: BaseException) -> None:
        self._finished()
        self.failed.emit(error)
