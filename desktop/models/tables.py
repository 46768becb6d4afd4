"""The cache's tables: cases, their documents, the outbox, conflicts and sync metadata.

Alembic owns the schema (see ``migrations/``); these classes are the typed view of it and the
source that ``alembic revision --autogenerate`` compares against.
"""

from __future__ import annotations

import enum
import os
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class _IdSource(threading.local):
    """Random (version 4) UUIDs, made 256 at a time from one read of randomness.

    ``uuid.uuid4()`` makes one ``os.urandom`` call per id, and each call lets go of the GIL and
    takes it straight back. CPython hands the GIL to a waiting thread only when that thread's
    wait runs out, and every such release restarts the wait: a pull naming 5,000 new cases
    kept the window's thread from running for 40-100 ms. One read per 256 ids ends that, and
    formatting a batch at once costs 0.5 us an id instead of 2.5. Each thread has its own
    batch; a forked child throws its copy away (``os.register_at_fork`` below).
    """

    BATCH = 256

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self) -> str:
        if not self.ids:
            self.ids = self._batch()
        return self.ids.pop()

    def forget(self) -> None:
        self.ids = []

    @classmethod
    def _batch(cls) -> list[str]:
        raw = bytearray(os.urandom(16 * cls.BATCH))
        raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
        raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
        h = raw.hex()
        return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-"
                f"{h[i + 20:i + 32]}" for i in range(0, len(h), 32)]


new_id = _IdSource()
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork()
    os.register_at_fork(after_in_child=new_id.forget)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as naive text (SQLite has no time zones) and hands back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Objects the migrations create that SQLAlchemy does not model (the FTS5 search index and
# a NOCASE index for name-prefix search).
UNMODELLED_PREFIXES = ("cases_search", "ix_cases_name_nocase")


def is_modelled(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic filter: leave the hand-written FTS5 objects out of schema comparison."""
    return not (name or "").startswith(UNMODELLED_PREFIXES)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class SyncState(enum.StrEnum):
    SYNCED = "synced"
    PENDING = "pending"
    CONFLICT = "conflict"
    ERROR = "error"
    REMOVED_REMOTELY = "removed_remotely"


class DocumentState(enum.StrEnum):
    LOCAL_ONLY = "local_only"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    REMOTE_ONLY = "remote_only"
    DOWNLOADED = "downloaded"
    FAILED = "failed"
    # Removed from the server at this computer's request: a pure tombstone (no bytes kept)
    # so that a file list read before the removal cannot bring the document back.
    REMOVED = "removed"


class ChangeKind(enum.StrEnum):
    CREATE_CASE = "create_case"
    UPDATE_CASE = "update_case"
    UPLOAD_DOCUMENT = "upload_document"
    # A document removed here (or the source of a move), to be deleted on the server.
    REMOVE_DOCUMENT = "remove_document"
    DELETE_CASE = "delete_case"
    ANALYZE_CASE = "analyze_case"


class ChangeState(enum.StrEnum):
    QUEUED = "queued"
    PARKED = "parked"  # refused by the server (4xx); waits for the user to fix or discard it


# The case fields a clinician edits and the server stores; gender is set once, at creation.
CASE_FIELDS = ("patient_name", "patient_age", "patient_gender", "case_summary", "status")
EDITABLE_FIELDS = ("patient_name", "patient_age", "case_summary", "status")


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    server_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The deployed backend's numeric row id, needed by its integer-only routes.
    numeric_id: Mapped[str | None] = mapped_column(String(32))
    patient_name: Mapped[str] = mapped_column(String(200))
    patient_age: Mapped[int] = mapped_column(Integer)
    patient_gender: Mapped[str] = mapped_column(String(40))
    case_summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(40), default="pending", index=True)
    # The status an archived case had, for Unarchive.
    status_before_archive: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    server_created_at: Mapped[str | None] = mapped_column(String(40))
    server_updated_at: Mapped[str | None] = mapped_column(String(40))
    # Last server values seen, for the three-way merge; null until the case exists remotely.
    base: Mapped[dict[str, Any] | None] = mapped_column()
    sync_state: Mapped[str] = mapped_column(String(20), default=SyncState.PENDING, index=True)
    sync_error: Mapped[str | None] = mapped_column(Text)
    ai_insights: Mapped[dict[str, Any] | None] = mapped_column()
    # Files and insights are fetched per case; set when the case changed on either side.
    detail_stale: Mapped[bool] = mapped_column(default=True)
    # When the server's file list of this case was last read (null: never).
    files_checked_at: Mapped[datetime | None] = mapped_column()
    # Deleted here, not yet on the server: a tombstone lists leave out (see Workspace).
    removed_at: Mapped[datetime | None] = mapped_column()
    # When an analysis was asked for here; cleared once the server shows one that ended.
    analysis_requested_at: Mapped[datetime | None] = mapped_column()

    documents: Mapped[list[Document]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Document.added_at"
    )

    __table_args__ = (
        Index(None, "patient_name"),
        # The list's default order (newest first, id as tie-break, archived filtered out)
        # read from one covering index: all 100,000 ids in ~40 ms instead of ~150 ms; with
        # the name, a first page of a search for a name's start too (migration 0010).
        Index("ix_cases_list_order", "updated_at", "id", "status", "removed_at",
              "patient_name"),
    )


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    server_file_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    # Null while the bytes exist only on the server.
    sha256: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(20))
    file_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=DocumentState.LOCAL_ONLY)
    error: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[str | None] = mapped_column(String(40))
    # Removed here: hidden, kept (bytes and all) until the server has removed it too.
    removed_at: Mapped[datetime | None] = mapped_column()
    # The source of a move: its removal from the server waits for this copy to be there.
    moved_to_id: Mapped[str | None] = mapped_column(String(36))
    # The patient the file's DICOM header names (None: not DICOM, or not named).
    dicom_patient_name: Mapped[str | None] = mapped_column(String(200))
    dicom_patient_id: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="documents")

    # Not unique: two server files with equal bytes are two documents (attach still finds
    # a duplicate of a case's document through this index).
    __table_args__ = (Index("ix_documents_case_id_sha256", "case_id", "sha256"),)


class PendingChange(Base):
    """The outbox: work that must reach the server exactly once, in order."""

    __tablename__ = "pending_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    # Dirty field names of an update, coalesced across edits.
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    # Bumped on every coalesced edit: a push clears the row only if no newer edit arrived.
    seq: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default=ChangeState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set (and committed) before a request that may reach the server: if the outcome stays
    # unknown, the next attempt reconciles with the server's list before sending again.
    in_flight: Mapped[bool] = mapped_column(default=False)
    # What the last attempt sent: to match it on the server, and to clean only what was sent.
    payload: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(
            "uq_pending_changes_one_update_per_case",
            "case_id",
            unique=True,
            sqlite_where=kind == ChangeKind.UPDATE_CASE.value,
        ),
    )


class Conflict(Base):
    __tablename__ = "conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    base_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    local_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    server_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the server wrote server_value (its updated_at, as the server sent it).
    server_changed_at: Mapped[str | None] = mapped_column(String(40))
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(String(10))  # "mine", "theirs" or "merged"
    # The value kept; the side not kept stays readable in local_value / server_value.
    resolved_value: Mapped[Any] = mapped_column(JSON, nullable=True)


class SyncMeta(Base):
    """One row: who this cache belongs to on which server, and how the last sync went."""

    __tablename__ = "sync_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    server_kind: Mapped[str | None] = mapped_column(String(20))
    server_url: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(100))
    last_pull_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    clock_offset_seconds: Mapped[float | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    # The person allowed plain http:// to this (non-loopback) server, knowing what crosses
    # the network in clear.
    allow_plain_http: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=sa_false())


class AuditEntry(Base):
    """The audit trail: who did what to which case, when. Append-only (triggers refuse an
    update or a delete) and hash-chained with a key only this folder has (``models.audit``)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    action: Mapped[str] = mapped_column(String(30))
    # No foreign keys: a case or document removed keeps its history.
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    os_user: Mapped[str] = mapped_column(String(200))
    account: Mapped[str | None] = mapped_column(String(300))
    # HMAC-SHA256(audit key, previous entry's chain + this entry), hex.
    chain: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last entry's id and chain, sealed with the audit key, so that entries
    cut off the end of the trail are told too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_chain: Mapped[str] = mapped_column(String(64))  # the next entry chains to it
    seal: Mapped[str] = mapped_column(String(64))
