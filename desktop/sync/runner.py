"""One sync at a time per data folder: the lock, the client, the engine, and watch mode."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from desktop.errors import CaseDeskError
from desktop.intake import StoredBytes
from desktop.sync import details, registry
from desktop.sync.report import SyncProgress, SyncReport
from desktop.workspace import Workspace

log = logging.getLogger(__name__)

COLLECT_INTERVAL_S = 3600.0  # at most hourly after a sync (and daily when a folder closes)


class SyncBusyError(CaseDeskError):
    """Another sync holds this data folder; it will take this work too."""

    exit_code = 0

    def __init__(self) -> None:
        super().__init__(
            "Another sync is already running for this data folder; it will send your work. "
            "Nothing was changed."
        )


def run_sync(
    ws: Workspace,
    wait: float = 0.0,
    progress: Callable[[SyncProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    manual: bool = True,
) -> SyncReport:
    """One sync run. *manual* (a person asked) also retries changes postponed by backoff."""
    import filelock  # with the first sync, not with the window (~8 ms of its start)

    lock = filelock.FileLock(str(ws.folder.lock), mode=0o600)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise SyncBusyError() from None
    try:
        profile, kind = registry.configured(ws)
        with kind.open_client(profile) as client:
            engine = kind.engine(ws, client, honour_schedule=not manual)
            report = engine.run(progress=progress, cancelled=cancelled)
        _collect(ws)
        return report
    finally:
        lock.release()


def _collect(ws: Workspace) -> None:
    """A pull may have removed cases (and their documents) deleted on the server: reclaim
    their stored files now and then. Housekeeping never fails a sync."""
    try:
        ws.collect_garbage(min_interval_s=COLLECT_INTERVAL_S)
    except Exception as exc:  # noqa: BLE001
        log.info("blob collection after sync skipped: %s", type(exc).__name__)


def refresh_case(ws: Workspace, case_id: str) -> None:
    """Fetch one case's files (and insights) now: a person opened it. No sync lock: it only
    adds what the server lists, as a pull would."""
    profile, kind = registry.configured(ws)
    with kind.open_client(profile) as client:
        details.refresh_case(kind.engine(ws, client), case_id)


def refresh_analysis(ws: Workspace, case_id: str) -> None:
    """Read one case as the server has it now, fields and insights, while its analysis runs
    (the window asks every few seconds until it ends)."""
    profile, kind = registry.configured(ws)
    with kind.open_client(profile) as client:
        details.refresh_case(kind.engine(ws, client), case_id, with_fields=True)


def download(
    ws: Workspace, document_id: str, progress: Callable[[int, int], None] | None = None
) -> StoredBytes:
    """Bring a server-only document into the blob store for viewing; its bytes."""
    profile, kind = registry.configured(ws)
    with kind.open_client(profile) as client:
        return details.download(kind.engine(ws, client), document_id, progress)


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
        failing = report is not None and (report.stop is not None or report.vanished > 0)
        delay = min(max_backoff, delay * 2) if failing else interval
        if report is not None and report.retry_after:
            delay = max(delay, report.retry_after)  # the server asked for that long
        waited = 0.0
        while waited < delay and not should_stop():
            sleep(min(1.0, delay - waited))
            waited += 1.0
