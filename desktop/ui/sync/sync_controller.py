"""Drives the sync engine from the window: on a worker lane, never on the GUI thread.

The engine reports by callback in its worker; the runner turns that into queued signals, so
widgets only ever hear about sync in the GUI thread. One run at a time; a local change (heard
on the runner's ``changed``) schedules a prompt push a few seconds later; a timer syncs
periodically while a server is configured. A finished run announces ``Changes.everything()``
on the runner, so every view re-reads what it shows. Opening a case and downloading a
document go through here too, on their own lane.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.errors import CaseDeskError
from desktop.sync import credentials, registry
from desktop.sync import runner as sync_runner
from desktop.sync.profile import NotSignedInError, ServerProfile, SyncStatus, sync_status
from desktop.sync.report import SyncReport
from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.wording import NO_SERVER, OFFLINE, ONLINE, SESSION, SIGN_IN, SYNCING
from desktop.workspace import DocumentRecord, Workspace

log = logging.getLogger(__name__)

PERIODIC_MS = 60_000
PUSH_DELAY_MS = 3_000


class SyncController(QObject):
    # One of wording's states: no server, offline, online, syncing, sign-in needed, or signed
    # in for this session only (no keychain).
    state_changed = Signal(str)
    progress = Signal(object)  # SyncProgress
    finished = Signal(object)  # SyncReport
    failed = Signal(str)  # a message for the status bar
    sign_in_needed = Signal(str)
    profile_changed = Signal()
    message = Signal(str, int)  # for the status bar: text, milliseconds (0: until replaced)

    def __init__(
        self,
        workspace: Workspace,
        runner: OperationRunner,
        parent: QObject | None = None,
        periodic_ms: int = PERIODIC_MS,
        push_delay_ms: int = PUSH_DELAY_MS,
    ) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.runner = runner
        self.state = NO_SERVER
        self.kept = credentials.Kept.NONE  # where the sign-in is, once the profile is read
        self.running = False
        self.last_success: datetime | None = None
        self.last_report: SyncReport | None = None
        self._cancel = threading.Event()
        self._again = False
        self._timer = QTimer(self)
        self._timer.setInterval(periodic_ms)
        self._timer.timeout.connect(lambda: self.sync(manual=False))
        self._push = QTimer(self)
        self._push.setSingleShot(True)
        self._push.setInterval(push_delay_ms)
        self._push.timeout.connect(lambda: self.sync(manual=False))
        self.profile: ServerProfile | None = None
        self._opened: str | None = None  # the last case opened (read by its worker)
        self._quiet_until: float | None = None  # a long Retry-After: no periodic run before
        runner.changed.connect(self._changed)

    # ------------------------------------------------------------ configuration

    def load_profile(self, then_sync: bool = False) -> None:
        """Read which server is set up and whether a sign-in is at hand (a quick local read,
        in the read lane); ``then_sync`` starts a sync when one is."""

        def read() -> tuple[SyncStatus, credentials.Kept]:
            status = sync_status(self.ws)
            kept = (registry.kind_of(status.profile).sign_in_kept(status.profile)
                    if status.profile is not None else credentials.Kept.NONE)
            return status, kept

        def loaded(result: tuple[SyncStatus, credentials.Kept]) -> None:
            status, self.kept = result
            self.profile, self.last_success = status.profile, status.last_success_at
            self.profile_changed.emit()
            if self.profile is None:
                self._timer.stop()
                self._set_state(NO_SERVER)
                return
            if self.kept is credentials.Kept.NONE:
                self._timer.stop()  # nothing to sync with until someone signs in
                self._set_state(SIGN_IN)
                return
            self._timer.start()
            self._set_state(self.signed_in_state)
            if then_sync:
                self.sync(manual=True)

        self.runner.run(read, loaded, self._report_failure, lane="read")

    @property
    def signed_in_state(self) -> str:
        """The state once a run went well: which depends on where the sign-in is kept (a
        sign-out during the run leaves nothing kept)."""
        if self.kept is credentials.Kept.NONE:
            return SIGN_IN
        return SESSION if self.kept is credentials.Kept.SESSION else ONLINE

    def sign_out(self) -> None:
        """Forget the sign-in (the keychain's, or this session's); queued work stays."""
        self.cancel()

        def done(_profile: Any) -> None:
            self.kept = credentials.Kept.NONE
            self._timer.stop()
            self._push.stop()
            self._set_state(SIGN_IN)
            self.message.emit("Signed out. Your work stays on this computer and syncs after "
                              "you sign in again.", 10000)

        self.runner.run(lambda: registry.sign_out(self.ws), done, self._report_failure,
                        lane="write")

    @property
    def configured(self) -> bool:
        return self.profile is not None

    # ------------------------------------------------------------ running

    def schedule_push(self) -> None:
        """A local save: send it soon, without a sync per keystroke."""
        if self.configured and self.state != SIGN_IN:
            self._push.start()

    def _changed(self, changes: Changes, _initiator: object) -> None:
        if changes.local:
            self.schedule_push()

    def sync(self, manual: bool = True) -> None:
        if not self.configured or self.state == SIGN_IN:
            if manual:
                self.sign_in_needed.emit("Sign in to a server to sync." if not self.configured
                                         else "Sign in to sync; your work is kept until then.")
            return
        if not manual and self._quiet_until is not None and time.monotonic() < self._quiet_until:
            return  # the server asked to be left alone until then; a person may still ask
        if self.running:
            self._again = self._again or manual
            return
        self.running = True
        self._cancel.clear()
        self._set_state(SYNCING)

        def work(report: Any) -> SyncReport:
            return sync_runner.run_sync(self.ws, wait=0, progress=report,
                                        cancelled=self._cancel.is_set, manual=manual)

        self.runner.run_with_progress(work, self.progress.emit, self._done, self._error,
                                      lane="sync", changes=Changes.everything(), initiator=self)

    def case_opened(self, case_id: str, server_id: str | None) -> None:
        """A person opened a case that is on the server: fetch its files (and AI insights)
        now; a sync refreshes only a few changed cases per run."""
        if not self.configured or server_id is None:
            return
        self._opened = case_id

        def work() -> None:
            if self._opened == case_id:  # the person has not moved on already
                sync_runner.refresh_case(self.ws, case_id)

        # Offline or signed out: the cached files stay on show; nothing to tell the person.
        self.runner.run(work, None, lambda _error: None, lane="download",
                        changes=Changes(cases=frozenset({case_id}),
                                        documents=frozenset({case_id})), initiator=self)

    def download(self, doc: DocumentRecord, failed: Any = None) -> None:
        """Fetch a server-only document for viewing, on its own lane (not behind a sync).
        ``failed(message)`` hears why it could not be had."""
        if not self.configured:
            return
        self.message.emit(f"Downloading {doc.name}…", 0)

        def done(_path: Any) -> None:
            self.message.emit(f"Downloaded {doc.name}.", 5000)

        def failure(error: BaseException) -> None:
            message = user_message(error) if isinstance(error, CaseDeskError) else (
                "The download failed; details are in the log file.")
            self.message.emit(message, 10000)
            if failed is not None:
                failed(message)

        self.runner.run(lambda: sync_runner.download(self.ws, doc.id), done, failure,
                        lane="download", changes=Changes(documents=frozenset({doc.case_id})),
                        initiator=self)

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self) -> None:
        self._timer.stop()
        self._push.stop()
        self._cancel.set()

    def _done(self, report: SyncReport) -> None:
        self.running = False
        self.last_report = report
        self._quiet_until = (time.monotonic() + report.retry_after
                             if report.retry_after else None)
        if report.auth_required:
            self._timer.stop()
            self._set_state(SIGN_IN)
            self.sign_in_needed.emit(report.error or "Please sign in again.")
        elif report.offline:
            self._set_state(OFFLINE)
        else:
            if report.ok:
                self.last_success = datetime.now().astimezone()
            self._set_state(self.signed_in_state)
        self.finished.emit(report)
        self._again_if_asked()

    def _error(self, error: BaseException) -> None:
        self.running = False
        if isinstance(error, sync_runner.SyncBusyError):
            self._set_state(self.signed_in_state)
            self.failed.emit(str(error))
        elif isinstance(error, CaseDeskError):
            self._set_state(NO_SERVER if not self.configured else self.signed_in_state)
            if isinstance(error, NotSignedInError):
                self._timer.stop()
                self.kept = credentials.Kept.NONE
                self._set_state(SIGN_IN)
                self.sign_in_needed.emit(user_message(error))
            else:
                self.failed.emit(user_message(error))
        else:
            self._set_state(self.signed_in_state if self.configured else NO_SERVER)
            self._report_failure(error)
        self._again_if_asked()

    def _again_if_asked(self) -> None:
        if self._again:
            self._again = False
            QTimer.singleShot(0, lambda: self.sync(manual=True))

    def _report_failure(self, error: BaseException) -> None:
        self.failed.emit(user_message(error) if isinstance(error, CaseDeskError)
                         else "Sync failed unexpectedly; details are in the log file.")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
