"""One sync at a time per data folder: the lock, the client, the engine, and watch mode."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import filelock

from desktop.errors import CaseDeskError
from desktop.sync.engine import SyncEngine, SyncProgress, SyncReport
from desktop.sync.signin import current_server, open_client
from desktop.workspace import Workspace

log = logging.getLogger(__name__)


class SyncBusyError(CaseDeskError):
    """Another sync holds this data folder; it will take this work too."""

    exit_code = 0

    def __init__(self) -> None:
        super().__init__(
            "Another sync is already running for this data folder; it will send your work. "
            "Nothing was changed."
        )


def engine_for(ws: Workspace) -> type[SyncEngine]:
    """The engine that speaks the profile's server kind."""
    profile = current_server(ws)
    if profile is not None and profile.kind == "care360":
        from desktop.sync.care360_engine import Care360SyncEngine

        return Care360SyncEngine
    return SyncEngine


def run_sync(
    ws: Workspace,
    wait: float = 0.0,
    progress: Callable[[SyncProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    manual: bool = True,
) -> SyncReport:
    """One sync run. *manual* (a person asked) also retries changes postponed by backoff."""
    lock = filelock.FileLock(str(ws.folder.lock), mode=0o600)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise SyncBusyError() from None
    try:
        with open_client(ws) as client:
            engine = engine_for(ws)(ws, client, honour_schedule=not manual)
            return engine.run(progress=progress, cancelled=cancelled)
    finally:
        lock.release()


def watch(
    ws: Workspace,
    interval: float = 60.0,
    max_backoff: float = 600.0,
    on_report: Callable[[SyncReport], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sync every *interval* seconds while online; back off (doubling) while offline."""
    delay = interval
    while not should_stop():
        try:
            report = run_sync(ws, wait=interval, manual=False)
        except SyncBusyError:
            log.info("watch: another sync is running; trying again later")
            report = None
        if report is not None and on_report is not None:
            on_report(report)
        if report is not None and report.auth_required:
            return
        failing = report is not None and (report.offline or report.error is not None)
        delay = min(max_backoff, delay * 2) if failing else interval
        waited = 0.0
        while waited < delay and not should_stop():
            sleep(min(1.0, delay - waited))
            waited += 1.0
