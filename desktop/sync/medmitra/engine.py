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
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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
    DocumentState,
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
from desktop.sync.outbox import LaneKeys, OutboxEngine, Sender
from desktop.sync.plain_writes import link_plain_create, mark_plain_update, record_plain_update
from desktop.sync.pull import Listing, fields_of, link_case, merge_cases, pull
from desktop.sync.reconcile import content_key, find_sent_file, matches_sent, sent_content
from desktop.sync.records import CaseDetail, RemoteCase, RemoteFile
from desktop.sync.report import Phase
from desktop.workspace import queue_update, settle_sync_state

log = logging.getLogger(__name__)


#: Server cases by what a create sent (``reconcile.sent_content``).
ByContent = dict[tuple[Any, ...], list[RemoteCase]]


@dataclass(frozen=True)
class Written:
    """An update as sent: the values, the server's copy read just before, and its answer."""

    values: dict[str, Any]
    read: RemoteCase | None
    echo: RemoteCase


@dataclass(frozen=True)
class PreparedCreate:
    """A create read for sending. ``marked``: the payload committed as in flight with it;
    None when an earlier attempt's outcome is unknown (``previous``, looked for first)."""

    case_id: str
    fields: dict[str, Any]
    attachments: list[tuple[str, Attachment]]
    marked: dict[str, Any] | None
    previous: dict[str, Any] | None


@dataclass(frozen=True)
class PreparedUpload:
    """An upload read for sending. ``unsure``: an earlier attempt's outcome is unknown (it is
    looked for first); ``marked``: committed as in flight with this read."""

    server_id: str
    numeric_id: str | None
    doc_id: str
    name: str
    size: int
    mime: str
    path: Path | None
    unsure: bool
    marked: bool


class MedMitraEngine(OutboxEngine):
    client: MedMitraClient

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Creates and uploads read and marked in flight as a batch (``lanes``), not yet sent.
        self._prepared: dict[int, PreparedCreate] = {}
        self._prepared_uploads: dict[int, PreparedUpload] = {}
        # The server's case list as read once in a run (the run's start time, the list) to
        # look for the creates earlier runs sent without recording an answer.
        self._earlier_listing: tuple[datetime, ByContent] | None = None
        self._earlier_listing_lock = threading.Lock()

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

    # ------------------------------------------------------------ several in flight

    def lanes(self, kind: str, change_ids: list[int]) -> LaneKeys | None:
        """Edits and uploads: one lane per case. Creates: also one lane per content, since a
        create whose answer was lost is found again by content (``reconcile.matches_sent``):
        two alike in flight at once could each take the other's case for its own. A batch of
        creates is read and marked in flight in one commit before the first is sent."""
        if kind == ChangeKind.CREATE_CASE:
            return self._prepare_creates(change_ids)
        if kind == ChangeKind.UPLOAD_DOCUMENT:
            return self._prepare_uploads(change_ids)
        if kind == ChangeKind.UPDATE_CASE:  # marked after its read, one by one
            return self.case_lanes(change_ids)
        return None

    def unsent(self, change_ids: list[int]) -> None:
        """Creates and uploads marked in flight with their batch but never sent: nothing to
        look for, and a document no longer shows as uploading."""
        fresh = [i for i in change_ids
                 if (p := self._prepared.pop(i, None)) is not None and p.marked is not None]
        fresh += [i for i in change_ids
                  if (u := self._prepared_uploads.pop(i, None)) is not None and u.marked]
        if fresh:
            with self.ws.transaction() as s:
                for change in s.scalars(select(PendingChange).where(
                        PendingChange.id.in_(fresh))):
                    change.in_flight = False
                    doc = s.get(Document, change.document_id) if change.document_id else None
                    if doc is not None and doc.state == DocumentState.UPLOADING:
                        doc.state = DocumentState.LOCAL_ONLY

    def _prepare_creates(self, change_ids: list[int]) -> LaneKeys:
        keys: LaneKeys = {}
        with self.ws.transaction() as s:
            changes = list(s.scalars(select(PendingChange).where(
                PendingChange.id.in_(change_ids))))
            case_ids = [c.case_id for c in changes]
            # Loaded together (and held: the session keeps only what is referenced).
            cases = list(s.scalars(select(Case).where(Case.id.in_(case_ids))))
            uploads: dict[str, list[Document]] = {}
            for case_id, doc in s.execute(self._queued_uploads(case_ids)).all():
                uploads.setdefault(case_id, []).append(doc)
            for change in changes:
                prepared = self._prepare_create(s, change, uploads.get(change.case_id, []))
                if prepared is None:
                    continue
                self._prepared[change.id] = prepared
                lane: set[Hashable] = {("case", prepared.case_id), content_key(prepared.fields)}
                if prepared.previous:
                    lane.add(content_key(prepared.previous.get("fields") or {}))
                keys[change.id] = frozenset(lane)
            del cases
        return keys

    # ------------------------------------------------------------ create

    @staticmethod
    def _queued_uploads(case_ids: list[str]) -> Any:
        """(case id, document) of the files queued for these cases, in queue order."""
        return (
            select(PendingChange.case_id, Document)
            .join(Document, Document.id == PendingChange.document_id)
            .where(
                PendingChange.case_id.in_(case_ids),
                PendingChange.kind == ChangeKind.UPLOAD_DOCUMENT,
                PendingChange.state == ChangeState.QUEUED,
                Document.removed_at.is_(None),  # removed here: never sent
            )
            .order_by(PendingChange.id)
        )

    def _prepare_create(
        self, s: Session, change: PendingChange, uploads: list[Document]
    ) -> PreparedCreate | None:
        """Read what a create sends and mark it in flight, in the caller's transaction (the
        request leaves only after it commits); None when there is nothing to send."""
        case = s.get(Case, change.case_id)
        assert case is not None
        if case.server_id is not None:  # already created (adopted by a pull)
            s.delete(change)
            return None
        fields = fields_of(case)
        was_in_flight, previous = change.in_flight, change.payload
        attachments: list[tuple[str, Attachment]] = []
        for doc in uploads:
            path = self.ws.stored_bytes_for(doc.sha256)
            if path is not None:
                attachments.append(
                    (doc.id, Attachment(path=path, name=doc.name, mime=doc.mime_type,
                                        category=doc.category))
                )
        if was_in_flight and previous:  # look for it on the server first
            return PreparedCreate(case.id, fields, attachments, None, previous)
        marked = self._create_payload(fields, attachments)
        self.mark_in_flight_within(s, change, marked)
        return PreparedCreate(case.id, fields, attachments, marked, None)

    def _push_create(self, change_id: int) -> None:
        prepared = self._prepared.pop(change_id, None)
        if prepared is None:
            # What is read to send and the in-flight mark commit together, before the request.
            with self.ws.transaction() as s:
                change = s.get(PendingChange, change_id)
                if change is None:
                    return
                docs = [doc for _, doc in s.execute(self._queued_uploads([change.case_id]))]
                prepared = self._prepare_create(s, change, docs)
            if prepared is None:
                return
        case_id, fields, attachments = prepared.case_id, prepared.fields, prepared.attachments
        marked, previous = prepared.marked, prepared.previous

        if previous is not None:
            remote = self._find_earlier_create(previous)
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
        return self._unowned_match(self.call(self.client.list_cases), payload)

    def _find_earlier_create(self, payload: dict[str, Any]) -> RemoteCase | None:
        """:meth:`_find_created` for a create an earlier run sent (its process killed, its
        answer lost): the server's list is read once per run for all of them, not once each
        (after a kill -9 with a batch marked in flight, hundreds of reads of the whole list),
        and looked up by content.

        Every such create left before this run began, so a list read at any point of the run
        holds it if the server stored it. A retry within this run, whose create may have
        been stored a moment ago, reads the list afresh (``_send_create``'s reconcile). A
        create of this run alike in content shares the earlier one's lane: it was sent and
        answered before this look, or is sent after it.
        """
        with self._earlier_listing_lock:
            if self._earlier_listing is None or self._earlier_listing[0] != self.run_started:
                by_content: ByContent = {}
                for remote in self.call(self.client.list_cases):
                    by_content.setdefault(sent_content(remote), []).append(remote)
                self._earlier_listing = (self.run_started, by_content)
            by_content = self._earlier_listing[1]
        return self._unowned_match(by_content.get(sent_content(payload.get("fields") or {}),
                                                  []), payload)

    def _unowned_match(
        self, remote_cases: list[RemoteCase], payload: dict[str, Any]
    ) -> RemoteCase | None:
        matches = [r for r in remote_cases if matches_sent(r, payload)]
        if not matches:
            return None
        with self.ws.sessions() as s:
            owned = set(s.scalars(select(Case.server_id).where(
                Case.server_id.in_([r.server_id for r in matches]))))
        unowned = [r for r in matches if r.server_id not in owned]
        if not unowned:
            return None
        return max(unowned, key=lambda r: r.created_at or "")

    def _adopt_created(
        self,
        change_id: int,
        case_id: str,
        payload: dict[str, Any],
        remote: RemoteCase,
        files: list[RemoteFile] | None,
    ) -> None:
        sent_docs: list[str] = list(payload.get("documents", []))
        # The create's own answer lists every file the new case has: its file check is done.
        checked = files is not None
        if files is None:
            # Adopted after an unknown outcome: find out which files arrived with it.
            files = list(self.call(lambda: self.client.list_files(
                remote.server_id, numeric_id=remote.numeric_id)))
            self.report.adopted += 1
        else:
            self.report.created += 1
        # Not flushed by itself: the change stays marked in flight (with what it sent) until
        # this commits, so if a power cut takes this record back, the next sync finds the
        # case on the server (one read of its list for all such) and records it then. The
        # push's following commits flush it. One fsync less per create.
        with self.ws.transaction(flushed=False) as s:
            if checked and not files and not sent_docs and link_plain_create(
                    s, change_id, case_id, payload, remote):
                log.info("case %s created on the server", case_id)
                return
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
            if files or sent_docs:
                match_files(s, case, files, candidates=sent_docs)
            if checked:
                case.detail_stale, case.files_checked_at = False, utcnow()
            # The files that went inside the create are on the server now: uploaded.
            travelled = s.scalar(select(func.count()).select_from(Document).where(
                Document.id.in_(sent_docs), Document.server_file_id.is_not(None))) if sent_docs else 0
            settle_sync_state(s, case)
        self.report.uploaded += int(travelled or 0)
        log.info("case %s created on the server", case_id)

    # ------------------------------------------------------------ update

    def _push_update(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            target = s.execute(select(Case.server_id, Case.numeric_id, Case.id).join(
                PendingChange, PendingChange.case_id == Case.id).where(
                PendingChange.id == change_id)).one_or_none()
        if target is None:
            return
        server_id, numeric_id, case_id = target
        if server_id is None:
            return  # its create has not gone yet; it carries current values anyway

        def read_then_write() -> Written | None:
            # The API has no version or If-Match. The server's copy is read right before the
            # write and merged, so a change made there since the last pull becomes a
            # conflict, not a loss. This whole step is what a retry repeats: a re-send after
            # a failure reads again first, however long the backoff was.
            read = self.client.case_detail(server_id, numeric_id=numeric_id).case
            # The merge of what was read, the values it leaves to send and the in-flight mark
            # commit together, before the write leaves: one commit, not three.
            with self.ws.transaction() as s:
                # Nothing new on the server (the usual case): a few plain statements.
                plain = None if read is None else mark_plain_update(
                    s.connection(), change_id, case_id, read)
                values = plain if plain is not None else self._mark_merged(
                    s, change_id, case_id, read)
            if not values:
                return None
            echo = self.client.update_case(server_id, values, numeric_id=numeric_id)
            return Written(values, read, echo)

        written = self.call(read_then_write)
        if written is not None:
            self._record_update(change_id, case_id, written)

    def _mark_merged(self, s: Session, change_id: int, case_id: str,
                     read: RemoteCase | None) -> dict[str, Any]:
        """The full way before a write: what was read is merged as a pull would, then what
        is left to send is marked in flight. ``{}``: nothing to send now."""
        if read is not None:
            merge_cases(self, s, [read])  # counted: a change from the server
        values = self._update_values(s, change_id, case_id)
        change = s.get(PendingChange, change_id) if values else None
        if change is None:
            return {}
        self.mark_in_flight_within(s, change, {"values": values})
        return values

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
        # Not flushed by itself: the change stays marked in flight until this commits, and
        # if a power cut takes this record back, the next sync's read before its write shows
        # the values applied: the merge settles them and nothing is sent again (or a value
        # someone wrote since is a conflict). The push's following commits flush it.
        with self.ws.transaction(flushed=False) as s:
            # Every value applied, nothing else written (the usual answer): a few plain
            # statements. Else, or with the case gone here, the full way.
            plain = not (ignored or replaced or meanwhile) and record_plain_update(
                s.connection(), change_id, case_id, values, echo, echo.raw)
            recorded = plain or self._record_full(s, change_id, case_id, written, applied,
                                                  ignored, replaced, meanwhile)
        if recorded and applied:
            self.report.updated += 1

    def _record_full(self, s: Session, change_id: int, case_id: str, written: Written,
                     applied: list[str], ignored: list[str], replaced: list[str],
                     meanwhile: list[str]) -> bool:
        """:meth:`_record_update` through the ORM: conflicts, values the server ignored or
        replaced, fields written meanwhile. False: the case is gone here."""
        values, read, echo = written.values, written.read, written.echo

        def shown(name: str) -> bool:
            return name in echo.raw

        case = s.get(Case, case_id)
        change = s.get(PendingChange, change_id)
        if case is None:
            return False
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
        return True

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

    def _prepare_upload(self, s: Session, change_id: int) -> PreparedUpload | None:
        """Read what an upload sends and mark it in flight, in the caller's transaction (the
        request leaves only after it commits); None when there is nothing to send now."""
        rows = self.upload_rows(s, change_id)
        if rows is None:
            return None
        change, doc, case = rows
        if case.server_id is None:
            return None  # goes inside the case's create
        path = self.ws.stored_bytes_for(doc.sha256)
        marked = path is not None and not change.in_flight  # else: look on the server first
        if marked:
            self.mark_in_flight_within(s, change, {"name": doc.name, "size": doc.size})
        return PreparedUpload(case.server_id, case.numeric_id, doc.id, doc.name, doc.size,
                              doc.mime_type, path, change.in_flight and not marked, marked)

    def _prepare_uploads(self, change_ids: list[int]) -> LaneKeys:
        keys = self.case_lanes(change_ids)
        with self.ws.transaction() as s:
            for change_id in change_ids:
                prepared = self._prepare_upload(s, change_id)
                if prepared is not None:
                    self._prepared_uploads[change_id] = prepared
        return keys

    def _push_upload(self, change_id: int) -> None:
        prepared = self._prepared_uploads.pop(change_id, None)
        if prepared is None:
            # What is read to send and the in-flight mark commit together, before the request.
            with self.ws.transaction() as s:
                prepared = self._prepare_upload(s, change_id)
            if prepared is None:
                return
        server_id, numeric_id, path = prepared.server_id, prepared.numeric_id, prepared.path
        name, size, mime, doc_id = prepared.name, prepared.size, prepared.mime, prepared.doc_id
        was_in_flight = prepared.unsure
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
