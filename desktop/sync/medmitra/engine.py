"""Syncing with a MedMitra case server: its three outbox steps, then pull, merge and files.

- **create**: a new case goes in one multipart request with the files attached so far (the
  deployed backend's only upload path for a case whose id is a UUID); a refused file never
  keeps the case off the server: it is created bare and the file goes on its own.
- **update**: the server's copy is read right before writing, and again before any re-send,
  and merged (the API has no version or If-Match), so a change made there since becomes a
  conflict; only the dirty fields are sent, and the answer is compared with what was read
  and sent: only what the server shows it applied is cleaned (see ``_record_update``).
- **upload**: a file for a case already on the server, streamed from the blob store.
- **remove a document, delete a case, analyse**: the shared steps of ``sync/removals.py``
  on this client's DELETE and analyze routes.

Every step runs on the shared outbox engine: in flight before a send, reconcile before a
resend whose outcome is unknown, park refusals, defer what the server could not do now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.models.tables import (
    EDITABLE_FIELDS,
    Case,
    ChangeKind,
    ChangeState,
    Conflict,
    Document,
    PendingChange,
    utcnow,
)
from desktop.sync import errors as err
from desktop.sync import removals
from desktop.sync.details import match_files, refresh_details
from desktop.sync.http import declared_size
from desktop.sync.medmitra.client import Attachment, MedMitraClient
from desktop.sync.medmitra.records import case_stamp, parse_case
from desktop.sync.merge import merge_case, same_value
from desktop.sync.outbox import OutboxEngine, Sender
from desktop.sync.pull import Listing, fields_of, link_case, merge_cases, pull
from desktop.sync.reconcile import find_sent_file, matches_sent
from desktop.sync.records import CaseDetail, RemoteCase, RemoteFile
from desktop.sync.report import Phase
from desktop.workspace import queue_update, settle_sync_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """An update as sent: the values, the server's copy read just before, and its answer."""

    values: dict[str, Any]
    read: RemoteCase | None
    echo: RemoteCase


class MedMitraEngine(OutboxEngine):
    client: MedMitraClient

    def senders(self) -> dict[str, Sender]:
        return {
            ChangeKind.CREATE_CASE: self._push_create,
            ChangeKind.UPDATE_CASE: self._push_update,
            ChangeKind.UPLOAD_DOCUMENT: self._push_upload,
            ChangeKind.REMOVE_DOCUMENT: lambda change_id: removals.send_document_removal(
                self, change_id,
                list_files=lambda sid, nid: self.client.list_files(sid, numeric_id=nid),
                delete_file=lambda fid, sid, nid: self.client.delete_file(fid, sid, nid)),
            ChangeKind.DELETE_CASE: lambda change_id: removals.send_case_deletion(
                self, change_id, read_case=self._read_case,
                delete_case=lambda sid, nid: self.client.delete_case(sid, numeric_id=nid),
                find_created=self._find_created),
            ChangeKind.ANALYZE_CASE: lambda change_id: removals.send_analysis(
                self, change_id, read_case=self._read_case,
                analyze=lambda sid, nid: self.client.analyze_case(sid, numeric_id=nid)),
        }

    def _read_case(self, server_id: str, numeric_id: str | None) -> CaseDetail:
        return self.client.case_detail(server_id, numeric_id=numeric_id)

    def after_push(self) -> None:
        """Pull and merge the case list, then refresh files and insights of changed cases."""
        pull(self, Listing(self.client.iter_case_records, case_stamp, parse_case))
        self.check_cancel()
        refresh_details(self)

    # ------------------------------------------------------------ create

    def _push_create(self, change_id: int) -> None:
        # What is read to send and the in-flight mark commit together, before the request.
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            case = s.get(Case, change.case_id)
            assert case is not None
            if case.server_id is not None:  # already created (adopted by a pull)
                s.delete(change)
                return
            fields = fields_of(case)
            was_in_flight, previous = change.in_flight, change.payload
            uploads = s.execute(
                select(PendingChange.id, Document)
                .join(Document, Document.id == PendingChange.document_id)
                .where(
                    PendingChange.case_id == case.id,
                    PendingChange.kind == ChangeKind.UPLOAD_DOCUMENT,
                    PendingChange.state == ChangeState.QUEUED,
                    Document.removed_at.is_(None),  # removed here: never sent
                )
                .order_by(PendingChange.id)
            ).all()
            attachments: list[tuple[str, Attachment]] = []
            for _upload_id, doc in uploads:
                path = self.ws.stored_bytes_for(doc.sha256)
                if path is not None:
                    attachments.append(
                        (doc.id, Attachment(path=path, name=doc.name, mime=doc.mime_type,
                                            category=doc.category))
                    )
            case_id = case.id
            marked = None
            if not (was_in_flight and previous):  # else: look for it on the server first
                marked = self._create_payload(fields, attachments)
                self.mark_in_flight_within(s, change, marked)

        if was_in_flight and previous:
            remote = self._find_created(previous)
            if remote is not None:
                self._adopt_created(change_id, case_id, previous, remote, files=None)
                return

        try:
            remote, files, payload = self._send_create(change_id, fields, attachments, marked)
        except err.RejectedError:
            if not attachments:
                raise
            # One refused file must not keep the case off the server: create it bare; its
            # files then go one by one, and a refusal is parked on that file alone.
            log.info("create refused with attachments; retrying without them")
            remote, files, payload = self._send_create(change_id, fields, [])
        self._adopt_created(change_id, case_id, payload, remote, files)

    @staticmethod
    def _create_payload(
        fields: dict[str, Any], attachments: list[tuple[str, Attachment]]
    ) -> dict[str, Any]:
        """What a create sends, kept with the change so a later run can recognise it."""
        return {"fields": fields, "documents": [doc_id for doc_id, _ in attachments],
                "sent_at": utcnow().isoformat()}

    def _send_create(
        self, change_id: int, fields: dict[str, Any], attachments: list[tuple[str, Attachment]],
        marked: dict[str, Any] | None = None,
    ) -> tuple[RemoteCase, list[RemoteFile] | None, dict[str, Any]]:
        """Send a create; *marked* is the payload already committed as in flight, if so."""
        payload = marked
        if payload is None:
            payload = self._create_payload(fields, attachments)
            self.mark_in_flight(change_id, payload)
        total = sum(declared_size(a.path) for _, a in attachments)

        def send() -> tuple[RemoteCase, list[RemoteFile] | None]:
            remote, files = self.client.create_case(
                {k: v for k, v in fields.items() if k != "status"},
                [a for _, a in attachments],
                progress=(lambda done, _t: self.emit(
                    Phase.UPLOAD, bytes_done=done, bytes_total=total)) if attachments else None,
            )
            return remote, list(files)

        def reconcile() -> tuple[RemoteCase, list[RemoteFile] | None] | None:
            found = self._find_created(payload)
            return (found, None) if found is not None else None

        try:
            remote, files = self.call(send, reconcile)
        except err.ProtocolError as exc:
            # The server answered but the answer was unreadable: it may have stored the case.
            raise err.OutcomeUnknownError(str(exc)) from exc
        return remote, files, payload

    def _find_created(self, payload: dict[str, Any]) -> RemoteCase | None:
        """A server case equal to what we sent that no local case already owns."""
        remote_cases = self.call(self.client.list_cases)
        with self.ws.sessions() as s:
            owned = set(s.scalars(select(Case.server_id).where(Case.server_id.is_not(None))))
        matches = [r for r in remote_cases
                   if r.server_id not in owned and matches_sent(r, payload)]
        if not matches:
            return None
        return max(matches, key=lambda r: r.created_at or "")

    def _adopt_created(
        self,
        change_id: int,
        case_id: str,
        payload: dict[str, Any],
        remote: RemoteCase,
        files: list[RemoteFile] | None,
    ) -> None:
        sent_docs: list[str] = list(payload.get("documents", []))
        if files is None:
            # Adopted after an unknown outcome: find out which files arrived with it.
            files = list(self.call(lambda: self.client.list_files(
                remote.server_id, numeric_id=remote.numeric_id)))
            self.report.adopted += 1
        else:
            self.report.created += 1
        with self.ws.transaction() as s:
            case = s.get(Case, case_id)
            change = s.get(PendingChange, change_id)
            if case is None:
                return
            link_case(case, remote)
            sent = payload.get("fields", {})
            # Clean only what was sent: fields edited meanwhile (or not sendable, like status)
            # become an update.
            differing = [f for f in EDITABLE_FIELDS
                         if f in sent and not same_value(getattr(case, f), getattr(remote, f))]
            if change is not None:
                s.delete(change)
            s.flush()
            if differing:
                queue_update(s, case, differing)
            match_files(s, case, files, candidates=sent_docs)
            # The files that went inside the create are on the server now: uploaded.
            travelled = s.scalar(select(func.count()).select_from(Document).where(
                Document.id.in_(sent_docs), Document.server_file_id.is_not(None))) if sent_docs else 0
            settle_sync_state(s, case)
        self.report.uploaded += int(travelled or 0)
        log.info("case %s created on the server", case_id)

    # ------------------------------------------------------------ update

    def _push_update(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            case = s.get(Case, change.case_id)
            assert case is not None
            if case.server_id is None:
                return  # its create has not gone yet; it carries current values anyway
            server_id, numeric_id, case_id = case.server_id, case.numeric_id, case.id

        def read_then_write() -> Written | None:
            # The API has no version or If-Match. The server's copy is read right before the
            # write and merged, so a change made there since the last pull becomes a
            # conflict, not a loss. This whole step is what a retry repeats: a re-send after
            # a failure reads again first, however long the backoff was.
            read = self.client.case_detail(server_id, numeric_id=numeric_id).case
            # The merge of what was read, the values it leaves to send and the in-flight mark
            # commit together, before the write leaves: one commit, not three.
            with self.ws.transaction() as s:
                if read is not None:
                    merge_cases(self, s, [read])  # counted: a change from the server
                values = self._update_values(s, change_id, case_id)
                change = s.get(PendingChange, change_id) if values else None
                if change is not None:
                    self.mark_in_flight_within(s, change, {"values": values})
            if change is None:
                return None
            echo = self.client.update_case(server_id, values, numeric_id=numeric_id)
            return Written(values, read, echo)

        written = self.call(read_then_write)
        if written is not None:
            self._record_update(change_id, case_id, written)

    @staticmethod
    def _update_values(s: Session, change_id: int, case_id: str) -> dict[str, Any]:
        """The dirty fields to send now: those without an open conflict."""
        change = s.get(PendingChange, change_id)
        case = s.get(Case, case_id)
        if change is None or case is None:
            return {}
        blocked = set(s.scalars(select(Conflict.field).where(
            Conflict.case_id == case_id, Conflict.resolved_at.is_(None))))
        return {f: getattr(case, f) for f in (change.fields or [])
                if f in EDITABLE_FIELDS and f not in blocked}

    def _record_update(self, change_id: int, case_id: str, written: Written) -> None:
        """What the server's answer shows, field by field, against what was read and sent:

        - a sent value it shows was applied: clean (unless edited again meanwhile);
        - a sent field still showing the value read before: not applied (a server that
          ignores it); it stays queued, set aside with the reason, never marked synced;
        - a sent field showing a third value: someone else's write replaced ours at once; a
          value this workstation had not seen, so a conflict;
        - a field not sent that differs from what was read: written by someone else between
          the read and the write; merged as a pull would, and the case is reported, as a
          write there to the fields sent here was replaced without a trace.
        """
        values, read, echo = written.values, written.read, written.echo

        def shown(name: str) -> bool:
            return name in echo.raw

        applied, ignored, replaced = [], [], []
        for name, sent in values.items():
            if not shown(name) or same_value(getattr(echo, name), sent):
                applied.append(name)
            elif read is not None and same_value(getattr(echo, name), getattr(read, name)):
                ignored.append(name)
            else:
                replaced.append(name)
        meanwhile = [] if read is None else [
            f for f in EDITABLE_FIELDS
            if f not in values and shown(f) and not same_value(getattr(echo, f), getattr(read, f))]
        with self.ws.transaction() as s:
            case = s.get(Case, case_id)
            change = s.get(PendingChange, change_id)
            if case is None:
                return
            base = dict(case.base or {})
            for name in applied:
                base[name] = getattr(echo, name) if shown(name) else values[name]
            for name in replaced:
                self._add_conflict(s, case, name, base.get(name), getattr(case, name),
                                   getattr(echo, name))
            if meanwhile:
                result = merge_case({f: getattr(read, f) for f in meanwhile}, fields_of(case),
                                    {f: getattr(echo, f) for f in meanwhile}, meanwhile)
                for name, value in result.take.items():
                    setattr(case, name, value)
                for c in result.conflicts:
                    self._add_conflict(s, case, c.field, c.base, c.mine, c.theirs)
                base.update(result.new_base)
                self.report.overlapped += 1
                self.report.problems.append(
                    f"Case {case_id} was changed on the server between this computer's read "
                    f"and its write of {', '.join(sorted(values))}.")
                log.warning("case %s: written on the server between read and write", case_id)
            case.base = base
            # server_updated_at is left alone: the next pull merges whatever else changed.
            if echo.numeric_id:
                case.numeric_id = echo.numeric_id
            if change is not None:
                # Clean only what was applied: a field not applied, or edited again meanwhile,
                # stays dirty.
                remaining = [f for f in (change.fields or [])
                             if f not in applied or getattr(case, f) != values[f]]
                if remaining:
                    change.fields, change.in_flight, change.payload = remaining, False, None
                else:
                    s.delete(change)
                if ignored:
                    reason = (f"The server did not apply {', '.join(ignored)}: its answer "
                              "still shows the earlier value.")
                    change.state, change.last_error = ChangeState.PARKED, reason
                    case.sync_error = reason
                    self.report.parked += 1
                    self.report.problems.append(reason)
                    log.warning("case %s: update not applied by the server (%s)", case_id,
                                ",".join(ignored))
            settle_sync_state(s, case)
        if applied:
            self.report.updated += 1

    def _add_conflict(self, s: Session, case: Case, field: str, base: Any, mine: Any,
                      theirs: Any) -> None:
        existing = s.scalar(select(Conflict).where(
            Conflict.case_id == case.id, Conflict.field == field, Conflict.resolved_at.is_(None)))
        if existing is not None:
            existing.local_value, existing.server_value = mine, theirs
            return
        s.add(Conflict(case_id=case.id, field=field, base_value=base, local_value=mine,
                       server_value=theirs))
        self.report.conflicts += 1

    # ------------------------------------------------------------ upload

    def _push_upload(self, change_id: int) -> None:
        # What is read to send and the in-flight mark commit together, before the request.
        with self.ws.transaction() as s:
            rows = self.upload_rows(s, change_id)
            if rows is None:
                return
            change, doc, case = rows
            if case.server_id is None:
                return  # goes inside the case's create
            path = self.ws.stored_bytes_for(doc.sha256)
            server_id, numeric_id = case.server_id, case.numeric_id
            name, size, mime, doc_id = doc.name, doc.size, doc.mime_type, doc.id
            was_in_flight = change.in_flight
            if path is not None and not was_in_flight:  # else: look on the server first
                self.mark_in_flight_within(s, change, {"name": name, "size": size})
        if path is None:
            raise err.RejectedError(
                f"The bytes of {name!r} are missing from the local store; attach the file again."
            )
        adopted = False

        def reconcile() -> RemoteFile | None:
            nonlocal adopted
            files = self.call(lambda: self.client.list_files(server_id, numeric_id=numeric_id))
            found = find_sent_file(files, self.owned_file_ids(), name, size)
            adopted = found is not None
            return found

        remote = reconcile() if was_in_flight else None
        if remote is None:
            if was_in_flight:
                self.mark_in_flight(change_id, {"name": name, "size": size})

            def send() -> RemoteFile:
                return self.client.upload_file(
                    server_id, path, name, mime, numeric_id=numeric_id,
                    progress=lambda done, total: self.emit(
                        Phase.UPLOAD, bytes_done=done, bytes_total=total, name=name),
                )

            try:
                remote = self.call(send, reconcile)
            except err.ProtocolError as exc:
                raise err.OutcomeUnknownError(str(exc)) from exc
        self.record_upload(change_id, doc_id, remote, adopted=adopted)
