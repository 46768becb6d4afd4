"""Task lanes: every action that touches the cache or the network runs off the GUI thread.

An operation is a plain callable run in a worker; its result or its error comes back to the GUI
thread by a queued signal and is handed to the caller's callbacks. Workers never touch widgets.
An operation that writes says what it changed (``desktop.ui.changes.Changes``); after its own
success callback the runner announces that once on ``changed``, and every view listening
refreshes what it shows (Anki's ``operation_did_execute``).

Lanes keep slow work from holding up quick work: one writer for case edits (SQLite has one
writer anyway), readers for list queries, previews, a separate lane for intake so a 1 GiB scan
never delays a Save, and one for sync (network; it never holds up local edits).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktop.errors import CaseDeskError
from desktop.ui.changes import Changes, changes_of

log = logging.getLogger(__name__)

LANES = {"write": 1, "read": 2, "intake": 1, "preview": 1, "sync": 1, "download": 1}

# Every pool any runner created, so tests (and shutdown) can wait for all of them.
_ALL_POOLS: list[QThreadPool] = []


def all_pools() -> list[QThreadPool]:
    return [p for p in [*_ALL_POOLS, QThreadPool.globalInstance()] if shiboken6.isValid(p)]


@dataclass
class _Job:
    success: Callable[[Any], None] | None
    failure: Callable[[BaseException], None] | None
    changes: Changes | Callable[[Any], Changes] | None = None
    initiator: object | None = None


class _Bridge(QObject):
    """Lives in the GUI thread; workers emit on it, so slots run queued in the GUI thread.

    Progress is a mailbox, not a queue: a payload is a snapshot, a newer one replaces one not
    yet shown, and at most one delivery per job waits in the event queue. A worker reporting
    every megabyte would otherwise queue hundreds of deliveries, and the event loop runs all
    queued events before its next timer or paint, each needing the GIL from a busy worker.
    """

    finished = Signal(int, object, object)  # job id, result, error
    progress_ready = Signal(int)  # job id: a payload waits in the mailbox

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: dict[int, Any] = {}

    def offer(self, job_id: int, payload: Any) -> None:
        """Worker side: keep ``payload`` as the job's newest progress."""
        with self._lock:
            waiting = job_id in self._latest
            self._latest[job_id] = payload
        if not waiting:
            self.progress_ready.emit(job_id)

    def take(self, job_id: int) -> tuple[bool, Any]:
        """GUI side: the newest payload, if one waits."""
        with self._lock:
            if job_id not in self._latest:
                return False, None
            return True, self._latest.pop(job_id)


class _Worker(QRunnable):
    def __init__(self, job_id: int, fn: Callable[..., Any], bridge: _Bridge, with_progress: bool):
        super().__init__()
        self.setAutoDelete(True)
        self.job_id = job_id
        self.fn = fn
        self.bridge = bridge
        self.with_progress = with_progress

    def run(self) -> None:
        try:
            if self.with_progress:
                result = self.fn(lambda payload: self.bridge.offer(self.job_id, payload))
            else:
                result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread, never lost
            if not isinstance(exc, CaseDeskError):
                log.exception("operation failed")
            self.bridge.finished.emit(self.job_id, None, exc)
            return
        self.bridge.finished.emit(self.job_id, result, None)


class OperationRunner(QObject):
    """Runs callables in lanes and delivers outcomes to callbacks in the GUI thread."""

    busy_changed = Signal(int)  # number of running operations
    # After an operation that wrote something: (Changes, initiator). The initiator (the view
    # that asked) may skip refreshing what its own success callback already showed.
    changed = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for lane, threads in LANES.items():
            pool = QThreadPool(self)
            pool.setMaxThreadCount(threads)
            pool.setObjectName(f"casedesk-{lane}")
            self._pools[lane] = pool
            _ALL_POOLS.append(pool)
        self._bridge = _Bridge(self)
        self._bridge.finished.connect(self._finished)
        self._bridge.progress_ready.connect(self._progress)
        self._jobs: dict[int, _Job] = {}
        self._progress_cbs: dict[int, Callable[[Any], None]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    def run(
        self,
        fn: Callable[[], Any],
        success: Callable[[Any], None] | None = None,
        failure: Callable[[BaseException], None] | None = None,
        lane: str = "write",
        changes: Changes | Callable[[Any], Changes] | None = None,
        initiator: object | None = None,
    ) -> int:
        """Run ``fn()`` in ``lane``; ``success(result)`` or ``failure(error)`` follow in the GUI.

        ``changes`` (or a function of the result giving them) is announced on ``changed`` once
        the operation succeeded, after ``success``.
        """
        return self._start(fn, success, failure, lane, None, changes, initiator)

    def run_with_progress(
        self,
        fn: Callable[[Callable[[Any], None]], Any],
        progress: Callable[[Any], None],
        success: Callable[[Any], None] | None = None,
        failure: Callable[[BaseException], None] | None = None,
        lane: str = "intake",
        changes: Changes | Callable[[Any], Changes] | None = None,
        initiator: object | None = None,
    ) -> int:
        """Like run, but ``fn(report)`` may call ``report(payload)``; ``progress`` gets it in the GUI."""
        return self._start(fn, success, failure, lane, progress, changes, initiator)

    def _start(
        self,
        fn: Callable[..., Any],
        success: Callable[[Any], None] | None,
        failure: Callable[[BaseException], None] | None,
        lane: str,
        progress: Callable[[Any], None] | None,
        changes: Changes | Callable[[Any], Changes] | None,
        initiator: object | None,
    ) -> int:
        job_id = next(self._ids)
        if self._closed:
            log.debug("operation dropped: the window is closing")
            return job_id
        self._jobs[job_id] = _Job(success, failure, changes, initiator)
        if progress is not None:
            self._progress_cbs[job_id] = progress
        self._pools[lane].start(_Worker(job_id, fn, self._bridge, progress is not None))
        self.busy_changed.emit(len(self._jobs))
        return job_id

    @property
    def running(self) -> int:
        return len(self._jobs)

    @Slot(int)
    def _progress(self, job_id: int) -> None:
        waiting, payload = self._bridge.take(job_id)
        callback = self._progress_cbs.get(job_id)
        if waiting and callback is not None:
            callback(payload)

    @Slot(int, object, object)
    def _finished(self, job_id: int, result: Any, error: BaseException | None) -> None:
        self._bridge.take(job_id)  # already delivered: its signal came first
        job = self._jobs.pop(job_id, None)
        self._progress_cbs.pop(job_id, None)
        self.busy_changed.emit(len(self._jobs))
        if job is None or self._closed:
            return
        if error is None:
            try:
                if job.success is not None:
                    job.success(result)
            finally:
                if job.changes is not None:
                    self.changed.emit(changes_of(result, job.changes), job.initiator)
        elif job.failure is not None:
            job.failure(error)
        else:
            log.warning("operation failed with no handler: %s", type(error).__name__)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until every lane is idle (shutdown and tests); True if all finished."""
        return all(pool.waitForDone(msecs) for pool in self._pools.values())

    def shutdown(self) -> None:
        """Drop queued work, wait for running work, and accept nothing more."""
        self._closed = True
        for pool in self._pools.values():
            pool.clear()
        self.wait()
        for pool in self._pools.values():
            if pool in _ALL_POOLS:
                _ALL_POOLS.remove(pool)


def user_message(error: BaseException) -> str:
    """What to tell a person about an error: our own messages (with the window's own hint
    where the remedy is an action here), anything else calmly."""
    if isinstance(error, CaseDeskError):
        from desktop.ui.wording import error_hint

        hint = error_hint(error)
        return f"{error} {hint}" if hint else str(error)
    # Nothing was checked, so nothing is claimed about the data.
    return (
        "Something unexpected went wrong. "
        "Details are in the log file (logs/casedesk.log in the data folder)."
    )
