"""Case details and downloads: a case's files (and AI insights) from the server, and a
document's bytes brought into the blob store for offline viewing.

Files are listed per case, so a sync refreshes only a bounded number of cases: those whose
details are stale, and recently active ones in turn (a file attached elsewhere changes nothing
else the server shows); opening a case refreshes it at once. Server files are linked to local
documents by id, or by (name, size) for an upload whose answer was lost; the rest become
server-only documents. Works for any server kind whose client offers ``case_detail`` and
``download_chunks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from desktop.errors import NotFoundError
from desktop.intake import FileKind, IntakeRefused, StoredBytes, sniff_stream
from desktop.models.tables import Case, Document, DocumentState, PendingChange, new_id, utcnow
from desktop.sync import errors as err
from desktop.sync.pull import merge_cases
from desktop.sync.records import RemoteFile
from desktop.sync.report import Phase

if TYPE_CHECKING:
    from desktop.sync.outbox import OutboxEngine

log = logging.getLogger(__name__)
# A case active this recently (here or on the server) has its file list looked at in turn.
WATCH_DAYS = 14


def refresh_details(engine: OutboxEngine) -> None:
    """Read the files (and insights) of a bounded number of cases: the per-sync budget is
    ``detail_limit`` cases known to have changed on the server (most recent first) plus
    ``watch_limit`` recently active ones, in turn.

    A file attached on another workstation does not change the case on the server (its
    ``updated_at`` stays), so the pull cannot tell: only looking finds it. Every case active
    in the last WATCH_DAYS, here (edited, files added) or on the server (created or changed),
    is looked at in turn, the longest unchecked first, so each is checked at least every
    ceil(active cases / watch_limit) syncs.
    """
    with engine.ws.sessions() as s:
        stale = s.execute(
            select(Case.id, Case.server_id, Case.numeric_id)
            .where(Case.detail_stale.is_(True), Case.server_id.is_not(None))
            .order_by(Case.updated_at.desc())
            .limit(engine.detail_limit)
        ).all()
        chosen = {row[0] for row in stale}
        # A case whose files were seen in this run already (a create's answer lists them
        # all) is not looked at again in it; the turn goes to the next.
        watching = _watched_cases().where(or_(Case.files_checked_at.is_(None),
                                              Case.files_checked_at < engine.run_started))
        watched = [row for row in s.execute(
            watching.limit(engine.watch_limit + len(chosen))) if row[0] not in chosen]
    todo = [*stale, *watched[:engine.watch_limit]]
    shown = iter(range(len(todo)))

    def step(row: tuple[str, str, str | None]) -> None:
        engine.emit(Phase.FILES, done=next(shown), total=len(todo))
        try:
            _refresh_one(engine, *row)
        except err.RemoteNotFound:
            pass  # gone from the server: the next pull says so

    # Cases side by side, as the push sends them (each its own read and its own commit);
    # the first alone, so a server that refuses or fails is found with one request.
    if todo:
        engine.side_by_side(step, [[tuple(row)] for row in todo], first_alone=True)


def _watched_cases() -> Select[tuple[str, str | None, str | None]]:
    """Cases active in the last WATCH_DAYS, here or on the server, the longest unchecked
    first (never checked before all others)."""
    since = utcnow() - timedelta(days=WATCH_DAYS)
    # The server's times are ISO 8601 text: compared as text, close enough for a window of
    # days whatever their precision.
    since_text = since.isoformat()
    recent_files = select(Document.case_id).where(Document.added_at >= since)
    return (
        select(Case.id, Case.server_id, Case.numeric_id)
        .where(Case.server_id.is_not(None),
               or_(Case.updated_at >= since, Case.server_updated_at >= since_text,
                   Case.server_created_at >= since_text, Case.id.in_(recent_files)))
        .order_by(Case.files_checked_at.is_not(None), Case.files_checked_at,
                  Case.updated_at.desc())
    )


def refresh_case(engine: OutboxEngine, case_id: str, with_fields: bool = False) -> None:
    """Fetch one case's files and insights now (a person opened it). *with_fields*: merge the
    case's own fields too, as a pull would (an analysis under way moves its status)."""
    with engine.ws.sessions() as s:
        case = s.get(Case, case_id)
        if case is None or case.server_id is None:
            return
        server_id, numeric_id = case.server_id, case.numeric_id
    _refresh_one(engine, case_id, server_id, numeric_id, with_fields)


def _refresh_one(
    engine: OutboxEngine, case_id: str, server_id: str, numeric_id: str | None,
    with_fields: bool = False,
) -> None:
    detail = engine.call(lambda: engine.client.case_detail(server_id, numeric_id=numeric_id))
    for exc in detail.set_aside:  # logged by the client; the rest of the detail is used
        engine.report.set_aside += 1
        engine.report.problems.append(str(exc))
        engine.report.set_aside_reasons.append(f"{exc.what} record: {exc.reason}")
    with engine.ws.transaction() as s:
        case = s.get(Case, case_id)
        if case is None:
            return
        if with_fields and detail.case is not None and (
                detail.case.updated_at != case.server_updated_at):
            # The case changed there too (an analysis moving on): merged as a pull would.
            merge_cases(engine, s, [detail.case])
        if detail.insights:
            case.ai_insights = detail.insights
        match_files(s, case, detail.files, candidates=None)
        case.detail_stale = False
        case.files_checked_at = utcnow()


def match_files(
    s: Session, case: Case, files: Iterable[RemoteFile], candidates: list[str] | None
) -> None:
    """Link server files to local documents by (name, size); the rest become server-only.

    ``candidates``: the documents that went inside a create, the only ones a listed file may
    stand for besides uploads whose outcome is unknown (None: any document of the case).
    """
    docs = list(s.scalars(select(Document).where(Document.case_id == case.id)))
    by_server = {d.server_file_id: d for d in docs if d.server_file_id}
    for remote in files:
        doc = by_server.get(remote.file_id)
        if doc is None:
            doc = next(
                (d for d in docs if d.server_file_id is None and d.name == remote.file_name
                 and d.size == remote.file_size
                 and (candidates is None or d.id in candidates or _upload_unsure(s, d))),
                None,
            )
            if doc is not None:
                doc.server_file_id = remote.file_id
                doc.state, doc.error = DocumentState.UPLOADED, None
                s.execute(delete(PendingChange).where(PendingChange.document_id == doc.id))
                by_server[remote.file_id] = doc
        if doc is None:
            doc = Document(
                id=new_id(), case_id=case.id, server_file_id=remote.file_id,
                name=safe_name(remote.file_name),
                mime_type=remote.file_type or "application/octet-stream",
                size=remote.file_size or 0, sha256=None,
                category=remote.file_category or "lab", state=DocumentState.REMOTE_ONLY,
            )
            s.add(doc)
            docs.append(doc)
            by_server[remote.file_id] = doc
        doc.file_url = remote.file_url
        doc.uploaded_at = remote.uploaded_at
        if remote.file_category in ("lab", "radiology"):
            doc.category = remote.file_category
    # Files that went inside a create but did not arrive stay queued: mark them unsure so
    # their upload reconciles first.
    if candidates:
        for doc in docs:
            if doc.id in candidates and doc.server_file_id is None:
                s.execute(
                    PendingChange.__table__.update()
                    .where(PendingChange.document_id == doc.id)
                    .values(in_flight=True, payload={"name": doc.name, "size": doc.size})
                )
                doc.state = DocumentState.LOCAL_ONLY


def _upload_unsure(s: Session, doc: Document) -> bool:
    return bool(s.scalar(select(func.count()).select_from(PendingChange).where(
        PendingChange.document_id == doc.id, PendingChange.in_flight.is_(True))))


def download(
    engine: OutboxEngine, document_id: str, progress: Callable[[int, int], None] | None = None
) -> StoredBytes:
    """Bring a server-only document into the blob store (encrypted as it arrives); its bytes.

    Checked as intake checks a file: the bytes must be as many as the server declared, of a
    type Case Desk takes (sniffed from the content, which also sets the recorded type), and
    their SHA-256 is recorded. Bytes that fail are not kept; the document stays "only on the
    server" with the reason (:class:`~desktop.sync.errors.DownloadRefused`).
    """
    ws = engine.ws
    with ws.sessions() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            raise NotFoundError(f"No document with id {document_id!r}.")
        if doc.sha256 and ws.blobs.exists(doc.sha256):
            return ws.blobs.ref(doc.sha256)
        url, declared = doc.file_url, doc.size or None
    with ws.blobs.writing():  # the blob store's collector waits until the row names it
        kinds: list[FileKind] = []

        def check(open_content: Callable[[], BinaryIO], size: int) -> None:
            if declared is not None and size != declared:
                raise err.DownloadRefused(
                    f"The server sent {size} bytes for this document but declared {declared}, so "
                    "they were not kept as the server's file. Ask the server's keeper to check it.")
            try:
                with open_content() as content:
                    kinds.append(sniff_stream(content))
            except IntakeRefused as exc:
                raise err.DownloadRefused(
                    f"The server's copy of this document was not kept: {exc.reason}.") from None

        try:
            blob = ws.blobs.ingest_stream(
                engine.client.download_chunks(url, progress=progress, declared=declared),
                max_size=None, check=check)
        except err.DownloadRefused as exc:
            log.warning("download of document refused: %s", type(exc).__name__)
            with ws.transaction() as s:
                doc = s.get(Document, document_id)
                if doc is not None:
                    doc.error = str(exc)
            raise
        with ws.transaction() as s:
            doc = s.get(Document, document_id)
            if doc is not None:
                doc.sha256, doc.size, doc.error = blob.sha256, blob.size, None
                doc.mime_type = kinds[0].mime
                if doc.state == DocumentState.REMOTE_ONLY:
                    doc.state = DocumentState.DOWNLOADED
    return ws.blobs.ref(blob.sha256)


def safe_name(name: str | None) -> str:
    """A server file name is untrusted: keep only its last path part, printable, bounded."""
    raw = (name or "document").replace("\\", "/").split("/")[-1]
    cleaned = "".join(ch for ch in raw if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return (cleaned or "document")[:255]
