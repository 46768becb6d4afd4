"""Syncing with a Care360 portal: its one outbox step, document uploads, exactly once.

Care360 is a files-only patient portal: it has no case list to pull and no route to create or
edit a case. So only ``upload_document`` rows of the outbox travel; case creates and edits
stay queued, untouched, and are not failures (the report counts them). The discipline is the
shared outbox engine's: ``in_flight`` committed before a send, reconcile before any resend
whose outcome is unknown, park refusals with the server's reason, defer what the server could
not do now.

A document goes with ``caseId`` when its case is linked to a Care360 case (a UUID server
id); otherwise it becomes a *general document* and the document's note says so. General
documents are not listed by ``GET /me/files``, so an unknown outcome cannot be checked: that
upload is set aside with an explanation instead of being resent blindly (a duplicate in a
patient's record is worse than asking).
"""

from __future__ import annotations

from typing import Any

from desktop.errors import ValidationError
from desktop.models.tables import Case, ChangeKind, utcnow
from desktop.sync import errors as err
from desktop.sync.care360.client import Care360Client
from desktop.sync.care360.upload import check_upload, is_uuid
from desktop.sync.outbox import OutboxEngine, Sender
from desktop.sync.reconcile import find_sent_file
from desktop.sync.records import RemoteFile
from desktop.sync.report import Phase
from desktop.workspace import Workspace

GENERAL_NOTE = ("Sent to Care360 as a general document, not attached to a case: this case is "
                "not linked to a Care360 case.")
UNCONFIRMED_GENERAL = (
    "Care360 did not confirm this general document, and it cannot be checked (Care360 does "
    "not list general documents). Look in the Care360 portal: if it is not there, send it "
    "again; if it is, discard it here."
)


def link_case(ws: Workspace, case_id: str, care360_case_id: str) -> None:
    """Tie a local case to a Care360 case (its UUID), so its documents attach to that case."""
    if not is_uuid(care360_case_id):
        raise ValidationError(f"{care360_case_id!r} is not a Care360 case id (a UUID).")
    target = ws.resolve_id(case_id)
    with ws.transaction() as s:
        case = s.get(Case, target)
        assert case is not None
        case.server_id = care360_case_id.strip().lower()
        case.detail_stale = True


class Care360Engine(OutboxEngine):
    """``run(progress, cancelled) -> SyncReport`` for a Care360 profile."""

    server = "Care360"
    files_only = True
    client: Care360Client

    def senders(self) -> dict[str, Sender]:
        """Uploads only: case rows have no destination on a files-only server."""
        return {ChangeKind.UPLOAD_DOCUMENT: self._push_upload}

    def _push_upload(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            rows = self.upload_rows(s, change_id)
            if rows is None:
                return
            change, doc, case = rows
            path = self.ws.stored_bytes_for(doc.sha256)
            case_ref = case.server_id.strip().lower() if is_uuid(case.server_id) else None
            name, size, mime, doc_id = doc.name, doc.size, doc.mime_type, doc.id
            was_in_flight, previous = change.in_flight, dict(change.payload or {})
        if path is None:
            raise err.RejectedError(
                f"The bytes of {name!r} are missing from the local store; attach the file again."
            )
        check_upload(name, mime)  # refused here, with the reason, before any byte is sent

        adopted = False

        def reconcile(sent: dict[str, Any]) -> RemoteFile | None:
            nonlocal adopted
            target = sent.get("case_id")
            if not target:
                return None  # general documents are not listed: nothing to look at
            files = self.call(lambda: self.client.list_files(case_id=target))
            found = find_sent_file(
                (f for f in files if (f.case_id or "").lower() == target),
                self.owned_file_ids(), name, size, sent.get("sent_at"))
            adopted = found is not None
            return found

        remote: RemoteFile | None = None
        if was_in_flight and previous:
            if not previous.get("case_id"):
                raise err.RejectedError(UNCONFIRMED_GENERAL)
            remote = reconcile(previous)
        if remote is None:
            # Renew the sign-in first, so a refused refresh leaves no "unsure" mark behind.
            self.call(self.client.ensure_access)
            payload = {"name": name, "size": size, "case_id": case_ref,
                       "sent_at": utcnow().isoformat()}
            self.mark_in_flight(change_id, payload)

            def send() -> RemoteFile:
                try:
                    return self.client.upload_file(
                        path, name, mime, case_id=case_ref,
                        progress=lambda done, total: self.emit(
                            Phase.UPLOAD, bytes_done=done, bytes_total=total, name=name),
                    )
                except (err.AuthError, err.OfflineError):
                    # 401 / connection refused: nothing reached storage, no reconcile needed.
                    self.clear_in_flight(change_id)
                    raise
                except err.SyncError as exc:
                    if case_ref is None and exc.outcome_unknown:
                        raise err.RejectedError(UNCONFIRMED_GENERAL, route=exc.route) from exc
                    raise

            try:
                remote = self.call(send, lambda: reconcile(payload))
            except err.ProtocolError as exc:
                raise err.OutcomeUnknownError(str(exc)) from exc
        general = case_ref is None
        self.record_upload(change_id, doc_id, remote, adopted=adopted,
                           note=GENERAL_NOTE if general else None)
        if general:
            self.report.general_documents += 1
            self.report.problems.append(GENERAL_NOTE)
