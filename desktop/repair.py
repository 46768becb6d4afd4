"""Checking the cache page by page, and repairing one that is damaged, empty or missing.

A repair never works on the damaged file itself: it moves it aside (kept, with its log, for
support), makes a new cache, copies into it whatever SQLite can still read (``salvage``:
the outbox first), and says what was recovered and what was lost. Stored documents that no
recovered row names any more are not deleted: they are copied out (decrypted, and only those
whose bytes pass their check) to a private folder beside the cache, so a person can attach
them again; the repair's report says to delete that folder afterwards.

The cache is encrypted: both work with the data folder's key (``folder_key``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from desktop import intake
from desktop.blob_seal import BlobDamaged, BlobKeys
from desktop.datafolder import DataFolder
from desktop.errors import CacheError, CacheProblem, DataFolderError
from desktop.folder_key import FolderKeys
from desktop.models import cache_health
from desktop.models.cache_health import FileState
from desktop.models.database import connect, create_cache, move_aside
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


def check(folder: DataFolder, keys: FolderKeys | None) -> CheckResult:
    """SQLCipher's check of every page's seal and SQLite's full integrity check (every page,
    every index entry), read-only. *keys*: the folder's (None: an unencrypted cache)."""
    path = folder.cache
    state = cache_health.file_state(path)
    if state is FileState.MISSING:
        return CheckResult(path, "missing", ["the file does not exist"])
    if state is FileState.ZERO_LENGTH:
        return CheckResult(path, "empty", ["the file is empty (zero bytes)"])
    if state is FileState.NOT_A_DATABASE and keys is None:
        return CheckResult(path, "unreadable", ["the file is not an SQLite database"])
    key = keys.cache if keys is not None and state is FileState.NOT_A_DATABASE else None
    try:
        uri = cache_health.read_only_uri(path, writable_folder=folder.writable)
        conn = connect(uri, key, uri=True)
    except cache_health.SQLITE_ERRORS as exc:
        return CheckResult(path, "unreadable", [str(exc)])
    try:
        try:
            problems = cache_health.cipher_integrity_check(conn) if key else []
            problems += cache_health.integrity_check(conn)
        except cache_health.DATABASE_ERRORS as exc:
            if key is not None and "not a database" in str(exc):
                return CheckResult(path, "unreadable", [
                    "it cannot be decrypted with this data folder's key"])
            return CheckResult(path, "damaged", [str(exc)])
        result = CheckResult(path, "damaged" if problems else "sound", problems)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            result.revision = row[0] if row else None
            for table in ("cases", "documents", "pending_changes", "conflicts"):
                result.counts[table] = conn.execute(
                    f"SELECT count(*) FROM {table}").fetchone()[0]
        except cache_health.DATABASE_ERRORS as exc:
            result.state = "damaged" if result.revision else "empty"
            result.problems.append(str(exc))
        return result
    finally:
        conn.close()


def repair(folder: DataFolder, keys: FolderKeys | None) -> RepairResult:
    """Move a damaged, empty or unreadable cache aside, make a new one (encrypted with the
    folder's *keys*) and salvage into it. A cache that checks out is left alone
    (``nothing_to_do``)."""
    if not folder.writable:
        raise CacheError(f"The data folder {folder.root} is read-only, so the cache cannot be "
                         "repaired here.", folder.cache, CacheProblem.READ_ONLY)
    hold = folder.hold(exclusive=True)
    if hold is None:
        raise FolderInUseError(folder.root)
    try:
        before = check(folder, keys)
        if before.sound and before.revision is not None:
            return RepairResult(None, None, nothing_to_do=True)  # opening upgrades it
        blobs = intake.BlobStore(folder.blobs,
                                 BlobKeys(keys.blobs, keys.names) if keys is not None else None)
        with blobs.exclusive() as alone:
            if not alone:
                raise FolderInUseError(folder.root)
            return _repair(folder, before, blobs, keys)
    finally:
        os.close(hold)


def _repair(folder: DataFolder, before: CheckResult, blobs: intake.BlobStore,
            keys: FolderKeys | None) -> RepairResult:
    path = folder.cache
    moved = None
    if before.state != "missing":
        moved = move_aside(path, "damaged")
        log.warning("damaged cache moved aside to %s", moved.name)
    new_key = keys.cache if keys is not None else None
    create_cache(path, key=new_key)
    result = RepairResult(moved, None)
    state = cache_health.file_state(moved) if moved is not None else None
    if moved is not None and (state is FileState.DATABASE or (
            state is FileState.NOT_A_DATABASE and keys is not None)):
        old_key = new_key if state is FileState.NOT_A_DATABASE else None
        result.salvage = salvage(moved, path, source_key=old_key, target_key=new_key)
        named = result.salvage.blobs_named
    else:
        named = set()
    orphans = sorted(set(blobs.stored()) - {blobs.name_for(sha) for sha in named})
    if orphans:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = folder.root / f"recovered-files-{stamp}"
        target.mkdir(mode=0o700)
        for name in orphans:
            try:
                copy = _recover(blobs, name, target)
            except (BlobDamaged, OSError) as exc:
                log.warning("an unnamed stored document was not recovered: %s",
                            type(exc).__name__)
                continue
            result.recovered_files.append(copy)
        result.recovered_files_dir = target
    folder.write_record()
    return result


def _recover(blobs: intake.BlobStore, name: str, target: Path) -> Path:
    """One stored document decrypted into *target*, checked whole before it is kept."""
    digest = blobs.content_digest(name)  # every piece and the whole checked first
    with blobs.open_named(name) as source:
        extension = _extension(source)
        source.seek(0)
        copy = target / f"{digest[:16]}{extension}"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as out:
            while chunk := source.read(intake.CHUNK_BYTES):
                out.write(chunk)
    return copy


def _extension(source: BinaryIO) -> str:
    """A file name ending a person's programs recognise, from the content."""
    try:
        kind = intake.sniff_stream(source)
    except (OSError, intake.IntakeRefused):
        return ""
    return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
            "application/dicom": ".dcm", "image/tiff": ".tif", "image/webp": ".webp",
            "application/msword": ".doc", "text/csv": ".csv", "text/plain": ".txt"}.get(
        kind.mime, ".docx" if "wordprocessing" in kind.mime else "")
