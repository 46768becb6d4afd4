"""While an analysis runs, the window re-reads that case from the server at a modest
interval (every 10 s, on the download lane, never behind a sync) until it ends; then the
case shows its AI insights and the person is told.

Cases are watched from the moment an analysis is requested here (and, at start, every case
whose requested analysis has not been seen to end). Offline or signed out, a tick does
nothing; the next one tries again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.sync import runner as sync_runner
from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner
from desktop.workspace import ANALYSIS_ENDED, CaseRecord, Workspace

INTERVAL_MS = 10_000


class AnalysisWatcher(QObject):
    finished = Signal(object)  # CaseRecord: its analysis ended (completed or failed)

    def __init__(self, workspace: Workspace, runner: OperationRunner, signed_in: object,
                 parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.ws, self.runner = workspace, runner
        self._signed_in = signed_in  # () -> bool: a server to ask
        self.watching: set[str] = set()
        self._busy: set[str] = set()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        runner.changed.connect(self._changed)
        runner.run(self.ws.analyses_awaited, success=lambda ids: [self.watch(i) for i in ids],
                   failure=lambda _e: None, lane="read")

    def watch(self, case_id: str) -> None:
        self.watching.add(case_id)
        if not self.timer.isActive():
            self.timer.start()

    def _changed(self, changes: Changes, _initiator: object) -> None:
        record = changes.record
        if record is not None and record.analysis in ("requested", "processing", "analyzing"):
            self.watch(record.id)

    def tick(self) -> None:
        if not self.watching:
            self.timer.stop()
            return
        if not callable(self._signed_in) or not self._signed_in():
            return
        for case_id in sorted(self.watching - self._busy):
            self._busy.add(case_id)

            def work(case_id: str = case_id) -> CaseRecord:
                sync_runner.refresh_analysis(self.ws, case_id)
                return self.ws.get_case(case_id)

            self.runner.run(work, success=self._read, failure=lambda _e, c=case_id:
                            self._busy.discard(c), lane="download",
                            changes=Changes(cases=frozenset({case_id}), case_list=True,
                                            documents=frozenset({case_id})),
                            initiator=self)

    def _read(self, record: CaseRecord) -> None:
        self._busy.discard(record.id)
        if record.status in ANALYSIS_ENDED and record.analysis_requested_at is not None:
            self.watching.discard(record.id)
            self.runner.run(lambda: self.ws.analysis_noted(record.id), lane="write",
                            success=self.finished.emit, failure=lambda _e: None)
        elif record.analysis is None or record.removed_at is not None:
            self.watching.discard(record.id)
