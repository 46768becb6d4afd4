"""Sync in the window: the Sync (F5), Sign in and Conflicts actions, the connection and
progress indicators, sign-in when the server asks for it, and documents fetched on demand.

It presents what the SyncController reports; the engine itself runs on the sync lane.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QProgressBar, QStyle

from desktop.errors import CaseDeskError
from desktop.sync import signin
from desktop.sync.engine import SyncEngine, SyncProgress, SyncReport
from desktop.ui.conflicts_dialog import ConflictsDialog
from desktop.ui.sign_in_dialog import SignInDialog
from desktop.ui.sync_controller import SyncController
from desktop.workspace import DocumentRecord

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)

CONNECTION_TEXT = {
    "offline": "Offline — working locally",
    "online": "Online",
    "syncing": "Syncing…",
    "sign-in": "Sign-in needed",
}


class SyncPanel:
    def __init__(self, window: MainWindow, controller: SyncController | None = None) -> None:
        self.window = window
        self.controller = controller or SyncController(window.ws, window.runner, window)
        self.sign_in_dialog: SignInDialog | None = None
        self._opened: str | None = None  # the last case opened (read by its worker)
        self.conflicts_dialog: ConflictsDialog | None = None
        style = window.style()
        window.sync_action.setEnabled(True)
        window.sync_action.setToolTip("Sync now (F5)")
        self.sign_in_action = QAction("Sign in…", window)
        self.sign_in_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogYesButton))
        self.sign_in_action.setToolTip("Sign in to a server (Ctrl+Shift+L)")
        self.sign_in_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.sign_in_action.triggered.connect(lambda _c=False: self.open_sign_in())
        self.conflicts_action = QAction("Conflicts…", window)
        self.conflicts_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        self.conflicts_action.setToolTip("Resolve fields changed here and on the server "
                                         "(Ctrl+Shift+K)")
        self.conflicts_action.setShortcut(QKeySequence("Ctrl+Shift+K"))
        self.conflicts_action.triggered.connect(lambda _c=False: self.open_conflicts())
        for action in (self.sign_in_action, self.conflicts_action):
            window.addAction(action)
            window.toolbar.insertAction(window.sync_action, action)
        window.toolbar.insertAction(window.sync_action, window.sync_action)
        self.progress = QProgressBar(window)
        self.progress.setMaximumWidth(160)
        self.progress.setAccessibleName("Sync progress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.last_label = window.sync_status_label
        self.last_label.setAccessibleName("Last successful sync")
        bar = window.statusBar()
        bar.addPermanentWidget(self.progress)

        c = self.controller
        c.state_changed.connect(self._state)
        c.progress.connect(self._progress)
        c.finished.connect(self._finished)
        c.failed.connect(lambda message: bar.showMessage(message, 10000))
        c.sign_in_needed.connect(self.open_sign_in)
        self._state(c.state)
        c.load_profile()

    # ------------------------------------------------------------ actions

    def sync_now(self) -> None:
        self.controller.sync(manual=True)

    def local_change(self) -> None:
        """Something was saved here: push it soon while a server is set up."""
        self.controller.schedule_push()

    def open_sign_in(self, reason: str | None = None) -> None:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return
        dialog = SignInDialog(self.window.ws, self.window.runner, self.window,
                              reason=reason or None, profile=self.controller.profile)
        self.sign_in_dialog = dialog

        def finished(result: int) -> None:
            self.sign_in_dialog = None
            dialog.deleteLater()
            if result:
                self.window.statusBar().showMessage(dialog.result_note, 8000)
                self.controller.load_profile(then_sync=True)

        dialog.finished.connect(finished)
        dialog.open()

    def open_conflicts(self) -> None:
        if self.conflicts_dialog is not None:
            self.conflicts_dialog.raise_()
            return
        dialog = ConflictsDialog(self.window.ws, self.window.runner, self.window)
        self.conflicts_dialog = dialog
        dialog.resolved.connect(lambda _case_id: self.window.refresh_after_sync())

        def finished(_result: int) -> None:
            self.conflicts_dialog = None
            dialog.deleteLater()
            self.window.refresh_after_sync()
            self.controller.schedule_push()

        dialog.finished.connect(finished)
        dialog.open()

    def download(self, doc: DocumentRecord) -> None:
        """Fetch a server-only document for viewing, on its own lane (not behind a sync)."""
        if not self.controller.configured:
            return
        ws = self.window.ws
        self.window.statusBar().showMessage(f"Downloading {doc.name}…")

        def work() -> DocumentRecord:
            with signin.open_client(ws) as client:
                SyncEngine(ws, client).download(doc.id)
            return ws.get_document(doc.id)

        def done(record: DocumentRecord) -> None:
            self.window.statusBar().showMessage(f"Downloaded {record.name}.", 5000)
            self.window.load_documents(record.case_id, select=record.id)

        def failed(error: BaseException) -> None:
            message = str(error) if isinstance(error, CaseDeskError) else (
                "The download failed; details are in the log file.")
            self.window.statusBar().showMessage(message, 10000)

        self.window.runner.run(work, done, failed, lane="download")

    def case_opened(self, case_id: str, server_id: str | None) -> None:
        """A person opened a case that is on the server: fetch its files and AI insights now
        (a sync refreshes only a few changed cases per run)."""
        if not self.controller.configured or server_id is None:
            return
        ws = self.window.ws
        self._opened = case_id

        def work() -> str:
            if self._opened != case_id:
                return case_id  # the person has moved on; skip the request
            with signin.open_client(ws) as client:
                SyncEngine(ws, client).refresh_case(case_id)
            return case_id

        def done(opened: str) -> None:
            if self.window.case_view.case_id == opened:
                self.window.refresh_open_case()

        # Offline or signed out: the cached files stay on show; nothing to tell the person.
        self.window.runner.run(work, done, lambda _error: None, lane="download")

    def shutdown(self) -> None:
        self.controller.shutdown()

    # ------------------------------------------------------------ controller reports

    def _state(self, state: str) -> None:
        self.window.online_label.setText(CONNECTION_TEXT.get(state, state))
        color = {"online": "#2e7d32", "syncing": "#1565c0", "sign-in": "#c62828"}.get(
            state, "#616161")
        self.window.online_label.setStyleSheet(f"color: {color}; padding: 0 8px;")
        self.progress.setVisible(state == "syncing")
        if state == "syncing":
            self.progress.setRange(0, 0)
        self._show_last()
        self.sign_in_action.setText("Sign in…" if not self.controller.configured
                                    else "Account…")

    def _show_last(self) -> None:
        c = self.controller
        if not c.configured:
            self.last_label.setText("No server — everything stays on this computer")
        elif c.last_success is not None:
            self.last_label.setText(
                f"Last synced {c.last_success.astimezone().strftime('%d %b %H:%M')}")
        else:
            self.last_label.setText("Not synced yet")

    def _progress(self, p: SyncProgress) -> None:
        if p.bytes_total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.bytes_done / max(1, p.bytes_total)))
        elif p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        self.progress.setToolTip(p.message)
        if p.phase != "done":
            self.window.statusBar().showMessage(p.message)

    def _finished(self, report: SyncReport) -> None:
        self.window.statusBar().showMessage(report.summary(), 15000)
        self._show_last()
        self.window.refresh_after_sync()
