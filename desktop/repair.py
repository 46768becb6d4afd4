"""Checking the cache page by page, and repairing one that is damaged, empty or missing.

A repair never works on the damaged file itself: it moves it aside (kept, with its log, for
support), makes a new cache, copies into it whatever SQLite can still read (``salvage``:
the outbox first), and says what was recovered and what was lost. Stored documents that no
recovered row names any more are not deleted: they are copied out to a folder beside the
cache, so a person can attach them again.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from desktop import intake
from desktop.datafolder import DataFolder
from desktop.errors import CacheError, CacheProblem, DataFolderError
from desktop.models import cache_health
from desktop.models.cache_health import FileState
from desktop.models.database import create_cache, move_aside
from desktop.models.salvage import SalvageResult, salvage

log = logging.getLogger(__name__)


class FolderInUseError(DataFolderError):
    """Another Case Desk (a window, a command, a sync) has the folder open."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"The data folder {root} is in use by another Case Desk (a window or "
                         "a command); it was not changed.")
        self.root = root


@dataclass
class CheckResult:
    """The outcome of a full check: ``problems`` empty when the cache is sound."""

    path: Path
    state: str  # "sound", "damaged", "empty", "missing", "unreadable"
    problems: list[str] = field(default_factory=list)
    revision: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def sound(self) -> bool:
        return self.state == "sound"


@dataclass
class RepairResult:
    """What a repair did: where the old file went, what came back, what was lost."""

    moved_to: Path | None
    salvage: SalvageResult | None
    recovered_files: list[Path] = field(default_factory=list)
    recovered_files_dir: Path | None = None
    nothing_to_do: bool = False


def check(folder: DataFolder) -> CheckResult:
    """SQLite's full integrity check of the cache (every page, every index entry), read-only."""
    path = folder.cache
    state = cache_health.file_state(path)
    if state is FileState.MISSING:
        return CheckResult(path, "missing", ["the file does not exist"])
    if state is FileState.ZERO_LENGTH:
        return CheckResult(path, "empty", ["the file is empty (zero bytes)"])
    if state is FileState.NOT_A_DATABASE:
        return CheckResult(path, "unreadable", ["the file is not an SQLite database"])
    try:
        uri = cache_health.read_only_uri(path, writable_folder=folder.writable)
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        return CheckResult(path, "unreadable", [str(exc)])
    try:
        try:
            problems = cache_health.integrity_check(conn)
        except sqlite3.DatabaseError as exc:
            return CheckResult(path, "damaged", [str(exc)])
        result = CheckResult(path, "damaged" if problems else "sound", problems)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            result.revision = row[0] if row else None
            for table in ("cases", "documents", "pending_changes", "conflicts"):
                result.counts[table] = conn.execute(
                    f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            result.state = "damaged" if result.revision else "empty"
            result.problems.append(str(exc))
        return result
    finally:
        conn.close()


def repair(folder: DataFolder) -> RepairResult:
    """Move a damaged, empty or unreadable cache aside, make a new one and salvage into it.
    A cache that checks out is left alone (``nothing_to_do``)."""
    if not folder.writable:
        raise CacheError(f"The data folder {folder.root} is read-only, so the cache cannot be "
                         "repaired here.", folder.cache, CacheProblem.READ_ONLY)
    hold = folder.hold(exclusive=True)
    if hold is None:
        raise FolderInUseError(folder.root)
    try:
        before = check(folder)
        if before.sound and before.revision is not None:
            return RepairResult(None, None, nothing_to_do=True)  # opening upgrades it
        blobs = intake.BlobStore(folder.blobs)
        with blobs.exclusive() as alone:
            if not alone:
                raise FolderInUseError(folder.root)
            return _repair(folder, before, blobs)
    finally:
        os.close(hold)


def _repair(folder: DataFolder, before: CheckResult, blobs: intake.BlobStore) -> RepairResult:
    path = folder.cache
    moved = None
    if before.state != "missing":
        moved = move_aside(path, "damaged")
        log.warning("damaged cache moved aside to %s", moved.name)
    create_cache(path)
    result = RepairResult(moved, None)
    if moved is not None and cache_health.file_state(moved) is FileState.DATABASE:
        result.salvage = salvage(moved, path)
        named = result.salvage.blobs_named
    else:
        named = set()
    orphans = sorted(set(blobs.stored()) - named)
    if orphans:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = folder.root / f"recovered-files-{stamp}"
        target.mkdir(mode=0o700)
        for sha in orphans:
            source = blobs.path_for(sha)
            copy = target / f"{sha[:16]}{_extension(source)}"
            shutil.copy2(source, copy)
            os.chmod(copy, 0o600)
            result.recovered_files.append(copy)
        result.recovered_files_dir = target
    folder.write_record()
    return result


def _extension(path: Path) -> str:
    """A file name ending a person's programs recognise, from the content."""
    try:
        with open(path, "rb") as f:
            head = f.read(intake.SNIFF_BYTES)
        kind = intake.sniff(head, whole=len(head) < intake.SNIFF_BYTES)
    except (OSError, intake.IntakeRefused):
        return ""
    return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
            "application/dicom": ".dcm", "image/tiff": ".tif", "image/webp": ".webp",
            "application/msword": ".doc", "text/csv": ".csv", "text/plain": ".txt"}.get(
        kind.mime, ".docx" if "wordprocessing" in kind.mime else "")
