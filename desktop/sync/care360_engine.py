"""Sync with a Care360 server: push queued document uploads, exactly once.

Care360 is a files-only patient portal: it has no case list to pull and no route to create or
edit a case. So only ``upload_document`` rows of the outbox travel; case creates and edits
stay queued, untouched, and are not failures (the report says so). The discipline is the
MedMitra engine's, reused by subclassing: ``in_flight`` committed before a send, reconcile
before any resend whose outcome is unknown, park refusals with the server's reason, defer
what the server could not do now.

A document goes with ``caseId`` when its case has a Care360 case id (a UUID server id);
otherwise it becomes a *general document* and the person is told so (the document's note and
the report). General documents are not listed by ``GET /me/files``, so an unknown outcome
cannot be checked: that upload is set aside with an explanation instead of being resent
blindly (a duplicate in a patient's record is worse than asking).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from desktop.errors import ValidationError
from desktop.models.tables import (
    Case,
    ChangeKind,
    Document,
    DocumentState,
    PendingChange,
    utcnow,
)
from desktop.sync import errors as err
from desktop.sync.care360 import Care360File, check_upload, is_uuid
from desktop.sync.engine import (
    CLOCK_SLACK,
    SyncEngine,
    SyncProgress,
    SyncReport,
    parse_time,
)
from desktop.workspace import Workspace, settle_sync_state

log = logging.getLogger(__name__)

GENERAL_NOTE = ("Sent to Care360 as a general document, not attached to a case: this case has "
                "no Care360 case id.")
UNCONFIRMED_GENERAL = (
    "Care360 did not confirm this general document, and it cannot be checked (Care360 does "
    "not list general documents). Look in the Care360 portal: if it is not there, retry it "
    "(casedesk retry); if it is, discard it here (casedesk discard)."
)


@dataclass
class Care360SyncReport(SyncReport):
    general_documents: int = 0
    case_changes_kept: int = 0

    server_name = "Care360"
    synced_head = "Synced with Care360"
    refused = "refused or set aside"

    def counts(self) -> list[str]:
        uploaded = f"{self.uploaded} uploaded"
        if self.general_documents:
            uploaded += (f" ({self.general_documents} as general document(s), not attached "
                         "to a case)")
        return [uploaded]

    def footnote(self) -> str:
        return (f" {self.case_changes_kept} case change(s) stay on this computer: Care360 "
                "stores files only, not cases." if self.case_changes_kept else "")


def link_case(ws: Workspace, case_id: str, care360_case_id: str) -> None:
    """Tie a local case to a Care360 case (its UUID), so its documents attach to that case."""
    if not is_uuid(care360_case_id):
        raise ValidationError(f"{care360_case_id!r} is not a Care360 case id (a UUID).")
    target = ws.resolve_id(case_id)
    with ws.transaction() as s:
        case = s.get(Case, target)
        assert case is not None
        case.server_id = care360_case_id.strip().lower()


class Care360SyncEngine(SyncEngine):
    """``run(progress, cancelled) -> SyncReport`` for a Care360 profile."""

    def run(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Care360SyncReport:
        report = super().run(progress, cancelled)
        assert isinstance(report, Care360SyncReport)
        return report

    def _new_report(self) -> Care360SyncReport:
        report = Care360SyncReport()
        report.case_changes_kept = case_changes_waiting(self.ws)
        return report

    def _steps(self) -> None:
        """Uploads only: a files-only server has no case list to pull."""
        self._push()

    def _due_changes(self) -> list[tuple[int, str]]:
        """Uploads only: case rows have no destination on a files-only server."""
        return [c for c in super()._due_changes() if c[1] == ChangeKind.UPLOAD_DOCUMENT]

    # ------------------------------------------------------------ upload

    def _push_upload(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            rows = self._upload_rows(s, change_id)
            if rows is None:
                return
            change, doc, case = rows
            path = self.ws.blob_path_for(doc.sha256)
            case_ref = case.server_id.strip().lower() if is_uuid(case.server_id) else None
            name, size, mime, doc_id = doc.name, doc.size, doc.mime_type, doc.id
            was_in_flight, previous = change.in_flight, dict(change.payload or {})
        if path is None:
            raise err.RejectedError(
                f"The bytes of {name!r} are missing from the local store; attach the file again."
            )
        check_upload(name, mime)  # refused here, with the reason, before any byte is sent

        adopted = False

        def reconcile(sent: dict[str, Any]) -> Care360File | None:
            nonlocal adopted
            target = sent.get("case_id")
            if not target:
                return None  # general documents are not listed: nothing to look at
            files = self._call(lambda: self.client.list_files(case_id=target))
            with self.ws.sessions() as s:
                owned = set(s.scalars(select(Document.server_file_id).where(
                    Document.server_file_id.is_not(None))))
            since = parse_time(sent.get("sent_at"))
            found = next(
                (f for f in files
                 if f.file_id not in owned and f.file_name == name
                 and (f.case_id or "").lower() == target
                 and (f.size is None or f.size == size)
                 and (since is None or (parse_time(f.created_at) or since) >= since - CLOCK_SLACK)),
                None,
            )
            adopted = found is not None
            return found

        remote: Care360File | None = None
        if was_in_flight and previous:
            if not previous.get("case_id"):
                raise err.RejectedError(UNCONFIRMED_GENERAL)
            remote = reconcile(previous)
        if remote is None:
            # Renew the sign-in first, so a refused refresh leaves no "unsure" mark behind.
            self._call(self.client.ensure_access)
            payload = {"name": name, "size": size, "case_id": case_ref,
                       "sent_at": utcnow().isoformat()}
            self._mark_in_flight(change_id, payload)

            def send() -> Care360File:
                try:
                    return self.client.upload_file(
                        path, name, mime, case_id=case_ref,
                        progress=lambda done, total: self._emit(
                            "upload", f"Uploading {name}", bytes_done=done, bytes_total=total),
                    )
                except (err.AuthError, err.OfflineError):
                    # 401 / connection refused: nothing reached storage, no reconcile needed.
                    self._clear_in_flight(change_id)
                    raise
                except err.SyncError as exc:
                    if case_ref is None and exc.outcome_unknown:
                        raise err.RejectedError(UNCONFIRMED_GENERAL, route=exc.route) from exc
                    raise

            try:
                remote = self._call(send, lambda: reconcile(payload))
            except err.ProtocolError as exc:
                raise err.OutcomeUnknownError(str(exc)) from exc
        self._record_upload(change_id, doc_id, remote, general=case_ref is None,
                            adopted=adopted)

    def _clear_in_flight(self, change_id: int) -> None:
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is not None:
                change.in_flight = False

    def _record_upload(
        self, change_id: int, doc_id: str, remote: Care360File, general: bool, adopted: bool
    ) -> None:
        with self.ws.transaction() as s:
            doc = s.get(Document, doc_id)
            if doc is not None:
                doc.server_file_id = remote.file_id
                doc.uploaded_at = remote.created_at
                doc.state = DocumentState.UPLOADED
                doc.error = GENERAL_NOTE if general else None
            s.execute(delete(PendingChange).where(PendingChange.id == change_id))
            case = s.get(Case, doc.case_id) if doc else None
            if case is not None:
                settle_sync_state(s, case)
        if adopted:
            self._report.adopted += 1
        else:
            self._report.uploaded += 1
        if general and isinstance(self._report, Care360SyncReport):
            self._report.general_documents += 1
            self._report.problems.append(GENERAL_NOTE)


def case_changes_waiting(ws: Workspace) -> int:
    """Case creates/edits in the outbox: they have no destination on a files-only server."""
    with ws.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(PendingChange).where(
            PendingChange.kind.in_((ChangeKind.CREATE_CASE, ChangeKind.UPDATE_CASE)))) or 0)
