"""The one local API: open a cache, query cases, create and edit them, attach files.

The CLI and the GUI call only this (and the sync engine); neither touches tables directly.
Every method is one user action and one transaction, returning plain frozen records that are
safe to hand to another thread.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import Session

from desktop import datafolder, folder_key, intake, local_copy, patient_match
from desktop.blob_seal import BlobKeys
from desktop.errors import (
    CacheError,
    CacheProblem,
    CaseDeskError,
    DataFolderError,
    NotFoundError,
    ValidationError,
)
from desktop.models import audit, cache_health
from desktop.models.checkpoint import Checkpointer
from desktop.models.database import (
    UNFLUSHED,
    create_cache_engine,
    open_cache,
    read_only_because,
)
from desktop.models.tables import (
    EDITABLE_FIELDS,
    Case,
    ChangeKind,
    ChangeState,
    Conflict,
    Document,
    DocumentState,
    PendingChange,
    SyncState,
    utcnow,
)

log = logging.getLogger(__name__)

KNOWN_STATUSES = ("pending", "processing", "analyzing", "completed", "failed", "archived")
# The statuses the server's analysis moves a case through: running, then ended.
ANALYSIS_RUNNING = ("processing", "analyzing")
ANALYSIS_ENDED = ("completed", "failed")
ANALYSIS_STATES = (*ANALYSIS_RUNNING, *ANALYSIS_ENDED)
# The conflict "field" of a case deleted on one side and changed on the other.
DELETION = "case"
ARCHIVED = "archived"
KNOWN_GENDERS = ("female", "male", "other", "unknown")
CATEGORIES = ("lab", "radiology")
MAX_AGE = 150
MAX_NAME = 200
_SEARCH = table("cases_search", column("rowid"))
# Closing a workspace reclaims unused blobs at most this often (a sync does it too).
AUTO_COLLECT_INTERVAL_S = 24 * 3600.0
# The page cache of the connection that reads whole indexes and files (``_scanning``).
SCAN_CACHE_KIB = 2048
# A search's full list goes through that connection once the cache file is this large.
# Below it, the pages a full list walks fit in the shared budget beside the rest (100,000
# cases: an 85 MB file, its list order ~7 MB), and read warm there it is quicker (38 ms in
# the background, against 62 when decrypted afresh each time).
SCAN_FROM_BYTES = 256 << 20
COMMON_HITS = 1000  # more FTS hits than this: a first page walks the list order (case_ids)
# A first page of a common search (_first_page_in_rows): the newest cases whose share of
# hits is counted, and what testing a row costs against reading one hit from the index.
DENSITY_WINDOW = 8192
ROW_TEST_COST = 8
# A first page of a search for the start of a name walks at most this many entries of the
# list-order index (_first_page_by_name_start): ~2 ms.
NAMES_WALKED = 16384
# A full id list asks whether a newer read took its place every this many of SQLite's steps
# (well under a millisecond): a million ids, or a sort of a common word's 125,000 hits, take
# 0.3-0.9 s, and a search typed on meanwhile waited behind them.
OVERTAKEN_STEPS = 100_000
SORT_KEYS = {
    "name": Case.patient_name,
    "age": Case.patient_age,
    "gender": Case.patient_gender,
    "status": Case.status,
    "updated": Case.updated_at,
    "created": Case.created_at,
    "sync": Case.sync_state,
}


# ---------------------------------------------------------------- records handed to callers


@dataclass(frozen=True)
class CaseRecord:
    id: str
    server_id: str | None
    patient_name: str
    patient_age: int
    patient_gender: str
    case_summary: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    sync_state: str
    sync_error: str | None
    ai_insights: dict[str, Any] | None = None
    # When the server's list of this case's files was last read here (None: not yet).
    files_checked_at: datetime | None = None
    # Deleted here; the deletion waits for the server (it can be restored until then).
    removed_at: datetime | None = None
    # When an analysis was asked for here (None: none asked, or its end already shown).
    analysis_requested_at: datetime | None = None

    @property
    def analysis(self) -> str | None:
        """Where an analysis stands: "requested" (not yet started on the server), one of
        ANALYSIS_STATES as the server says, or None when none was asked for or is known."""
        if self.status in ANALYSIS_STATES:
            return self.status
        return "requested" if self.analysis_requested_at is not None else None

    @classmethod
    def of(cls, case: Case) -> CaseRecord:
        return cls(
            id=case.id,
            server_id=case.server_id,
            patient_name=case.patient_name,
            patient_age=case.patient_age,
            patient_gender=case.patient_gender,
            case_summary=case.case_summary,
            status=case.status,
            created_at=case.created_at,
            updated_at=case.updated_at,
            sync_state=case.sync_state,
            sync_error=case.sync_error,
            ai_insights=case.ai_insights,
            files_checked_at=case.files_checked_at,
            removed_at=case.removed_at,
            analysis_requested_at=case.analysis_requested_at,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        for name in ("files_checked_at", "removed_at", "analysis_requested_at"):
            when = getattr(self, name)
            data[name] = when.isoformat() if when else None
        data["analysis"] = self.analysis
        return data


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    case_id: str
    name: str
    mime_type: str
    size: int
    sha256: str | None
    category: str
    state: str
    error: str | None
    added_at: datetime
    uploaded_at: str | None
    server_file_id: str | None
    file_url: str | None
    removed_at: datetime | None = None
    moved_to_id: str | None = None  # moved to that document (its removal waits for it)
    dicom_patient_name: str | None = None
    dicom_patient_id: str | None = None
    # What of the DICOM header's patient is not the case's: "name", "id" (see documents()).
    patient_mismatch: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: Document, patient_mismatch: tuple[str, ...] = ()) -> DocumentRecord:
        return cls(
            id=doc.id,
            case_id=doc.case_id,
            name=doc.name,
            mime_type=doc.mime_type,
            size=doc.size,
            sha256=doc.sha256,
            category=doc.category,
            state=doc.state,
            error=doc.error,
            added_at=doc.added_at,
            uploaded_at=doc.uploaded_at,
            server_file_id=doc.server_file_id,
            file_url=doc.file_url,
            removed_at=doc.removed_at,
            moved_to_id=doc.moved_to_id,
            dicom_patient_name=doc.dicom_patient_name,
            dicom_patient_id=doc.dicom_patient_id,
            patient_mismatch=patient_mismatch,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["added_at"] = self.added_at.isoformat()
        data["removed_at"] = self.removed_at.isoformat() if self.removed_at else None
        data["patient_mismatch"] = list(self.patient_mismatch)
        return data


@dataclass(frozen=True)
class PendingRecord:
    id: int
    kind: str
    case_id: str
    patient_name: str
    document_id: str | None
    document_name: str | None
    fields: tuple[str, ...]
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fields"] = list(self.fields)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class AttachResult:
    """One file's verdict: attached, duplicate (already on this case) or refused (why)."""

    path: Path
    outcome: str
    reason: str | None = None
    document: DocumentRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "outcome": self.outcome,
            "reason": self.reason,
            "document": self.document.to_json() if self.document else None,
        }


# A search uses at most this many distinct words, each up to this long: what a person types
# or pastes never makes a query SQLite refuses ("Expression tree is too large").
MAX_SEARCH_WORDS = 16
MAX_SEARCH_WORD = 100
# Control and invisible format characters (a pasted NUL, tabs, zero-width spaces) separate
# words, as a space would.
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060\ufeff]")


def search_words(text: str | None) -> tuple[list[str], int, int]:
    """(words searched, distinct words left out, words shortened) of a search text."""
    seen: set[str] = set()
    words: list[str] = []
    for word in _NOT_TEXT.sub(" ", text or "").split():
        key = word.casefold()
        if key not in seen:
            seen.add(key)
            words.append(word)
    shortened = sum(len(w) > MAX_SEARCH_WORD for w in words[:MAX_SEARCH_WORDS])
    kept = [w[:MAX_SEARCH_WORD] for w in words[:MAX_SEARCH_WORDS]]
    return kept, max(0, len(words) - MAX_SEARCH_WORDS), shortened


# The only characters outside ASCII that the trigram index folds into ASCII letters (found by
# matching every code point against every ASCII letter; tests/test_workspace.py checks it).
_FOLDED_INTO_ASCII = {"\u212a": "k", "\u017f": "s"}  # KELVIN SIGN, LATIN SMALL LETTER LONG S


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _anywhere(cases: Any, word: str, as_indexed: bool = False) -> Any:
    """*word* anywhere in the name or the notes of *cases* (the table, or a subquery's
    columns), ignoring ASCII case; *as_indexed*: compared as the trigram index compares it."""
    pattern = "%" + _like_escaped(word) + "%"
    name, notes = cases.patient_name, cases.case_summary
    if as_indexed:
        name, notes = _as_indexed(name, word), _as_indexed(notes, word)
    return or_(name.like(pattern, escape="\\"), notes.like(pattern, escape="\\"))


def _as_indexed(text: Any, word: str) -> Any:
    """*text* as the trigram index compares it with the ASCII *word*: LIKE ignores ASCII case
    as the index does; the two other characters the index reads as ASCII letters are
    replaced by them where the word has those letters."""
    for char, letter in _FOLDED_INTO_ASCII.items():
        if letter in word.lower():
            text = func.replace(text, char, letter)
    return text


class Overtaken(Exception):  # noqa: N818 - not an error: a read no longer wanted
    """A read given up because a newer one took its place (``case_ids``' *overtaken*)."""


@dataclass(frozen=True)
class CaseQuery:
    """What the case list shows: filtering and sorting happen in SQL."""

    search: str | None = None
    status: str | None = None
    include_archived: bool = False
    sort: str = "updated"
    descending: bool = True

    @cached_property
    def _words(self) -> tuple[list[str], int, int]:
        return search_words(self.search)

    @property
    def words(self) -> list[str]:
        """The words searched: control characters read as spaces, each distinct word once,
        at most MAX_SEARCH_WORDS of them, each at most MAX_SEARCH_WORD long."""
        return self._words[0]

    @property
    def words_left_out(self) -> int:
        """Distinct words beyond MAX_SEARCH_WORDS, not searched (the person is told)."""
        return self._words[1]

    @property
    def words_shortened(self) -> int:
        return self._words[2]

    @property
    def match(self) -> str | None:
        """The FTS5 query for the words long enough for the trigram index, if any."""
        indexed = [w for w in self.words if len(w) >= 3]
        if not indexed:
            return None
        # Trigram FTS5: every word must occur (as a substring) in the name or the notes.
        return " AND ".join('"' + w.replace('"', '""') + '"' for w in indexed)

    def apply(self, stmt: Select[Any], walk_list_order: bool = False) -> Select[Any]:
        """``walk_list_order``: read matches in list order instead of by rowid (see case_ids)."""
        words = self.words
        match = self.match
        if match is not None:
            hits = (
                select(_SEARCH.c.rowid)
                .select_from(_SEARCH)
                .where(text("cases_search MATCH :match").bindparams(match=match))
            )
            # A unary + keeps SQLite from looking rows up by rowid, so it walks the list-order
            # index instead and stops at the LIMIT.
            rowid = "+cases.rowid" if walk_list_order else "cases.rowid"
            stmt = stmt.where(literal_column(rowid).in_(hits))
        # Words too short for trigrams: beside a longer word, which the index has already
        # narrowed, they are found anywhere in the name or the notes as the longer one is
        # ("pt on abx", a phrase from the notes). Alone, they match the start of the name (the
        # first one through the NOCASE name index), or the start of a later word in it.
        if match is not None:
            for word in (w for w in words if len(w) < 3):
                stmt = stmt.where(_anywhere(Case, word))
            return self.listed(stmt)
        return self.listed(self.name_starts(stmt, Case.patient_name))

    @property
    def short_words_only(self) -> bool:
        """Whether there are words and all are too short for the trigram index."""
        return bool(self.words) and self.match is None

    def name_starts(self, stmt: Select[Any], name: Any) -> Select[Any]:
        """Short words alone: the first one starts the name, each later one the name or a
        later word in it (*name*: the table's column, or a subquery's)."""
        for position, word in enumerate(self.words):
            escaped = _like_escaped(word)
            starts = name.like(escaped + "%", escape="\\")
            if position == 0:
                stmt = stmt.where(starts)
            else:
                stmt = stmt.where(or_(starts, name.like("% " + escaped + "%", escape="\\")))
        return stmt

    def listed(self, stmt: Select[Any]) -> Select[Any]:
        """The status filter and what is deleted here (waiting for the server) left out:
        the conditions beside the words."""
        if self.status:
            stmt = stmt.where(Case.status == self.status)
        elif not self.include_archived:
            stmt = stmt.where(Case.status != "archived")
        return stmt.where(Case.removed_at.is_(None))

    @property
    def plain_words(self) -> bool:
        """Whether every word is ASCII: then a case-blind LIKE on a row finds what the
        trigram index finds for it (see :func:`_as_indexed`)."""
        return all(w.isascii() for w in self.words)

    def in_rows(self, stmt: Select[Any], cases: Any) -> Select[Any]:
        """The words (ASCII, each at least 3 letters) tested on each row's own name and
        notes, as the index would match them, instead of looked up in the index."""
        for word in self.words:
            stmt = stmt.where(_anywhere(cases, word, as_indexed=True))
        return stmt

    def order(self, stmt: Select[Any]) -> Select[Any]:
        if self.sort not in SORT_KEYS:
            raise ValidationError(
                f"Cannot sort by {self.sort!r}: choose one of {', '.join(SORT_KEYS)}."
            )
        column: Any = SORT_KEYS[self.sort]
        if any(len(w) < 3 for w in self.words):
            # A short word is a full scan anyway; reading rows in index order and fetching each
            # one by lookup would be slower (240 ms vs 100 ms at 100k), so let SQLite sort.
            column = func.coalesce(column, column)
        key = column.desc() if self.descending else column.asc()
        tie = Case.id.desc() if self.descending else Case.id.asc()
        return stmt.order_by(key, tie)


_RECORD_COLUMNS = [Case.__table__.c[f.name] for f in fields(CaseRecord)]
_RECORDS_BY_ID = (
    f"SELECT {', '.join(c.name for c in _RECORD_COLUMNS)} FROM cases "
    "WHERE id IN (SELECT value FROM json_each(?))"
)


@lru_cache(maxsize=4)
def _record_processors(dialect: Any) -> list[Callable[[Any], Any] | None]:
    """How SQLAlchemy turns each stored value of a CaseRecord column into Python (dates,
    JSON), taken from the column types once."""
    return [column.type._cached_result_processor(dialect, None)  # noqa: SLF001
            for column in _RECORD_COLUMNS]


@dataclass
class AttachProgress:
    done: int = 0
    total: int = 0
    results: list[AttachResult] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentRemoval:
    """A document taken off its case: gone at once (it never left this computer), or hidden
    until the server has removed it too (it can be restored until then)."""

    document: DocumentRecord
    patient_name: str
    waits_for_server: bool

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document.to_json(), "patient_name": self.patient_name,
                "waits_for_server": self.waits_for_server}


@dataclass(frozen=True)
class DocumentMove:
    """A document moved to another case: ``document`` is the one on the target case, and
    ``source`` the one that leaves (on the server, only once the copy is there)."""

    document: DocumentRecord
    source: DocumentRecord
    from_patient: str
    to_patient: str
    waits_for_server: bool

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document.to_json(), "source": self.source.to_json(),
                "from_patient": self.from_patient, "to_patient": self.to_patient,
                "waits_for_server": self.waits_for_server}


@dataclass(frozen=True)
class CaseDeletion:
    """A case deleted here with its ``documents``: gone at once (never on the server), or
    hidden until the server has deleted it (restorable until then)."""

    case: CaseRecord
    documents: int
    waits_for_server: bool

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case.to_json(), "documents": self.documents,
                "waits_for_server": self.waits_for_server}


class ContentNotHereError(CaseDeskError):
    """The document's bytes are only on the server; they must be downloaded first."""

    def __init__(self, message: str, document_id: str) -> None:
        super().__init__(message)
        self.document_id = document_id


def _mismatch(doc: Document, case_name: str, first_id: str | None) -> tuple[str, ...]:
    """What of the patient a DICOM header names is not the case's: its name, or an id other
    than the one the case's first DICOM file gave."""
    found = []
    if doc.dicom_patient_name and not patient_match.dicom_name_matches(
            doc.dicom_patient_name, case_name):
        found.append("name")
    if doc.dicom_patient_id and first_id and doc.dicom_patient_id.strip() != first_id.strip():
        found.append("id")
    return tuple(found)


def may_be_on_server(session: Session, doc: Document) -> bool:
    """Whether the server may hold this document: it was uploaded or listed there, or an
    upload of it (alone or inside its case's create) may have arrived."""
    if doc.server_file_id is not None or doc.state in (
            DocumentState.UPLOADING, DocumentState.UPLOADED, DocumentState.REMOTE_ONLY,
            DocumentState.DOWNLOADED):
        return True
    if session.scalar(select(func.count()).select_from(PendingChange).where(
            PendingChange.document_id == doc.id, PendingChange.in_flight.is_(True))):
        return True
    creates = session.scalars(select(PendingChange.payload).where(
        PendingChange.case_id == doc.case_id, PendingChange.kind == ChangeKind.CREATE_CASE,
        PendingChange.in_flight.is_(True)))
    return any(doc.id in (payload or {}).get("documents", []) for payload in creates)


def _not_yet_sent(change: PendingChange | None, what: str) -> None:
    """An undo is possible only while the request has not left: once it may have reached
    the server, the next sync says whether it did."""
    if change is not None and change.in_flight:
        raise ValidationError(
            f"The {what} is on its way to the server (or its answer was lost) and can no "
            "longer be undone here; the next sync confirms it.")


# ---------------------------------------------------------------- validation


def validate_name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationError("Patient name is required.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"Patient name is too long ({len(name)} characters; at most {MAX_NAME}).")
    return name


def validate_age(value: Any) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(f"Age is required: a whole number of years, 0–{MAX_AGE}.")
    try:
        age = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise ValidationError(f"Age must be a whole number of years, not {value!r}.") from None
    if isinstance(value, bool) or not 0 <= age <= MAX_AGE:
        raise ValidationError(f"Age must be between 0 and {MAX_AGE} years; {value!r} is not.")
    return age


def validate_gender(value: Any) -> str:
    gender = str(value or "").strip()
    if not gender:
        raise ValidationError(f"Gender is required (for example: {', '.join(KNOWN_GENDERS)}).")
    if len(gender) > 40:
        raise ValidationError("Gender is too long (at most 40 characters).")
    return gender.lower() if gender.lower() in KNOWN_GENDERS else gender


def validate_status(value: Any) -> str:
    status = str(value or "").strip()
    if not status:
        raise ValidationError(f"Status cannot be empty (known: {', '.join(KNOWN_STATUSES)}).")
    if len(status) > 40:
        raise ValidationError("Status is too long (at most 40 characters).")
    return status


def validate_summary(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def validate_category(value: str) -> str:
    if value not in CATEGORIES:
        raise ValidationError(f"Category must be 'lab' or 'radiology', not {value!r}.")
    return value


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "patient_name": validate_name,
    "patient_age": validate_age,
    "case_summary": validate_summary,
    "status": validate_status,
}


# ---------------------------------------------------------------- outbox writes


def queue_update(session: Session, case: Case, fields: Iterable[str]) -> None:
    """Record dirty fields in the case's single pending update (coalescing repeated edits).

    A case not yet on the server needs no update row: its queued create sends current values.
    """
    session.flush()  # the case and any outbox rows this session changed, written first
    queue_update_rows(session, case.id, case.server_id, fields)
    for obj in list(session.identity_map.values()):  # read again, not overwritten, later
        if isinstance(obj, PendingChange) and obj.case_id == case.id:
            session.expire(obj)


_OUTBOX = PendingChange.__table__
_CASES = Case.__table__
# The SET clause comes from the parameters given: compiled once per set of columns.
_CASE_UPDATE = update(_CASES).where(_CASES.c.id == bindparam("_id"))
_OUTBOX_UPDATE = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("_id"))


# What an edit reads of its case: the record it hands back, which holds all the rules look at
# (not the merge base, a JSON document of its own).
_EDITED = select(*_RECORD_COLUMNS)


def _record_of(values: dict[str, Any]) -> CaseRecord:
    return CaseRecord(**{f.name: values[f.name] for f in fields(CaseRecord)})


def queue_update_rows(session: Session, case_id: str, server_id: str | None,
                      fields: Iterable[str]) -> None:
    """``queue_update`` in SQL statements, for a session holding no outbox objects of the
    case (a local edit's own transaction): no unit of work on an edit's path."""
    now = utcnow()
    if server_id is None:
        create = session.execute(
            select(_OUTBOX.c.id, _OUTBOX.c.state, _OUTBOX.c.seq).where(
                _OUTBOX.c.case_id == case_id, _OUTBOX.c.kind == ChangeKind.CREATE_CASE)
        ).first()
        if create is not None:
            values: dict[str, Any] = {"seq": create.seq + 1, "updated_at": now}
            if create.state == ChangeState.PARKED:
                # The user edited the refused case: that is the fix, so try again.
                values.update(state=ChangeState.QUEUED, attempts=0, next_attempt_at=None)
            session.connection().execute(_OUTBOX_UPDATE, {"_id": create.id, **values})
            return
    change = session.execute(
        select(_OUTBOX.c.id, _OUTBOX.c.state, _OUTBOX.c.seq, _OUTBOX.c.fields).where(
            _OUTBOX.c.case_id == case_id, _OUTBOX.c.kind == ChangeKind.UPDATE_CASE)
    ).first()
    if change is None:
        session.execute(_OUTBOX.insert().values(
            kind=ChangeKind.UPDATE_CASE, case_id=case_id, fields=sorted(set(fields))))
        return
    values = {"fields": sorted(set(change.fields or ()) | set(fields)),
              "seq": change.seq + 1, "updated_at": now}
    if change.state == ChangeState.PARKED:
        values.update(state=ChangeState.QUEUED, attempts=0, next_attempt_at=None)
    session.connection().execute(_OUTBOX_UPDATE, {"_id": change.id, **values})


def queue_create(session: Session, case: Case) -> None:
    session.add(PendingChange(kind=ChangeKind.CREATE_CASE, case_id=case.id))


def queue_upload(session: Session, document: Document) -> None:
    session.add(
        PendingChange(
            kind=ChangeKind.UPLOAD_DOCUMENT, case_id=document.case_id, document_id=document.id
        )
    )


# A case's sync state from its outbox rows and open conflicts: a conflict, else an error (a
# parked change), else pending (queued work), else synced; the reason shown stays only with a
# conflict or an error. A case the server lost stays so until the engine decides otherwise.
_SETTLE = (
    "UPDATE cases SET sync_state = CASE"
    " WHEN EXISTS (SELECT 1 FROM conflicts WHERE case_id = ?1 AND resolved_at IS NULL) THEN ?2"
    " WHEN EXISTS (SELECT 1 FROM pending_changes WHERE case_id = ?1 AND state = ?6) THEN ?3"
    " WHEN EXISTS (SELECT 1 FROM pending_changes WHERE case_id = ?1) THEN ?4 ELSE ?5 END,"
    " sync_error = CASE"
    " WHEN EXISTS (SELECT 1 FROM conflicts WHERE case_id = ?1 AND resolved_at IS NULL)"
    "  OR EXISTS (SELECT 1 FROM pending_changes WHERE case_id = ?1 AND state = ?6)"
    " THEN sync_error ELSE NULL END"
    " WHERE id = ?1 AND sync_state != ?7")
_SETTLE_STATES = (SyncState.CONFLICT.value, SyncState.ERROR.value, SyncState.PENDING.value,
                  SyncState.SYNCED.value, ChangeState.PARKED.value,
                  SyncState.REMOVED_REMOTELY.value)


def settle_sync_state(session: Session, case: Case) -> None:
    """Derive a case's sync state from its outbox rows and open conflicts (one statement,
    the same as :func:`settle_sync_state_of` runs for the sync's plain writes)."""
    session.flush()
    settle_sync_state_of(session.connection(), case.id)
    session.expire(case, ["sync_state", "sync_error"])


def settle_sync_state_of(conn: Connection, case_id: str) -> None:
    """:func:`settle_sync_state` for a case known by its id, on a transaction's connection."""
    conn.exec_driver_sql(_SETTLE, (case_id, *_SETTLE_STATES))


@dataclass(frozen=True)
class ConflictRecord:
    id: int
    case_id: str
    patient_name: str
    field: str
    base_value: Any
    local_value: Any
    server_value: Any
    created_at: datetime
    server_changed_at: str | None = None  # when the server wrote its value (as it said)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class SettledConflict:
    """A resolved conflict, kept so that the value not chosen stays readable with the case."""

    field: str
    local_value: Any
    server_value: Any
    resolution: str  # "mine", "theirs" or "merged"
    resolved_value: Any
    resolved_at: datetime
    server_changed_at: str | None

    @property
    def not_kept(self) -> list[tuple[str, Any]]:
        """The versions that are no longer the field's value: (whose, value)."""
        if self.resolution == "mine":
            return [("server", self.server_value)]
        if self.resolution == "theirs":
            return [("mine", self.local_value)]
        return [("mine", self.local_value), ("server", self.server_value)]


# Fields a conflict can be settled on by writing a merged value (free text, not numbers).
MERGEABLE_FIELDS = ("patient_name", "case_summary", "status")


# ---------------------------------------------------------------- the workspace


KIND_WORDS = {"create_case": "New case", "update_case": "Edited case",
              "upload_document": "Document to send"}

# An audit entry as read back, for the window (which never imports the models).
AuditRecord = audit.Entry


# Threads of one process wait this long for each other's write transaction (SQLite's
# busy_timeout, models/database.py, is the same).
BUSY_TIMEOUT_S = 10.0


class Workspace:
    """A profile's local data: the SQLite cache plus the blob store, both encrypted with the
    folder's key (``folder_key``)."""

    def __init__(self, folder: datafolder.DataFolder, max_file_bytes: int | None = None,
                 passphrase: str | None = None, *, encrypted: bool = True,
                 known_key: bytes | None = None) -> None:
        """*passphrase*: the folder's, where no keychain holds its key (else
        $CASEDESK_PASSPHRASE); a :class:`folder_key.FolderKeyError` says when it is needed.
        *known_key*: the data key, read from the keychain already (``key_prefetch``), used
        only if it matches the folder's key record.
        ``encrypted=False`` is the benchmarks' unencrypted baseline only."""
        self.folder = folder
        # Threads of this process take turns at the write lock here, woken at once, rather
        # than in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... ms between looks.
        self._writing = threading.RLock()
        for note in folder.notes:
            log.warning("data folder: %s", note)
        if local_copy.removal_pending(folder.root):  # a removal killed half-way: finish it
            local_copy.remove(folder)
        # Shared with every other open workspace; a repair needs the folder to itself.
        self._hold = folder.hold()
        self.checkpointer: Checkpointer | None = None
        self.keys: folder_key.FolderKeys | None = None
        self._scans: Engine | None = None  # made on the first whole read (_scanning)
        self._scans_made = threading.Lock()
        self._plain_blobs = self._exclusive = False
        blob_keys = None
        try:
            if encrypted:
                self.keys = self._open_keys(passphrase, known_key)
                blob_keys = BlobKeys(self.keys.blobs, self.keys.names)
                self._convert_if_needed()
            self.engine, self.sessions = open_cache(
                folder.cache, folder.signs_of_use,
                key=self.keys.cache if self.keys is not None else None)
        except BaseException:
            self._release()
            raise
        self.blobs = intake.BlobStore(folder.blobs, blob_keys)
        self.max_file_bytes = max_file_bytes or intake.DEFAULT_MAX_BYTES
        # Why changes cannot be saved (a read-only folder or file, a full disk), or None.
        self.read_only = read_only_because(self.engine)
        if self.read_only is None:
            try:
                if self.keys is not None and self._plain_blobs:
                    self._seal_plain_blobs()
                self._share_again()
                folder.write_record()
                swept, _ = self.blobs.sweep_temp_files()  # what a killed intake left behind
                if swept:
                    log.info("removed %d temp file(s) of interrupted intakes", swept)
                self.checkpointer = Checkpointer(self.engine)
            except BaseException:
                self.engine.dispose()
                self._release()
                raise

    @classmethod
    def open(
        cls,
        data_dir: str | Path | None = None,
        profile: str | None = None,
        max_file_bytes: int | None = None,
        passphrase: str | None = None,
        known_key: bytes | None = None,
    ) -> Workspace:
        root = datafolder.resolve(data_dir, profile)
        return cls(datafolder.prepare(root), max_file_bytes=max_file_bytes,
                   passphrase=passphrase, known_key=known_key)

    # ------------------------------------------------------------ the folder's key

    def _open_keys(self, passphrase: str | None,
                   known: bytes | None = None) -> folder_key.FolderKeys:
        """From the keychain or the passphrase; made anew only for a folder with nothing
        encrypted in it yet (a first start, or an earlier release's unencrypted data)."""
        root = self.folder.root
        record = folder_key.load_record(root)
        self._plain_blobs = record is not None and not record.blobs_sealed
        if record is not None:
            return folder_key.open_keys(root, passphrase, known=known)
        sealed_data = (cache_health.file_state(self.folder.cache)
                       is cache_health.FileState.NOT_A_DATABASE) or intake.sealed_blob_stored(
                           self.folder.blobs)
        self._plain_blobs = intake.any_blob_stored(self.folder.blobs)
        return folder_key.open_keys(root, passphrase, may_create=not sealed_data,
                                    plain_blobs=self._plain_blobs)

    def _convert_if_needed(self) -> None:
        """An earlier release's unencrypted cache or documents are converted with the folder
        to itself: another program writing to them meanwhile could lose its work."""
        plain_cache = cache_health.file_state(self.folder.cache) is cache_health.FileState.DATABASE
        if not (plain_cache or self._plain_blobs):
            return
        if not self._hold_alone():
            raise DataFolderError(
                f"The data folder {self.folder.root} must be encrypted, and another Case Desk "
                "program has it open. Close every Case Desk window and command, then start "
                "again.")

    def _hold_alone(self) -> bool:
        """Turn this workspace's shared hold on the folder into an exclusive one (kept until
        it closes; the conversion runs while no one else has the folder open)."""
        if self._hold is None:
            return True
        try:
            import fcntl
        except ImportError:  # Windows: no such locks
            return True
        try:
            fcntl.flock(self._hold, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self._exclusive = True
        return True

    def _share_again(self) -> None:
        if self._exclusive and self._hold is not None:
            import fcntl

            fcntl.flock(self._hold, fcntl.LOCK_SH)
            self._exclusive = False

    def _seal_plain_blobs(self) -> None:
        sealed, mismatched = intake.seal_plain_blobs(self.blobs)
        folder_key.mark_blobs_sealed(self.folder.root)
        self._plain_blobs = False
        log.info("stored documents encrypted: %d (%d did not match their name)", sealed,
                 mismatched)

    # ------------------------------------------------------------ unlocking the window

    def unlock_secret_set(self) -> bool:
        """Whether a PIN or passphrase unlocks the window (always, without a keychain: the
        folder's passphrase)."""
        record = folder_key.load_record(self.folder.root)
        return record is not None and record.has_unlock_secret

    def set_unlock_secret(self, secret: str) -> None:
        if self.keys is None:
            raise ValidationError("This data folder is not encrypted; nothing to unlock.")
        folder_key.set_unlock_secret(self.folder.root, self.keys, secret)

    def check_unlock(self, secret: str) -> None:
        """Accept the PIN or passphrase, or raise ``folder_key.UnlockRefused``."""
        folder_key.check_unlock_secret(self.folder.root, secret)

    # ------------------------------------------------------------ the audit trail

    @property
    def audit_key(self) -> bytes:
        # The benchmarks' unencrypted baseline chains with a fixed key (nothing to protect).
        return self.keys.audit if self.keys is not None else b"casedesk unencrypted"

    def record(self, session: Session, action: str, case_id: str | None = None,
               document_id: str | None = None, **detail: Any) -> None:
        """Add an audit entry inside the action's own transaction (``transaction()``): one
        line per action, e.g. ``self.record(session, audit.Action.MOVE, case_id, doc_id,
        to=other_case)``."""
        audit.append(session, self.audit_key, action, case_id, document_id, **detail)

    def record_event(self, action: str, case_id: str | None = None,
                     document_id: str | None = None, **detail: Any) -> None:
        """An entry for an action that changes nothing in the cache (a view, an export, a
        sign-out), in a transaction of its own."""
        with self.transaction() as session:
            self.record(session, action, case_id, document_id, **detail)

    def record_view(self, case_id: str, document_id: str | None = None) -> None:
        """A person looked at a case (or one of its documents). Where the cache cannot be
        written (a full disk, a read-only folder), reading still works and the view goes
        unrecorded, with a line in the log: a person is never kept from a record."""
        if self.read_only is not None:
            log.warning("a view was not put on the audit trail: the cache is read-only (%s)",
                        self.read_only)
            return
        try:
            self.record_event(audit.Action.VIEW, case_id, document_id)
        except CacheError as exc:
            if exc.problem not in (CacheProblem.DISK_FULL, CacheProblem.READ_ONLY):
                raise
            log.warning("a view was not put on the audit trail: %s", exc.problem)

    def audit_entries(self, case_id: str | None = None, since: datetime | None = None
                      ) -> list[audit.Entry]:
        with self.sessions() as session:
            return audit.entries(session, case_id, since)

    def verify_audit(self) -> list[str]:
        """What is wrong with the audit trail, in words; empty when it is whole."""
        with self.sessions() as session:
            return audit.verify(session, self.audit_key)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
            try:
                self.collect_garbage(min_interval_s=AUTO_COLLECT_INTERVAL_S)
            except Exception as exc:  # noqa: BLE001 - housekeeping never fails a close
                log.info("blob collection skipped: %s", type(exc).__name__)
        self.engine.dispose()
        if self._scans is not None:
            self._scans.dispose()
        self._release()

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def check_pages(self) -> CacheError | None:
        """SQLite's quick check of the whole file, where opening checked only the outbox's
        tables: the window runs it in the background once it is up (about 140 ms at
        100,000 cases). The damage found, or None."""
        with self._scanning() as raw:
            # Every page is read once (at a million encrypted cases ~850 MB decrypted), so
            # through the scanning connection's small cache, given back afterwards.
            try:
                problems = cache_health.quick_check(raw, None)
            finally:
                raw.execute("PRAGMA shrink_memory")
        return cache_health.damaged(self.folder.cache, problems) if problems else None

    def _large(self) -> bool:
        """Whether the cache file is past SCAN_FROM_BYTES."""
        try:
            return self.folder.cache.stat().st_size > SCAN_FROM_BYTES
        except OSError:
            return False

    @contextmanager
    def _scanning(self) -> Iterator[Any]:
        """A driver connection of its own, with a small page cache, for reads that walk a
        whole index or file: a search's full id list, the whole-file check.

        Each connection keeps its decrypted pages in a cache of its own, and the next search
        or page of the list finds its pages warm in the shared connections. A full list of
        a million ids walks ~50 MB of index pages: read there, it pushed those pages out,
        and a one-letter search after it took 21 ms instead of 8. Here such a read recycles
        its own few pages as it goes."""
        with self._scans_made:
            if self._scans is None:
                self._scans = create_cache_engine(
                    self.folder.cache, read_only=self.read_only,
                    key=self.keys.cache if self.keys is not None else None,
                    cache_kib=SCAN_CACHE_KIB)
            scans = self._scans
        with self._driver(scans) as raw:
            yield raw

    def collect_garbage(self, min_interval_s: float = 0.0) -> intake.CollectResult | None:
        """Reclaim blobs no row names (a case deleted on the server, an intake killed
        between its copy and its row) and leftover temp files. None when skipped: an intake
        is under way, or the last collection was less than *min_interval_s* ago.

        Runs only on a cache that checks out: a damaged table could hide rows that still
        name a blob.
        """
        if self.read_only is not None:
            raise cache_health.refused_write(self.folder.cache, self.read_only)
        stamp = self.folder.blobs / ".collected"
        if min_interval_s and stamp.exists() and time.time() - stamp.stat().st_mtime < min_interval_s:
            return None

        def referenced() -> set[str]:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                problems = cache_health.quick_check(raw, ("documents",))
                if problems:
                    raise cache_health.damaged(self.folder.cache, problems)
                # The table itself, not an index that might lack an entry.
                return {row[0] for row in raw.execute(
                    "SELECT sha256 FROM documents NOT INDEXED WHERE sha256 IS NOT NULL")}

        result = self.blobs.collect(referenced)
        if result is not None:
            stamp.touch(mode=0o600)
        return result

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, flushed: bool = True) -> Iterator[Session]:
        """One user action: everything inside commits together or not at all.

        BEGIN IMMEDIATE takes the write lock before the first read, so what a transaction
        read cannot change under it (a pull merging a case while the person saves it).

        *flushed* False: the commit is not flushed to the disk by itself (SQLite's
        synchronous=NORMAL for this transaction), saving an fsync. A power cut may then take
        it back, with any like it since the last flushed commit, never part of one and never
        a flushed one: the write-ahead log keeps commits whole and in order, and the next
        flushed commit flushes every one before it. Only for what a later sync rebuilds on
        its own: a server's answer to a change that stays marked in flight until it is
        recorded, and is found again on the server if the record is lost.
        """
        # Never waited on for longer than SQLite's own busy timeout: past it, SQLite says.
        turn = self._writing.acquire(timeout=BUSY_TIMEOUT_S)
        try:
            with self.sessions.begin() as session:
                connection = session.connection()
                if not flushed:
                    # Set back before the connection is reused (database._flushing_again).
                    connection.info[UNFLUSHED] = True
                    connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield session
        finally:
            if turn:
                self._writing.release()

    # ------------------------------------------------------------ cases

    def create_case(
        self,
        patient_name: str,
        patient_age: int | str,
        patient_gender: str,
        case_summary: str | None = None,
        status: str = "pending",
    ) -> CaseRecord:
        case = Case(
            patient_name=validate_name(patient_name),
            patient_age=validate_age(patient_age),
            patient_gender=validate_gender(patient_gender),
            case_summary=validate_summary(case_summary),
            status=validate_status(status),
            sync_state=SyncState.PENDING,
        )
        with self.transaction() as session:
            session.add(case)
            session.flush()
            queue_create(session, case)
            self.record(session, audit.Action.CREATE, case.id, fields={
                name: getattr(case, name) for name in (
                    "patient_name", "patient_age", "patient_gender", "case_summary", "status")})
        log.info("case created locally id=%s", case.id)
        return CaseRecord.of(case)

    def edit_case(self, case_id: str, **changes: Any) -> CaseRecord:
        """Apply the changed fields; only values that really differ become dirty."""
        if "patient_gender" in changes or "gender" in changes:
            raise ValidationError(
                "Gender is set when a case is created and cannot be changed afterwards "
                "(the server refuses it)."
            )
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValidationError(f"Unknown case field(s): {', '.join(sorted(unknown))}.")
        clean = {name: VALIDATORS[name](value) for name, value in changes.items()}
        # In SQL statements, not the ORM's unit of work: an edit's budget is a few ms, and
        # the unit of work was most of its time (``bench.edits``).
        with self.transaction() as session:
            case = self._live_row(session, case_id)
            dirty = [name for name, value in clean.items() if case[name] != value]
            if not dirty:
                return _record_of(case)
            values: dict[str, Any] = {name: clean[name] for name in dirty}
            if "status" in dirty and clean["status"] == ARCHIVED != case["status"]:
                values["status_before_archive"] = case["status"]  # for Unarchive
            for name in dirty:
                self.record(session, audit.Action.EDIT, case["id"], field=name,
                            before=case[name], after=clean[name])
            values["updated_at"] = utcnow()
            if case["sync_state"] in (SyncState.SYNCED, SyncState.ERROR):
                values.update(sync_state=SyncState.PENDING, sync_error=None)
            session.connection().execute(_CASE_UPDATE, {"_id": case["id"], **values})
            queue_update_rows(session, case["id"], case["server_id"], dirty)
            case.update(values)
        log.info("case edited locally id=%s fields=%s", case["id"], ",".join(dirty))
        return _record_of(case)

    def archive_case(self, case_id: str) -> CaseRecord:
        return self.edit_case(case_id, status=ARCHIVED)

    def unarchive_case(self, case_id: str) -> CaseRecord:
        """Back to the status the case had when it was archived (an edit like any other).

        A case archived elsewhere (the server, an older version) has no status on record:
        it goes back to the last status the server had other than archived, or pending."""
        with self.sessions() as session:
            case = self._find(session, case_id)
            if case.status != ARCHIVED:
                return CaseRecord.of(case)
            server_status = (case.base or {}).get("status")
            previous = case.status_before_archive or (
                server_status if server_status not in (None, "", ARCHIVED) else "pending")
            case_id = case.id
        return self.edit_case(case_id, status=previous)

    def get_case(self, case_id: str) -> CaseRecord:
        with self.sessions() as session:
            return CaseRecord.of(self._find(session, case_id))

    def resolve_id(self, case_id: str) -> str:
        with self.sessions() as session:
            return self._find(session, case_id).id

    def _find(self, session: Session, case_id: str) -> Case:
        """Find by local id, server id, or an unambiguous local-id prefix (≥ 4 characters)."""
        ref = case_id.strip()
        case = session.get(Case, ref)
        if case is None:
            case = session.scalar(select(Case).where(Case.server_id == ref))
        if case is None and len(ref) >= 4:
            matches = session.scalars(
                select(Case).where(Case.id.startswith(ref, autoescape=True)).limit(2)
            ).all()
            if len(matches) > 1:
                raise ValidationError(f"Case id {ref!r} is ambiguous: type more characters.")
            case = matches[0] if matches else None
        if case is None:
            raise NotFoundError(
                f"No case with id {ref!r} in this cache.", what="case"
            )
        return case

    def _live_row(self, session: Session, case_id: str) -> dict[str, Any]:
        """``_live`` as a row's values (no ORM object: see ``edit_case``)."""
        row = session.execute(_EDITED.where(_CASES.c.id == case_id.strip())).first()
        if row is None or row.removed_at is not None:  # by server id or prefix, or refused
            row_id = self._live(session, case_id).id
            session.expunge_all()
            row = session.execute(_EDITED.where(_CASES.c.id == row_id)).one()
        return dict(row._mapping)

    def _live(self, session: Session, case_id: str) -> Case:
        """A case that is not deleted (a deleted one must be restored to be changed)."""
        case = self._find(session, case_id)
        if case.removed_at is not None:
            raise ValidationError(
                f"The case of {case.patient_name} is deleted (the deletion waits for the "
                "server); restore it first to change it.")
        return case

    def list_cases(
        self, query: CaseQuery | None = None, offset: int = 0, limit: int | None = None
    ) -> list[CaseRecord]:
        query = query or CaseQuery()
        stmt = query.order(query.apply(select(Case))).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.sessions() as session:
            return [CaseRecord.of(c) for c in session.scalars(stmt)]

    def case_ids(self, query: CaseQuery | None = None, limit: int | None = None,
                 overtaken: Callable[[], bool] | None = None) -> list[str]:
        """Ids in display order: cheap enough for 100,000 rows, for windowed views. ``limit``
        gives the first screenful fast; the full list can follow. *overtaken*: asked as the
        read goes; when it says so the read stops (``Overtaken``)."""
        query = query or CaseQuery()
        # A full list walks a whole index: in a large cache, through the scanning connection.
        whole = limit is None and self._large()
        with self._scanning() if whole else self._driver() as raw:
            cursor = raw.cursor()
            try:
                walk = limit is not None and self._common_words(cursor, query)
                page = None
                if walk:
                    assert limit is not None
                    page = self._first_page_in_rows(cursor, query, limit)
                elif limit is not None and query.short_words_only:
                    page = self._first_page_by_name_start(cursor, query, limit)
                if page is not None:
                    return page
                stmt = query.order(query.apply(select(Case.id), walk_list_order=walk))
                if limit is not None:
                    stmt = stmt.limit(limit)
                return self._ids_of(cursor, stmt, overtaken)
            finally:
                cursor.close()

    def _ids_of(self, cursor: Any, stmt: Select[Any],
                overtaken: Callable[[], bool] | None = None) -> list[str]:
        """The one column *stmt* selects, straight through the driver: ORM/Core row
        processing triples the time for 100k ids. Row by row, not fetchall(): a million
        one-value rows held at once as tuples cost ~40 MB more at the peak (kept by the
        allocator afterwards), and slower."""
        compiled = stmt.compile(self.engine)
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        if overtaken is None:
            return [row[0] for row in cursor.execute(str(compiled), params)]
        # SQLite asks every so many of its steps, sorts included, and stops the read with
        # an "interrupted" error once it is overtaken.
        cursor.connection.set_progress_handler(overtaken, OVERTAKEN_STEPS)
        try:
            return [row[0] for row in cursor.execute(str(compiled), params)]
        except cache_health.SQLITE_ERRORS as exc:
            if overtaken():
                raise Overtaken from exc
            raise
        finally:
            cursor.connection.set_progress_handler(None, 0)

    def _first_page_in_rows(self, cursor: Any, query: CaseQuery, limit: int) -> list[str] | None:
        """The first *limit* ids of a search whose words are in many cases, found by testing
        the rows in list order for them (CaseQuery.in_rows); None where reading the index's
        hits is quicker, or where the rows tested did not hold a whole page.

        Walking the list order with the index's hits (case_ids) first reads every hit: a word
        in an eighth of a million cases took 30 ms, one in a quarter 51 ms. Testing rows
        stops at the page (3-5 ms for those), but costs ~8 times a hit per row tested, so it
        is chosen by the share of hits among the newest cases (a ranged count, under 1 ms):
        when the rows to test for a page cost less than the hits there are to read."""
        if not query.plain_words or query.sort != "updated":
            return None
        match = query.match
        assert match is not None
        (top,) = cursor.execute("SELECT coalesce(max(rowid), 0) FROM cases").fetchone()
        window = min(top, DENSITY_WINDOW)
        (found,) = cursor.execute(
            "SELECT count(*) FROM cases_search WHERE cases_search MATCH ? AND rowid > ?",
            (match, top - window)).fetchone()
        if not found:
            return None
        share = found / window
        to_test = limit / share
        if to_test * ROW_TEST_COST >= share * top:
            return None
        # Hits may gather elsewhere in the list than among the newest cases: past a few times
        # the rows expected, the index's way takes over.
        return self._first_page_walked(
            cursor, query, limit, (Case.patient_name, Case.case_summary), query.in_rows,
            int(to_test * 4) + limit)

    def _first_page_by_name_start(self, cursor: Any, query: CaseQuery,
                                  limit: int) -> list[str] | None:
        """The first *limit* ids of a search for short words (the starts of names), read by
        walking the list-order index, which holds the name (migration 0010), at most
        NAMES_WALKED entries of it; None when fewer matched there.

        Read through the name index instead, every name with that start is read and sorted
        by list order: a letter starting one name in twenty, at a million cases, reads
        50,000 index entries (~4 MB decrypted the first time: 20-35 ms); the walk stops
        after a few thousand (~2 ms). Only the list order has that index."""
        if query.sort != "updated":
            return None
        return self._first_page_walked(
            cursor, query, limit, (Case.patient_name,),
            lambda stmt, rows: query.name_starts(stmt, rows.patient_name), NAMES_WALKED)

    def _first_page_walked(self, cursor: Any, query: CaseQuery, limit: int,
                           columns: tuple[Any, ...], tested: Callable[[Any, Any], Any],
                           at_most: int) -> list[str] | None:
        """The first *limit* listed cases in list order (the default sort) among the first
        *at_most*, each with *columns*, that pass *tested* (a filter on a select and the
        rows' columns); None when fewer than *limit* passed there."""

        def ordered(keys: list[Any]) -> list[Any]:
            return [key.desc() if query.descending else key.asc() for key in keys]

        listed = query.listed(select(Case.id, *columns, Case.updated_at))
        rows = listed.order_by(*ordered([Case.updated_at, Case.id])).limit(at_most).subquery()
        stmt = (tested(select(rows.c.id), rows.c)
                .order_by(*ordered([rows.c.updated_at, rows.c.id]))
                .limit(limit))
        page = self._ids_of(cursor, stmt)
        return page if len(page) == limit else None

    @contextmanager
    def _driver(self, engine: Engine | None = None) -> Iterator[Any]:
        """A driver connection of *engine* (the shared one unless given), its failures named
        (_named_failures)."""
        with (engine or self.engine).connect() as conn, self._named_failures():
            raw = conn.connection.dbapi_connection
            assert raw is not None
            yield raw

    @contextmanager
    def _named_failures(self) -> Iterator[None]:
        """Around reads straight through the driver (SQLAlchemy names the others): disk
        full, read-only, damaged pages become a CacheError naming the file."""
        try:
            yield
        except cache_health.SQLITE_ERRORS as exc:
            found = cache_health.classify(exc, self.folder.cache)
            if found is None:
                raise
            raise found from exc

    @staticmethod
    def _common_words(cursor: Any, query: CaseQuery) -> bool:
        """Whether a first page of this search is quicker read in list order.

        SQLite's own plan looks up every FTS hit by rowid and sorts them all: 36 ms for a word
        in a quarter of 100,000 cases, for 256 rows. Walking the list-order index and keeping
        the hits stops at the LIMIT (13 ms) but reads the whole index when hits are few, so it
        is chosen only when a capped count (under 5 ms) finds more than COMMON_HITS of them.
        Only the default order has that index; short words filter on names, not the index.
        """
        match = query.match
        if match is None or query.sort != "updated" or any(
            len(w) < 3 for w in query.words
        ):
            return False
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM cases_search WHERE cases_search MATCH ? "
            "LIMIT ?)", (match, COMMON_HITS + 1),
        )
        return bool(cursor.fetchone()[0] > COMMON_HITS)

    def cases_by_id(self, ids: Sequence[str]) -> dict[str, CaseRecord]:
        """A block of list rows, read for a page the list is about to paint (on the GUI
        thread). Straight through the driver with one fixed statement (the ids as one JSON
        parameter) and each column converted by SQLAlchemy's own result processor: compiling
        an IN of 64 parameters and building Row objects was half of the read."""
        if not ids:
            return {}
        with self._driver() as raw:
            processors = _record_processors(self.engine.dialect)
            cursor = raw.cursor()
            try:
                cursor.execute(_RECORDS_BY_ID, (json.dumps(list(ids)),))
                records = {}
                for row in cursor:
                    values = [value if convert is None or value is None else convert(value)
                              for value, convert in zip(row, processors, strict=True)]
                    records[values[0]] = CaseRecord(*values)
                return records
            finally:
                cursor.close()

    def count_cases(self, query: CaseQuery | None = None) -> int:
        query = query or CaseQuery()
        stmt = query.apply(select(func.count()).select_from(Case))
        with self.sessions() as session:
            return int(session.scalar(stmt) or 0)

    # ------------------------------------------------------------ documents

    def documents(self, case_id: str) -> list[DocumentRecord]:
        """The case's documents, those removed here left out; a DICOM file whose header
        names another patient than the case's says so (``patient_mismatch``)."""
        with self.sessions() as session:
            case = self._find(session, case_id)
            rows = list(session.scalars(
                select(Document)
                .where(Document.case_id == case.id, Document.removed_at.is_(None))
                .order_by(Document.added_at, Document.id)
            ))
            first_id = next((d.dicom_patient_id for d in rows if d.dicom_patient_id), None)
            return [DocumentRecord.of(d, _mismatch(d, case.patient_name, first_id))
                    for d in rows]

    def get_document(self, document_id: str) -> DocumentRecord:
        with self.sessions() as session:
            return DocumentRecord.of(self._document(session, document_id, removed=True))

    def _document(self, session: Session, document_id: str, removed: bool = False) -> Document:
        """By id or an unambiguous id prefix (at least 4 characters); one removed here only
        when *removed*."""
        ref = document_id.strip()
        doc = session.get(Document, ref)
        if doc is None and len(ref) >= 4:
            found = session.scalars(select(Document).where(
                Document.id.startswith(ref, autoescape=True)).limit(2)).all()
            if len(found) > 1:
                raise ValidationError(f"Document id {ref!r} is ambiguous: type more characters.")
            doc = found[0] if found else None
        if doc is None or doc.state == DocumentState.REMOVED or (
                doc.removed_at is not None and not removed):
            raise NotFoundError(f"No document with id {ref!r}.", what="document")
        return doc

    def set_document_category(self, document_id: str, category: str) -> DocumentRecord:
        category = validate_category(category)
        with self.transaction() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise NotFoundError(f"No document with id {document_id!r}.", what="document")
            doc.category = category
            return DocumentRecord.of(doc)

    def stored_bytes(self, document: DocumentRecord) -> intake.StoredBytes | None:
        """A document's bytes (read through the store: decrypted, checked), or None while
        they are only on the server."""
        return self.stored_bytes_for(document.sha256)

    def stored_bytes_for(self, sha256: str | None) -> intake.StoredBytes | None:
        """The blob once it is checked to be ours alone (DataFolderError if another account
        owns it or holds a hard link to it)."""
        if sha256 and self.blobs.exists(sha256):
            note = datafolder.check_file(self.blobs.path_for(sha256), self.folder.root)
            if note:
                log.warning("data folder: %s", note)
            return self.blobs.ref(sha256)
        return None

    def attach(
        self,
        case_id: str,
        paths: Iterable[str | Path],
        category: str | None = None,
        progress: Callable[[AttachProgress], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[AttachResult]:
        """Take files and folders into a case; every file gets its own verdict.

        Bytes go to the blob store (fsynced) before the row naming them commits; each file is
        its own transaction, so a crash keeps every file accepted before it.
        """
        if category is not None:
            validate_category(category)
        with self.sessions() as session:
            target = self._live(session, case_id).id
        self.blobs.sweep_temp_files()  # leftovers of an intake a crash interrupted
        items = intake.collect(Path(p) for p in paths)
        state = AttachProgress(total=len(items))
        for item in items:
            if cancelled is not None and cancelled():
                break
            if isinstance(item, intake.Refusal):
                result = AttachResult(item.path, "refused", item.reason)
            else:
                result = self._attach_one(target, item.path, category)
            state.results.append(result)
            state.done += 1
            if progress is not None:
                progress(state)
        counts = {k: sum(r.outcome == k for r in state.results) for k in ("attached", "duplicate", "refused")}
        log.info("attach case=%s %s", target, counts)
        return state.results

    def _attach_one(self, case_id: str, path: Path, category: str | None) -> AttachResult:
        # From the first byte copied until the row naming the blob commits, the blob store's
        # collector keeps away (here and in other processes).
        with self.blobs.writing():
            try:
                prepared = intake.prepare(path, self.blobs, self.max_file_bytes,
                                          category=category)
            except intake.IntakeRefused as exc:
                return AttachResult(path, "refused", str(exc))
            return self._record_attached(case_id, path, prepared)

    def _record_attached(self, case_id: str, path: Path, prepared: intake.Prepared
                         ) -> AttachResult:
        with self.transaction() as session:
            existing = session.scalar(
                select(Document).where(
                    Document.case_id == case_id, Document.sha256 == prepared.blob.sha256
                )
            )
            if existing is not None:
                return AttachResult(
                    path,
                    "duplicate",
                    f"already attached to this case as {existing.name!r}",
                    DocumentRecord.of(existing),
                )
            patient = prepared.dicom_patient
            doc = Document(
                case_id=case_id,
                name=prepared.name,
                mime_type=prepared.kind.mime,
                size=prepared.blob.size,
                sha256=prepared.blob.sha256,
                category=prepared.category,
                state=DocumentState.LOCAL_ONLY,
                dicom_patient_name=patient.name[:200] if patient and patient.name else None,
                dicom_patient_id=patient.id[:64] if patient and patient.id else None,
            )
            session.add(doc)
            session.flush()
            queue_upload(session, doc)
            self.record(session, audit.Action.ATTACH, case_id, doc.id, name=doc.name,
                        size=doc.size, sha256=doc.sha256, category=doc.category)
            case = session.get(Case, case_id)
            if case is not None and case.sync_state == SyncState.SYNCED:
                case.sync_state = SyncState.PENDING
            first_id = session.scalar(
                select(Document.dicom_patient_id)
                .where(Document.case_id == case_id, Document.dicom_patient_id.is_not(None),
                       Document.removed_at.is_(None))
                .order_by(Document.added_at, Document.id).limit(1))
            mismatch = _mismatch(doc, case.patient_name if case else "", first_id)
            if mismatch:  # attached all the same: the person decides (no names in the log)
                log.info("attach: DICOM header names another patient (%s)", ",".join(mismatch))
            return AttachResult(path, "attached", None, DocumentRecord.of(doc, mismatch))

    # ------------------------------------------------------------ outbox and conflicts

    def pending(self) -> list[PendingRecord]:
        stmt = (
            select(PendingChange, Case.patient_name, Document.name)
            .join(Case, Case.id == PendingChange.case_id)
            .outerjoin(Document, Document.id == PendingChange.document_id)
            .order_by(PendingChange.id)
        )
        with self.sessions() as session:
            return [
                PendingRecord(
                    id=change.id,
                    kind=change.kind,
                    case_id=change.case_id,
                    patient_name=name,
                    document_id=change.document_id,
                    document_name=doc_name,
                    fields=tuple(change.fields or ()),
                    state=change.state,
                    attempts=change.attempts,
                    last_error=change.last_error,
                    created_at=change.created_at,
                )
                for change, name, doc_name in session.execute(stmt)
            ]

    def retry_change(self, change_id: int) -> PendingRecord:
        """Put a parked or deferred change back in the queue for the next sync."""
        with self.transaction() as session:
            change = self._change(session, change_id)
            change.state, change.attempts = ChangeState.QUEUED, 0
            change.next_attempt_at, change.last_error = None, None
            if change.document_id:
                doc = session.get(Document, change.document_id)
                if doc is not None and doc.state == DocumentState.FAILED:
                    doc.state, doc.error = DocumentState.LOCAL_ONLY, None
            case = session.get(Case, change.case_id)
            if case is not None and case.sync_state == SyncState.ERROR:
                case.sync_state, case.sync_error = SyncState.PENDING, None
                settle_sync_state(session, case)
        return next(r for r in self.pending() if r.id == change_id)

    def discard_change(self, change_id: int) -> str:
        """Give up a change the server refused, leaving the cache as the server has it.

        An update's fields go back to the last server values; an upload's document is removed
        from the case; a never-created case is removed. Returns what was done, in words.
        """
        with self.transaction() as session:
            change = self._change(session, change_id)
            case = session.get(Case, change.case_id)
            assert case is not None
            self.record(session, audit.Action.DISCARD, case.id, change.document_id,
                        kind=change.kind, fields=list(change.fields or []))
            if change.kind == ChangeKind.UPDATE_CASE:
                base = case.base or {}
                for name in change.fields or []:
                    if name in base:
                        setattr(case, name, base[name])
                session.delete(change)
                settle_sync_state(session, case)
                return "Your unsent edits were dropped; the case shows the server's values."
            if change.kind == ChangeKind.UPLOAD_DOCUMENT:
                doc = session.get(Document, change.document_id) if change.document_id else None
                session.delete(change)
                if doc is not None:
                    self._abandon_moves_to(session, doc.id)
                    session.delete(doc)
                settle_sync_state(session, case)
                return "The document was removed from the case."
            if change.kind == ChangeKind.REMOVE_DOCUMENT:
                _not_yet_sent(change, "removal")
                doc = session.get(Document, change.document_id) if change.document_id else None
                session.delete(change)
                if doc is not None:
                    doc.removed_at = doc.moved_to_id = None
                settle_sync_state(session, case)
                return ("The removal was dropped: the document is back on its case (it was not "
                        "removed from the server).")
            if change.kind == ChangeKind.DELETE_CASE:
                _not_yet_sent(change, "deletion")
                session.delete(change)
                self._keep_deleted_case(session, case)
                return "The deletion was dropped: the case is back in the list."
            if change.kind == ChangeKind.ANALYZE_CASE:
                session.delete(change)
                case.analysis_requested_at = None
                settle_sync_state(session, case)
                return "The analysis request was dropped."
            session.delete(case)
            return "The case was never on the server and has been removed."

    def _change(self, session: Session, change_id: int) -> PendingChange:
        change = session.get(PendingChange, int(change_id))
        if change is None:
            raise NotFoundError(
                f"No pending change with id {change_id}.", what="change"
            )
        return change

    def pending_count(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(PendingChange)) or 0)

    def conflicts(self, case_id: str | None = None) -> list[ConflictRecord]:
        stmt = (
            select(Conflict, Case.patient_name)
            .join(Case, Case.id == Conflict.case_id)
            .where(Conflict.resolved_at.is_(None))
            .order_by(Conflict.id)
        )
        # A case deleted here shows only the conflict about its deletion.
        stmt = stmt.where(or_(Case.removed_at.is_(None), Conflict.field == DELETION))
        with self.sessions() as session:
            if case_id is not None:
                stmt = stmt.where(Conflict.case_id == self._find(session, case_id).id)
            return [
                ConflictRecord(
                    id=c.id, case_id=c.case_id, patient_name=name, field=c.field,
                    base_value=c.base_value, local_value=c.local_value,
                    server_value=c.server_value, created_at=c.created_at,
                    server_changed_at=c.server_changed_at,
                )
                for c, name in session.execute(stmt)
            ]

    def resolve_conflict(self, case_id: str, field_name: str, choice: str,
                         value: Any = None) -> CaseRecord:
        """Keep mine (it will be pushed over theirs), take theirs (my edit is set aside), or
        write a merged value (pushed over theirs). Nothing is lost: the conflict row keeps
        both sides and the value kept, for the case's history."""
        if choice not in ("mine", "theirs", "merged"):
            raise ValidationError(
                "A conflict is settled by keeping mine, taking theirs, or writing a merged value.")
        if field_name == DELETION:
            return self._resolve_deletion(case_id, choice)
        merged = None
        if choice == "merged":
            if field_name not in MERGEABLE_FIELDS:
                raise ValidationError(
                    f"{field_name!r} is not a text field: keep yours or take the server's.")
            merged = VALIDATORS[field_name](value)
        with self.transaction() as session:
            case = self._find(session, case_id)
            conflict = session.scalar(
                select(Conflict).where(
                    Conflict.case_id == case.id,
                    Conflict.field == field_name,
                    Conflict.resolved_at.is_(None),
                )
            )
            if conflict is None:
                raise NotFoundError(
                    f"No open conflict on field {field_name!r} of this case.", what="conflict"
                )
            base = dict(case.base or {})
            base[field_name] = conflict.server_value
            case.base = base
            if choice == "merged":
                setattr(case, field_name, merged)
                queue_update(session, case, [field_name])
                conflict.resolved_value = merged
            elif choice == "theirs":
                conflict.resolved_value = conflict.server_value
                setattr(case, field_name, conflict.server_value)
                update = session.scalar(
                    select(PendingChange).where(
                        PendingChange.case_id == case.id,
                        PendingChange.kind == ChangeKind.UPDATE_CASE,
                    )
                )
                if update is not None:
                    left = [f for f in (update.fields or []) if f != field_name]
                    if left:
                        update.fields = left
                    else:
                        session.delete(update)
            else:
                conflict.resolved_value = conflict.local_value
                queue_update(session, case, [field_name])
            conflict.resolved_at = utcnow()
            conflict.resolution = choice
            self.record(session, audit.Action.RESOLVE, case.id, field=field_name,
                        choice=choice, kept=conflict.resolved_value,
                        mine=conflict.local_value, theirs=conflict.server_value)
            case.updated_at = utcnow()
            settle_sync_state(session, case)
            return CaseRecord.of(case)

    def settled_conflicts(self, case_id: str) -> list[SettledConflict]:
        """The case's resolved conflicts, newest first: what was kept and what was not."""
        with self.sessions() as session:
            case = self._find(session, case_id)
            rows = session.scalars(
                select(Conflict)
                .where(Conflict.case_id == case.id, Conflict.resolved_at.is_not(None))
                .order_by(Conflict.resolved_at.desc(), Conflict.id.desc())
            )
            return [
                SettledConflict(
                    field=c.field, local_value=c.local_value, server_value=c.server_value,
                    resolution=c.resolution or "", resolved_value=c.resolved_value,
                    resolved_at=c.resolved_at or c.created_at,
                    server_changed_at=c.server_changed_at,
                )
                for c in rows
            ]

    def unsent_work(self) -> list[str]:
        """What has not reached the server, one line each (names included: shown only to the
        person deciding whether to discard it)."""
        lines = [f"{KIND_WORDS.get(p.kind, p.kind)}: {p.patient_name}"
                 + (f" — {p.document_name}" if p.document_name else "")
                 + (f" ({', '.join(p.fields)})" if p.fields else "")
                 for p in self.pending()]
        conflicts = self.open_conflict_count()
        if conflicts:
            lines.append(f"{conflicts} conflict(s) not settled (your versions would be lost)")
        return lines

    def open_conflict_count(self) -> int:
        with self.sessions() as session:
            stmt = select(func.count()).select_from(Conflict).where(Conflict.resolved_at.is_(None))
            return int(session.scalar(stmt) or 0)

    # ------------------------------------------------------------ removals, moves, analysis

    def remove_document(self, document_id: str) -> DocumentRemoval:
        """Take a document off its case. One that never left this computer is gone at once;
        one the server may hold is hidden and queued for removal there (a tombstone: a pull
        cannot bring it back, its stored file is kept) and can be restored until it is sent.
        """
        with self.transaction() as s:
            doc = self._document(s, document_id)
            case = self._live(s, doc.case_id)
            record = DocumentRecord.of(doc)
            waits = may_be_on_server(s, doc)
            if waits:
                doc.removed_at = utcnow()
                s.add(PendingChange(kind=ChangeKind.REMOVE_DOCUMENT, case_id=case.id,
                                    document_id=doc.id))
            else:
                s.delete(doc)  # its queued upload goes with it (ON DELETE CASCADE)
            self.record(s, audit.Action.REMOVE, case.id, record.id, name=record.name,
                        waits_for_server=waits)
            settle_sync_state(s, case)
            log.info("document %s removed locally (waits for the server: %s)", doc.id, waits)
            return DocumentRemoval(record, case.patient_name, waits)

    def restore_document(self, document_id: str) -> DocumentRecord:
        """Undo a removal that has not reached the server."""
        with self.transaction() as s:
            doc = self._document(s, document_id, removed=True)
            if doc.removed_at is None:
                return DocumentRecord.of(doc)
            if doc.moved_to_id is not None:
                raise ValidationError(f"{doc.name!r} was moved to another case; move it back "
                                      "from there instead.")
            case = self._live(s, doc.case_id)
            change = s.scalar(select(PendingChange).where(
                PendingChange.document_id == doc.id,
                PendingChange.kind == ChangeKind.REMOVE_DOCUMENT))
            _not_yet_sent(change, "removal")
            if change is not None:
                s.delete(change)
            doc.removed_at = None
            self.record(s, audit.Action.RESTORE, case.id, doc.id, name=doc.name)
            settle_sync_state(s, case)
            log.info("document %s restored", doc.id)
            return DocumentRecord.of(doc)

    def removed_documents(self, case_id: str | None = None) -> list[DocumentRecord]:
        """Documents removed here whose removal has not reached the server (restorable)."""
        stmt = (select(Document).where(Document.removed_at.is_not(None),
                                       Document.state != DocumentState.REMOVED)
                .order_by(Document.removed_at.desc(), Document.id))
        with self.sessions() as s:
            if case_id is not None:
                stmt = stmt.where(Document.case_id == self._find(s, case_id).id)
            return [DocumentRecord.of(d) for d in s.scalars(stmt)]

    def move_document(self, document_id: str, target_case_id: str) -> DocumentMove:
        """Move a document to another case. One that never left this computer simply changes
        case. Otherwise a copy goes to the target (uploaded like any attachment) and the
        original is removed from the server only once the copy is there: whatever is
        interrupted, the server ends with one copy, on the target."""
        with self.transaction() as s:
            doc = self._document(s, document_id)
            source = self._live(s, doc.case_id)
            target = self._live(s, target_case_id)
            if target.id == source.id:
                raise ValidationError(f"{doc.name!r} is already on the case of "
                                      f"{target.patient_name}.")
            before = DocumentRecord.of(doc)
            if not may_be_on_server(s, doc):
                doc.case_id = target.id
                s.execute(update(PendingChange).where(PendingChange.document_id == doc.id)
                          .values(case_id=target.id))
                self._record_move(s, doc.name, source.id, target.id, doc.id, doc.id)
                for case in (source, target):
                    settle_sync_state(s, case)
                log.info("document %s moved locally", doc.id)
                return DocumentMove(DocumentRecord.of(doc), before, source.patient_name,
                                    target.patient_name, False)
            if doc.sha256 is None or not self.blobs.exists(doc.sha256):
                raise ContentNotHereError(
                    f"The content of {doc.name!r} is only on the server; download it (open "
                    "it once), then move it.", doc.id)
            copy = s.scalar(select(Document).where(
                Document.case_id == target.id, Document.sha256 == doc.sha256,
                Document.removed_at.is_(None)))
            if copy is None:
                copy = Document(
                    case_id=target.id, name=doc.name, mime_type=doc.mime_type, size=doc.size,
                    sha256=doc.sha256, category=doc.category, state=DocumentState.LOCAL_ONLY,
                    dicom_patient_name=doc.dicom_patient_name,
                    dicom_patient_id=doc.dicom_patient_id)
                s.add(copy)
                s.flush()
                queue_upload(s, copy)
            doc.removed_at, doc.moved_to_id = utcnow(), copy.id
            s.add(PendingChange(kind=ChangeKind.REMOVE_DOCUMENT, case_id=source.id,
                                document_id=doc.id))
            self._record_move(s, doc.name, source.id, target.id, doc.id, copy.id)
            for case in (source, target):
                settle_sync_state(s, case)
            log.info("document %s moved (copy %s; removal waits for it)", doc.id, copy.id)
            return DocumentMove(DocumentRecord.of(copy), before, source.patient_name,
                                target.patient_name, True)

    def _record_move(self, s: Session, name: str, source_id: str, target_id: str,
                     document_id: str, arrived_id: str) -> None:
        """A move is on both cases' trails: where the document left and where it arrived."""
        self.record(s, audit.Action.MOVE, source_id, document_id, name=name, to_case=target_id)
        self.record(s, audit.Action.MOVE, target_id, arrived_id, name=name, from_case=source_id)

    def delete_case(self, case_id: str) -> CaseDeletion:
        """Delete a case with its documents. One never on the server is gone at once; one on
        the server is hidden and queued for deletion there, restorable until it is sent. What
        the server showed when it was deleted is kept with the change: a case changed there
        since becomes a conflict, never a silent loss."""
        with self.transaction() as s:
            case = self._find(s, case_id)
            count = int(s.scalar(select(func.count()).select_from(Document).where(
                Document.case_id == case.id, Document.removed_at.is_(None))) or 0)
            if case.removed_at is not None:
                return CaseDeletion(CaseRecord.of(case), count, True)
            record = CaseRecord.of(case)
            create = s.scalar(select(PendingChange).where(
                PendingChange.case_id == case.id, PendingChange.kind == ChangeKind.CREATE_CASE))
            self.record(s, audit.Action.DELETE, case.id, name=case.patient_name, documents=count)
            if case.server_id is None and not (create is not None and create.in_flight):
                s.delete(case)
                log.info("case %s deleted locally (never on the server)", record.id)
                return CaseDeletion(record, count, False)
            files = sorted(s.scalars(select(Document.server_file_id).where(
                Document.case_id == case.id, Document.server_file_id.is_not(None))))
            case.removed_at = utcnow()
            s.add(PendingChange(kind=ChangeKind.DELETE_CASE, case_id=case.id, payload={
                "seen": {"server_updated_at": case.server_updated_at, "base": case.base,
                         "files": files}}))
            settle_sync_state(s, case)
            log.info("case %s deleted locally; the deletion waits for the server", case.id)
            return CaseDeletion(CaseRecord.of(case), count, True)

    def restore_case(self, case_id: str) -> CaseRecord:
        """Undo a deletion that has not reached the server."""
        with self.transaction() as s:
            case = self._find(s, case_id)
            if case.removed_at is None:
                return CaseRecord.of(case)
            change = s.scalar(select(PendingChange).where(
                PendingChange.case_id == case.id, PendingChange.kind == ChangeKind.DELETE_CASE))
            _not_yet_sent(change, "deletion")
            if change is not None:
                s.delete(change)
            self._keep_deleted_case(s, case)
            self.record(s, audit.Action.RESTORE, case.id, name=case.patient_name)
            log.info("case %s restored", case.id)
            return CaseRecord.of(case)

    def deleted_cases(self) -> list[CaseRecord]:
        """Cases deleted here whose deletion has not reached the server (restorable)."""
        with self.sessions() as s:
            return [CaseRecord.of(c) for c in s.scalars(
                select(Case).where(Case.removed_at.is_not(None))
                .order_by(Case.removed_at.desc()))]

    def _keep_deleted_case(self, s: Session, case: Case) -> None:
        """A deleted case is kept after all: back in the list; a conflict about its deletion
        is settled as "the case stays"."""
        case.removed_at = None
        case.detail_stale = True
        for conflict in s.scalars(select(Conflict).where(
                Conflict.case_id == case.id, Conflict.field == DELETION,
                Conflict.resolved_at.is_(None))):
            conflict.resolved_at, conflict.resolution = utcnow(), "theirs"
            conflict.resolved_value = conflict.server_value
        settle_sync_state(s, case)

    def _abandon_moves_to(self, s: Session, document_id: str) -> None:
        """The copy a move made will not reach the server (its upload was given up): the
        documents moved to it stay where they were."""
        for source in s.scalars(select(Document).where(Document.moved_to_id == document_id)):
            change = s.scalar(select(PendingChange).where(
                PendingChange.document_id == source.id,
                PendingChange.kind == ChangeKind.REMOVE_DOCUMENT))
            if change is not None and change.in_flight:
                continue  # its removal may have happened; the next sync settles it
            if change is not None:
                s.delete(change)
            source.removed_at = source.moved_to_id = None
            settle_sync_state(s, source.case)

    def _resolve_deletion(self, case_id: str, choice: str) -> CaseRecord:
        """A case deleted on one side and changed on the other. Deleted here: "mine" deletes
        it on the server anyway, "theirs" keeps it with the server's changes. Deleted on the
        server: "mine" puts it back there (created again, with its files), "theirs" deletes it
        here too (the record returned is the case as it was)."""
        if choice not in ("mine", "theirs"):
            raise ValidationError(
                "A deleted case is settled by keeping mine or taking theirs, not by merging.")
        with self.transaction() as s:
            case = self._find(s, case_id)
            conflict = s.scalar(select(Conflict).where(
                Conflict.case_id == case.id, Conflict.field == DELETION,
                Conflict.resolved_at.is_(None)))
            if conflict is None:
                raise NotFoundError("No open conflict about deleting this case.",
                                    what="conflict")
            deleted_here = case.removed_at is not None
            self.record(s, audit.Action.RESOLVE, case.id, field=DELETION, choice=choice,
                        deleted_here=deleted_here)
            if deleted_here and choice == "theirs":
                change = s.scalar(select(PendingChange).where(
                    PendingChange.case_id == case.id,
                    PendingChange.kind == ChangeKind.DELETE_CASE))
                if change is not None:
                    s.delete(change)
                self._keep_deleted_case(s, case)
                return CaseRecord.of(case)
            conflict.resolved_at, conflict.resolution = utcnow(), choice
            if deleted_here:  # delete it on the server all the same
                conflict.resolved_value = conflict.local_value
                change = s.scalar(select(PendingChange).where(
                    PendingChange.case_id == case.id,
                    PendingChange.kind == ChangeKind.DELETE_CASE))
                if change is not None:
                    change.state, change.attempts = ChangeState.QUEUED, 0
                    change.next_attempt_at, change.last_error = None, None
                    change.fields = ["confirmed"]
            elif choice == "theirs":  # deleted there: here too
                record = CaseRecord.of(case)
                s.delete(case)
                return record
            else:
                conflict.resolved_value = conflict.local_value
                self._recreate(s, case)
            settle_sync_state(s, case)
            return CaseRecord.of(case)

    def _recreate(self, s: Session, case: Case) -> None:
        """A case deleted on the server that the person keeps: it goes there again as a new
        case, with every document whose bytes are here (those only the server had are gone
        with it)."""
        s.execute(PendingChange.__table__.delete().where(PendingChange.case_id == case.id))
        case.server_id = case.numeric_id = case.base = None
        case.server_created_at = case.server_updated_at = None
        case.sync_state, case.sync_error = SyncState.PENDING, None
        queue_create(s, case)
        for doc in list(case.documents):
            if doc.removed_at is not None or not (doc.sha256 and self.blobs.exists(doc.sha256)):
                s.delete(doc)
                continue
            doc.server_file_id = doc.file_url = doc.uploaded_at = doc.error = None
            doc.state = DocumentState.LOCAL_ONLY
            s.flush()
            queue_upload(s, doc)

    def request_analysis(self, case_id: str) -> CaseRecord:
        """Ask the server to analyse the case (sent after its files); the case then shows
        where the analysis stands."""
        with self.transaction() as s:
            case = self._live(s, case_id)
            queued = s.scalar(select(PendingChange).where(
                PendingChange.case_id == case.id, PendingChange.kind == ChangeKind.ANALYZE_CASE))
            if queued is None:
                s.add(PendingChange(kind=ChangeKind.ANALYZE_CASE, case_id=case.id))
            elif queued.state == ChangeState.PARKED:
                queued.state, queued.attempts, queued.last_error = ChangeState.QUEUED, 0, None
            case.analysis_requested_at = utcnow()
            self.record(s, audit.Action.ANALYZE, case.id)
            settle_sync_state(s, case)
            log.info("analysis requested for case %s", case.id)
            return CaseRecord.of(case)

    def analyses_awaited(self) -> list[str]:
        """Cases whose analysis was asked for here and has not been seen to end."""
        with self.sessions() as s:
            return list(s.scalars(select(Case.id).where(
                Case.analysis_requested_at.is_not(None), Case.removed_at.is_(None))))

    def analysis_noted(self, case_id: str) -> CaseRecord:
        """The person has been told that the analysis asked for here ended."""
        with self.transaction() as s:
            case = self._find(s, case_id)
            if case.status in ANALYSIS_ENDED:
                case.analysis_requested_at = None
            return CaseRecord.of(case)

    def similar_patients(self, name: str, age: int | str, gender: str,
                         limit: int = 20) -> list[CaseRecord]:
        """Cases that may be this patient already: the same name ignoring case, accents and
        extra spaces, the same gender, an age within a year (archived ones too)."""
        name, age, gender = validate_name(name), validate_age(age), validate_gender(gender)
        tolerance = patient_match.AGE_TOLERANCE
        stmt = select(Case.id, Case.patient_name, Case.patient_age, Case.patient_gender).where(
            Case.patient_age.between(age - tolerance, age + tolerance),
            Case.removed_at.is_(None))
        with self.engine.connect() as conn:
            ids = [row.id for row in conn.execute(stmt) if patient_match.same_patient(
                name, age, gender, row.patient_name, row.patient_age, row.patient_gender)]
        found = self.cases_by_id(ids[:limit])
        return sorted(found.values(), key=lambda r: r.updated_at, reverse=True)
