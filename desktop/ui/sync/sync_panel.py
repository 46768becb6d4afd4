"""Sync in the window: the Sync (F5), Sign in and Conflicts actions, the connection, pending
and last-sync indicators, and the sign-in dialog when the server asks for it.

It owns its actions and widgets and hands them to the window to place; it hears about local
changes and finished runs on the runner's ``changed``, and speaks to the window only through
its ``message`` signal (status bar text). The engine itself runs on the sync lane, driven by
the SyncController.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QStyle, QWidget

from desktop.sync.report import Phase, SyncProgress, SyncReport
from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.sync.conflicts_dialog import ConflictsDialog
from desktop.ui.sync.sign_in_dialog import SignInDialog
from desktop.ui.sync.sync_controller import SyncController
from desktop.ui.wording import (
    CONNECTION_DETAIL,
    CONNECTION_TEXT,
    NO_SERVER,
    ONLINE,
    SESSION,
    SIGN_IN,
    SYNCING,
    progress_text,
    report_text,
)
from desktop.workspace import Workspace

log = logging.getLogger(__name__)


PLAIN_HTTP_TEXT = "Not encrypted (http)"
PLAIN_HTTP_TIP = ("This server's address is http://, so your sign-in token and patient data "
                  "cross the network unencrypted. Ask for its https:// address and sign in "
                  "again with it.")


KEEP_COPY, REMOVE_COPY = "keep", "remove"
SIGN_OUT_QUESTION = (
    "Sign out of the server. Your cases stay on this computer and sync after the next sign-in; "
    "or, on a shared or lent computer, remove this computer's copy: its cases, documents and "
    "keys (the server keeps everything that reached it).")


class SyncPanel(QObject):
    message = Signal(str, int)  # status bar text, milliseconds (0: until replaced)
    remove_local_copy = Signal()  # signed out; the window closes and the copy goes

    def __init__(
        self,
        workspace: Workspace,
        runner: OperationRunner,
        parent: QWidget,
        controller: SyncController | None = None,
    ) -> None:
        super().__init__(parent)
        self.ws, self.runner, self._parent = workspace, runner, parent
        self.controller = controller or SyncController(workspace, runner, self)
        self.sign_in_dialog: SignInDialog | None = None
        self.conflicts_dialog: ConflictsDialog | None = None
        style = parent.style()

        def action(text: str, icon: QStyle.StandardPixmap, keys: str, tip: str) -> QAction:
            act = QAction(text, parent)
            act.setIcon(style.standardIcon(icon))
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(tip)
            return act

        self.sign_in_action = action("Sign &in…", QStyle.StandardPixmap.SP_DialogYesButton,
                                     "Ctrl+Shift+L", "Sign in to a server (Ctrl+Shift+L)")
        self.sign_in_action.triggered.connect(lambda _c=False: self.open_sign_in())
        self.conflicts_action = action(
            "&Conflicts…", QStyle.StandardPixmap.SP_MessageBoxWarning, "Ctrl+Shift+K",
            "Resolve fields changed here and on the server (Ctrl+Shift+K)")
        self.conflicts_action.triggered.connect(lambda _c=False: self.open_conflicts())
        self.sync_action = action("Sync &now", QStyle.StandardPixmap.SP_BrowserReload, "F5",
                                  "Sync now (F5)")
        self.sync_action.triggered.connect(lambda _c=False: self.sync_now())
        self.sign_out_action = QAction("Sign &out", parent)
        self.sign_out_action.setToolTip("Forget the sign-in; your work stays on this computer")
        self.sign_out_action.triggered.connect(lambda _c=False: self.sign_out())
        # What the window places: actions before its spacer, indicators, then Sync beside
        # the state it changes; and the status bar's widgets. ``actions`` is the Sync menu.
        self.actions = [self.sync_action, self.sign_in_action, self.sign_out_action,
                        self.conflicts_action]
        self.leading_actions = [self.sign_in_action, self.conflicts_action]
        self.trailing_actions = [self.sync_action]
        self._conflicts_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._open_conflicts = 0
        self._pending = 0

        # Toolbar indicators: the connection state and the work waiting.
        self.online_label = QLabel(CONNECTION_TEXT[NO_SERVER], parent)
        self.online_label.setAccessibleName("Connection state")
        self.pending_label = QLabel(parent)
        self.pending_label.setAccessibleName("Changes waiting to sync")
        self.pending_label.setStyleSheet("padding: 0 8px;")
        # Says so while the profile talks to its server without encryption (http://); empty
        # otherwise (a toolbar decides its widgets' visibility itself).
        self.plain_http_label = QLabel(parent)
        self.plain_http_label.setAccessibleName("Connection encryption")
        self.plain_http_label.setStyleSheet("color: #b00020; font-weight: 600; padding: 0 4px;")
        # Status bar indicators: progress while a run is on, the last successful sync.
        self.progress = QProgressBar(parent)
        self.progress.setMaximumWidth(160)
        self.progress.setAccessibleName("Sync progress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.last_label = QLabel(parent)
        self.last_label.setAccessibleName("Last successful sync")
        self.indicators: list[QWidget] = [self.plain_http_label, self.online_label,
                                          self.pending_label]
        self.status_widgets: list[QWidget] = [self.last_label, self.progress]

        c = self.controller
        c.state_changed.connect(self._state)
        c.progress.connect(self._progress)
        c.finished.connect(self._finished)
        c.failed.connect(lambda text: self.message.emit(text, 10000))
        c.message.connect(self.message)
        c.sign_in_needed.connect(self.open_sign_in)
        c.profile_changed.connect(self._show_encryption)
        runner.changed.connect(self._changed)
        self._state(c.state)
        self.refresh_counts()
        c.load_profile(then_sync=True)  # signed in: sync at start, not a minute later

    def _show_encryption(self) -> None:
        profile = self.controller.profile
        plain = profile is not None and profile.plain_http
        self.plain_http_label.setText(PLAIN_HTTP_TEXT if plain else "")
        self.plain_http_label.setToolTip(PLAIN_HTTP_TIP if plain else "")

    # ------------------------------------------------------------ actions

    def sync_now(self) -> None:
        self.controller.sync(manual=True)

    def open_sign_in(self, reason: str | None = None) -> None:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return
        dialog = SignInDialog(self.ws, self.runner, self._parent, reason=reason or None,
                              profile=self.controller.profile)
        self.sign_in_dialog = dialog

        def finished(result: int) -> None:
            self.sign_in_dialog = None
            dialog.deleteLater()
            if result:
                self.message.emit(dialog.result_note, 8000)
                self.controller.load_profile(then_sync=True)

        dialog.finished.connect(finished)
        dialog.open()

    def sign_out(self) -> None:
        """Sign out, offering to remove this computer's copy of the data (what has not
        reached the server is listed first, and discarded only when the person says so)."""
        if not self.controller.configured:
            return

        def ask(unsent: list[str]) -> None:
            choice = self.ask_sign_out(unsent)
            if choice == KEEP_COPY:
                self.controller.sign_out()
            elif choice == REMOVE_COPY:
                self.controller.sign_out()
                self.remove_local_copy.emit()

        self.runner.run(self.ws.unsent_work, success=ask,
                        failure=lambda e: self.message.emit(user_message(e), 8000), lane="read")

    def ask_sign_out(self, unsent: list[str]) -> str | None:
        """KEEP_COPY, REMOVE_COPY, or None (cancelled)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Sign out", SIGN_OUT_QUESTION,
                          QMessageBox.StandardButton.Cancel, self._parent)
        keep = box.addButton("&Sign out", QMessageBox.ButtonRole.AcceptRole)
        remove = box.addButton("Sign out and &remove this computer's copy",
                               QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(keep)
        box.exec()
        if box.clickedButton() is keep:
            return KEEP_COPY
        if box.clickedButton() is not remove:
            return None
        if not unsent:
            return REMOVE_COPY
        lines = "\n".join(f"• {line}" for line in unsent[:30])
        more = f"\n… and {len(unsent) - 30} more" if len(unsent) > 30 else ""
        sure = QMessageBox(QMessageBox.Icon.Warning, "Discard work not on the server?",
                           f"This has not reached the server and would be lost:\n\n{lines}"
                           f"{more}\n\nDiscard it and remove this computer's copy?",
                           QMessageBox.StandardButton.Cancel, self._parent)
        discard = sure.addButton("&Discard and remove", QMessageBox.ButtonRole.DestructiveRole)
        sure.setDefaultButton(QMessageBox.StandardButton.Cancel)
        sure.exec()
        return REMOVE_COPY if sure.clickedButton() is discard else None

    def open_conflicts(self) -> None:
        if self.conflicts_dialog is not None:
            self.conflicts_dialog.raise_()
            return
        dialog = ConflictsDialog(self.ws, self.runner, self._parent)
        self.conflicts_dialog = dialog

        def finished(_result: int) -> None:
            self.conflicts_dialog = None
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()

    def shutdown(self) -> None:
        self.controller.shutdown()

    # ------------------------------------------------------------ what the panel shows

    def _changed(self, changes: Changes, _initiator: object) -> None:
        if changes.outbox:
            self.refresh_counts()

    def refresh_counts(self) -> None:
        """Changes waiting and open conflicts, read in the read lane."""

        def counts() -> tuple[int, int]:
            return self.ws.pending_count(), self.ws.open_conflict_count()

        self.runner.run(counts, success=self._show_counts,
                        failure=lambda _e: None, lane="read")

    def _show_counts(self, counts: tuple[int, int]) -> None:
        self._pending, self._open_conflicts = counts
        self._show_work()

    def _show_work(self) -> None:
        """The work waiting, in the same words as the state: nothing is "synced" without a
        server, and nothing is "waiting to sync" when there is nowhere to sync it to."""
        pending, conflicts = self._pending, self._open_conflicts
        state = self.controller.state
        parts = []
        if pending and state == NO_SERVER:
            parts.append(f"{pending} change{'s' if pending != 1 else ''} on this computer only")
        elif pending:
            parts.append(f"{pending} change{'s' if pending != 1 else ''} waiting to sync")
        if conflicts:
            parts.append(f"{conflicts} conflict{'s' if conflicts != 1 else ''}")
        report = self.controller.last_report
        if parts:
            text = " · ".join(parts)
        elif state == NO_SERVER:
            text = ""
        elif state in (ONLINE, SESSION) and report is not None and report.ok:
            text = "All changes synced"
        else:
            text = "Nothing waiting to sync"
        self.pending_label.setText(text)
        self.pending_label.setVisible(bool(text))
        self.pending_label.setStyleSheet(
            "padding: 0 8px; color: %s;" % ("#c62828" if conflicts else "#424242")
        )
        # The warning sign only when there is something to resolve.
        self.conflicts_action.setIcon(self._conflicts_icon if conflicts else QIcon())
        self.conflicts_action.setText(f"&Conflicts ({conflicts})…" if conflicts
                                      else "&Conflicts…")

    def _state(self, state: str) -> None:
        text = CONNECTION_TEXT.get(state, state)
        self.online_label.setText(text)
        self.online_label.setToolTip(CONNECTION_DETAIL.get(state, ""))
        color = {ONLINE: "#2e7d32", SESSION: "#2e7d32", SYNCING: "#1565c0",
                 SIGN_IN: "#c62828"}.get(state, "#616161")
        self.online_label.setStyleSheet(f"color: {color}; padding: 0 8px; font-weight: 600;")
        self.progress.setVisible(state == SYNCING)
        if state == SYNCING:
            self.progress.setRange(0, 0)
        configured = self.controller.configured
        self.sign_in_action.setText("&Account…" if configured and state != SIGN_IN
                                    else "Sign &in…")
        self.sign_out_action.setEnabled(configured and state != SIGN_IN)
        self._show_last()
        self._show_work()

    def _show_last(self) -> None:
        """The status bar says the same state as the toolbar, and when the last sync was."""
        c = self.controller
        state = CONNECTION_TEXT.get(c.state, c.state)
        if not c.configured:
            self.last_label.setText(f"{state} — everything stays on this computer")
        elif c.last_success is not None:
            when = c.last_success.astimezone().strftime("%d %b %H:%M")
            self.last_label.setText(f"{state} · last synced {when}")
        else:
            self.last_label.setText(f"{state} · not synced yet")
        self.last_label.setToolTip(CONNECTION_DETAIL.get(c.state, ""))

    def _progress(self, p: SyncProgress) -> None:
        if p.bytes_total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.bytes_done / max(1, p.bytes_total)))
        elif p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        elif p.done:
            self.progress.setRange(0, 0)  # a count without an end: the busy bar
        text = progress_text(p)
        self.progress.setToolTip(text)
        if p.phase is not Phase.DONE:
            self.message.emit(text, 0)

    def _finished(self, report: SyncReport) -> None:
        self.message.emit(report_text(report), 15000)
        self._show_last()
        self._show_work()
