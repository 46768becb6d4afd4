"""What a sync run tells its caller: progress while it runs, and a report when it ends.

Both are data only (counts, flags, the server's own words); the command line and the window
each phrase them for people in their own way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    PUSH = "push"
    UPLOAD = "upload"
    PULL = "pull"
    FILES = "files"
    DOWNLOAD = "download"
    DONE = "done"


class Stop(StrEnum):
    """Why a run ended before its last step."""

    OFFLINE = "offline"  # the server could not be reached; nothing more was tried
    SIGN_IN = "sign_in"  # the server refused the sign-in; the queue is kept
    CANCELLED = "cancelled"  # the person (or shutdown) cancelled between steps
    FAILED = "failed"  # the server kept failing, or answered in a way nothing could be done with


@dataclass
class SyncProgress:
    phase: Phase
    done: int = 0
    total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    name: str | None = None  # the document being sent, when there is one


@dataclass
class SyncReport:
    """Counts of one run, why it stopped (if it did), and the server's own words.

    ``server`` names the server kind for people ("Care360"); ``files_only`` says the server
    stores documents but no cases, so case changes stay here (``case_changes_kept``).
    """

    server: str = "the server"
    files_only: bool = False
    created: int = 0
    updated: int = 0
    uploaded: int = 0
    adopted: int = 0
    pulled_new: int = 0
    pulled_changed: int = 0
    conflicts: int = 0
    parked: int = 0
    deferred: int = 0
    removed_remotely: int = 0
    # Cases written on the server by someone else between this computer's read and its
    # write: what they wrote to the fields sent from here was replaced (the API cannot say).
    overlapped: int = 0
    general_documents: int = 0
    case_changes_kept: int = 0
    removed: int = 0  # documents removed from the server (moves' originals included)
    deleted: int = 0  # cases deleted on the server
    analyses: int = 0  # analyses the server was asked for
    # Document removals this server cannot do (it has no route for it): they stay queued.
    document_removals_kept: int = 0
    # Server records that could not be read (a number out of range, no usable id, ...): each
    # was set aside with its reason in ``problems``; the rest of the sync went on.
    set_aside: int = 0
    set_aside_reasons: list[str] = field(default_factory=list)  # "case record: its …"
    # A pull that found this many of the known cases gone at once kept them all (marked).
    vanished: int = 0
    known: int = 0
    stop: Stop | None = None
    error: str | None = None  # the message of what stopped the run (or made it incomplete)
    # Seconds the server asked to be left alone (a long Retry-After); the next run waits.
    retry_after: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stop is None and self.error is None and not self.vanished

    @property
    def offline(self) -> bool:
        return self.stop is Stop.OFFLINE

    @property
    def auth_required(self) -> bool:
        return self.stop is Stop.SIGN_IN

    @property
    def cancelled(self) -> bool:
        return self.stop is Stop.CANCELLED

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items()
                if isinstance(v, int) and not isinstance(v, bool)}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = self.stop.value if self.stop else None
        data["ok"] = self.ok
        return data
