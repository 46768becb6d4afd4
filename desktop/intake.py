"""Taking files into Case Desk: what a file is, whether we accept it, and a safe copy of it.

Qt-free and database-free on purpose: the Workspace decides what a file *means* for a case
(rows, duplicates, outbox); this module only answers "what is it?" and "where are its bytes?".

- The type is sniffed from the content, never the name: clinicians' exports are often
  misnamed, and the server and viewers trust the MIME type we record.
- Bytes live in a content-addressed store (``root/ab/cdef…``). A blob is written to a temp
  file in the store, fsynced, renamed into place and its folder fsynced, so the row that names
  it can commit knowing the bytes survive a crash. Copying, hashing and sealing happen in one
  pass through a fixed buffer, so a 1 GiB scan costs the same memory as a 1 KiB note.
- Given the folder's keys, blobs are sealed (``blob_seal``: AES-256-GCM in segments) and named
  by a keyed hash of their SHA-256, which says nothing about the content; every read goes
  through :meth:`BlobStore.open`, which checks what it hands out.
- Every problem is a per-file refusal worded for a clinician; one bad file never stops a batch.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from desktop import file_integrity
from desktop.blob_seal import MAGIC, BlobDamaged, BlobKeys, SealedReader, Sealer, is_sealed
from desktop.errors import CaseDeskError, DataFolderError, NotFoundError, ValidationError
from desktop.file_integrity import DicomPatient

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB; the Workspace may pass its own setting
CHUNK_BYTES = 4 << 20  # copy buffer: few GIL round trips per GiB, so a busy intake leaves the GUI thread alone
SNIFF_BYTES = 8192  # enough for every magic number and a fair CSV sample

LAB = "lab"
RADIOLOGY = "radiology"
CATEGORIES = (LAB, RADIOLOGY)

FILE_MODE = 0o600
DIR_MODE = 0o700
_TEMP_PREFIX = ".tmp-"
_LOCK_NAME = ".intake.lock"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

ACCEPTED_TYPES = "PDF, PNG, JPEG, DICOM, TIFF, WebP, Word and text/CSV files"

# Names that operating systems and tools drop into folders. Inside a dropped folder they are
# noise, not documents, so they are skipped without a word (a file chosen explicitly is still
# judged on its content).
_JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})


# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class FileKind:
    """What a file is, as recorded on the document: MIME type, a human label, guessed category."""

    mime: str
    label: str
    category: str


@dataclass(frozen=True)
class StoredBlob:
    """Bytes safely in the blob store: their SHA-256 (lower-case hex), size and location."""

    sha256: str
    size: int
    path: Path


@dataclass(frozen=True, eq=False)
class StoredBytes:
    """A stored document's bytes, to be read through the store (decrypted and checked):
    what viewers, uploads and hand-overs are given instead of a path. Equal when the
    content is (two documents with the same bytes share them)."""

    store: BlobStore
    sha256: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredBytes) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def open(self) -> BinaryIO:
        """A seekable reader of the plaintext; :class:`BlobDamaged` as soon as a piece fails
        its check, :class:`NotFoundError` when the bytes are not on this computer."""
        return self.store.open(self.sha256)

    def read(self) -> bytes:
        """All of it, in memory (a preview): checked before it is returned."""
        with self.open() as f:
            return f.read()

    def size(self) -> int:
        with self.open() as f:
            return int(f.seek(0, os.SEEK_END))


@dataclass(frozen=True)
class Candidate:
    """A regular file found by :func:`collect`, to be judged by :func:`prepare`."""

    path: Path
    size: int


@dataclass(frozen=True)
class Refusal:
    """A file or folder that will not be attached, with the reason in words for a clinician."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Prepared:
    """A file accepted for a case: its bytes are in the store, fsynced, before any row exists."""

    source: Path
    name: str  # the file's base name as the clinician knows it
    kind: FileKind
    blob: StoredBlob
    category: str  # the caller's choice, else the guess in ``kind.category``
    # The patient a DICOM header names (file_integrity reads it while checking the file).
    dicom_patient: DicomPatient | None = None


class IntakeRefused(CaseDeskError):
    """A file cannot be taken in; ``str()`` is the reason, worded for a clinician."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass
class CollectResult:
    """What a collection removed: unreferenced blobs, leftover temp files, their bytes."""

    blobs: int = 0
    temp_files: int = 0
    bytes: int = 0
    kept: int = 0  # distinct blobs some row still names


class BlobStoreError(DataFolderError):
    """The blob store itself cannot be written (disk full, folder not writable, …)."""


# ------------------------------------------------------------------ sniffing

PDF = FileKind("application/pdf", "PDF document", LAB)
PNG = FileKind("image/png", "PNG image", RADIOLOGY)
JPEG = FileKind("image/jpeg", "JPEG image", RADIOLOGY)
DICOM = FileKind("application/dicom", "DICOM image", RADIOLOGY)
TIFF = FileKind("image/tiff", "TIFF image", RADIOLOGY)
WEBP = FileKind("image/webp", "WebP image", RADIOLOGY)
DOC = FileKind("application/msword", "Word document (.doc)", LAB)
DOCX = FileKind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "Word document (.docx)",
    LAB,
)
CSV = FileKind("text/csv", "CSV table", LAB)
TEXT = FileKind("text/plain", "text", LAB)

# Common formats we do not take, so the refusal can say what the file looks like.
_LOOKS_LIKE: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"MZ", "a Windows program"),
    (0, b"\x7fELF", "a program"),
    (4, b"ftyp", "a video or HEIC photo"),
    (0, b"ID3", "an audio file"),
    (0, b"\xff\xfe", "UTF-16 text"),
    (0, b"\xfe\xff", "UTF-16 text"),
)


def sniff(head: bytes, whole: bool, opener: Callable[[], BinaryIO] | None = None) -> FileKind:
    """Name a file's type from its first bytes; raise :class:`IntakeRefused` if we don't take it.

    ``head`` is the start of the file (:data:`SNIFF_BYTES` is plenty), ``whole`` says whether it
    is the entire file. ``opener`` gives a seekable handle on the full content; it is only
    used for ZIP files, where telling a Word document from an archive needs the zip directory.
    """
    if not head:
        raise IntakeRefused("empty file — nothing to attach")
    # DICOM first: its 128-byte preamble is free-form and may itself start with TIFF magic.
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic and BigTIFF
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return DOC
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _sniff_zip(opener)
    kind = _sniff_text(head, whole)
    if kind is not None:
        return kind
    for offset, magic, what in _LOOKS_LIKE:
        if head[offset : offset + len(magic)] == magic:
            raise IntakeRefused(_unsupported(what))
    raise IntakeRefused(_unsupported(None))




def _unsupported(what: str | None) -> str:
    looks = f"looks like {what}" if what else "the content is not a format we recognise"
    return f"unsupported type: {looks}; Case Desk accepts {ACCEPTED_TYPES}"


def _sniff_zip(opener: Callable[[], BinaryIO] | None) -> FileKind:
    """A .docx is a zip with a ``word/`` folder; zipfile reads only the central directory."""
    what = "a ZIP archive"
    if opener is not None:
        try:
            f = opener()
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            names = []
            what = "a damaged ZIP archive"
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            what = "an Excel workbook"
        elif any(n.startswith("ppt/") for n in names):
            what = "a PowerPoint presentation"
    raise IntakeRefused(_unsupported(what))


def _sniff_text(head: bytes, whole: bool) -> FileKind | None:
    """Text if it has no NUL and almost no control bytes (UTF-8, or a legacy 8-bit encoding)."""
    if b"\x00" in head:
        return None
    # Tab, newlines, form feed and the DOS end-of-file mark (0x1A) are at home in text.
    controls = sum(head.count(bytes([c])) for c in (*range(1, 9), 11, *range(14, 26), *range(27, 32), 127))
    if controls > len(head) // 100:
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=whole)
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
    return CSV if _looks_like_csv(text, whole) else TEXT


def _looks_like_csv(text: str, whole: bool) -> bool:
    """CSV when one delimiter splits every line into the same number (≥ 2) of fields.

    csv.Sniffer guesses too eagerly on prose; a consistent field count across lines (with
    proper quote handling from csv.reader) is a simpler rule that holds for real exports.
    """
    lines = text.splitlines()
    if not whole and len(lines) > 1:
        lines = lines[:-1]  # the sample cut the last line short
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2:
        return False
    for delimiter in (",", ";", "\t", "|"):
        if not any(delimiter in line for line in lines):
            continue
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False


# ------------------------------------------------------------------ reasons in words


def format_size(n: int) -> str:
    """Sizes the way a person reads them: ``1.2 GiB``, ``512 KiB``, ``1 GiB``."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "bytes":
                return f"{n} bytes"
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _too_large(size: int | None, limit: int) -> str:
    what = f"{format_size(size)} exceeds" if size is not None else "the file grew beyond"
    return f"too large: {what} the {format_size(limit)} limit (change it in settings)"


def _unreadable(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable: permission denied — check the file's permissions"
    if exc.errno == errno.ENOENT:
        return "not found — it may have been moved or deleted"
    if exc.errno == errno.ELOOP:
        return "symlink loop — the link points back to itself"
    if exc.errno == errno.EIO:
        return "unreadable: the disk reported a read error — copy the file again from its source"
    detail = (exc.strerror or "unknown error").lower()
    return f"unreadable: {detail}"


def _store_failed(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "could not keep a copy: the disk is full — free some space and try again"
    detail = (exc.strerror or "unknown error").lower()
    return f"could not keep a copy in Case Desk's data folder: {detail}"


# ------------------------------------------------------------------ blob store


class BlobStore:
    """Content-addressed document bytes under ``root/ab/cdef…``.

    With *keys*, every blob is sealed (AES-256-GCM) and its name is a keyed hash of its
    SHA-256; without (the unencrypted store of an earlier release, being converted, and the
    benchmarks' baseline), the name is the SHA-256 itself and the bytes are as they came.
    Blobs are immutable once renamed into place, so readers never see a partial file and two
    identical files share one blob. Files are 0600 and folders 0700: these are patient records.
    """

    def __init__(self, root: Path, keys: BlobKeys | None = None) -> None:
        self.root = Path(root)
        self.keys = keys

    # -- lookup

    def name_for(self, sha256: str) -> str:
        """The file name of the blob with this digest (lower-case hex)."""
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
            raise ValidationError("Not a valid SHA-256 digest (64 lower-case hex characters).")
        return self.keys.name_for(sha256) if self.keys is not None else sha256

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        name = self.name_for(sha256)
        return self.root / name[:2] / name[2:]

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def ref(self, sha256: str) -> StoredBytes:
        """The document's bytes as a handle to read them by (no disk access)."""
        self.name_for(sha256)  # a valid digest, or ValidationError now
        return StoredBytes(self, sha256)

    def open(self, sha256: str) -> BinaryIO:
        """Open a blob for reading its content (decrypted and checked); the caller closes
        it. :class:`BlobDamaged` when the stored bytes fail their check."""
        path = self.path_for(sha256)
        try:
            if self.keys is None:
                return open(path, "rb")
            reader = SealedReader(path, self.keys, sha256)
        except FileNotFoundError:
            raise NotFoundError(
                "This document's content is not on this computer; download it first."
            ) from None
        except BlobDamaged:
            log.warning("stored document failed its check")
            raise
        return reader  # type: ignore[return-value]

    def verify(self, sha256: str) -> int:
        """Read the whole blob, checking every piece (before it is sent anywhere); its size.
        :class:`BlobDamaged` when any piece fails."""
        size = 0
        with self.open(sha256) as f:
            if self.keys is None:
                digest = hashlib.sha256()
                while chunk := f.read(CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                if digest.hexdigest() != sha256:
                    raise BlobDamaged()
                return size
            while chunk := f.read(CHUNK_BYTES):
                size += len(chunk)
        return size

    # -- writing

    def ingest(self, source: Path, max_size: int | None = DEFAULT_MAX_BYTES) -> StoredBlob:
        """Copy a file into the store, hashing on the way; refuse it once it exceeds max_size.

        The limit is enforced while copying, not just from the size seen up front: a file
        that is still being written (a scanner, a sync client) can grow under us.
        """
        try:
            with _open_source(source) as f:
                st = os.fstat(f.fileno())
                if max_size is not None and st.st_size > max_size:
                    raise IntakeRefused(_too_large(st.st_size, max_size))
                return self._ingest_file(f, max_size)
        except IntakeRefused as exc:
            exc.path = Path(source)
            raise

    def ingest_stream(
        self, chunks: Iterable[bytes], max_size: int | None = None,
        check: Callable[[Callable[[], BinaryIO], int], None] | None = None,
    ) -> StoredBlob:
        """Store bytes that arrive piecewise (a download), with the same atomicity as ingest.

        Exceptions from ``chunks`` (network errors) propagate unchanged; no temp file is left.
        ``check(open_content, size)`` may refuse the bytes (by raising) before they are kept;
        ``open_content()`` reads them back as stored (decrypted), never as a path in clear.
        """

        def write_all(write: Callable[[memoryview], None], digest: hashlib._Hash) -> int:
            size = 0
            for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise IntakeRefused(_too_large(None, max_size))
                digest.update(chunk)
                write(memoryview(chunk))
            return size

        return self._store(write_all, check)

    def _discard_temp_files(self) -> tuple[int, int]:
        """(count, bytes) of the temp files removed; only with the lock held exclusively."""
        removed = freed = 0
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return 0, 0
        for entry in entries:
            if entry.name.startswith(_TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    removed, freed = removed + 1, freed + size
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log.info("temp file not removed: %s", type(exc).__name__)
        return removed, freed

    # -- who may write, who may collect

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold around taking bytes in *and* committing the row that names them: the
        collector never runs meanwhile, in this process or another (a shared lock on
        ``.intake.lock``; the collector takes it exclusively)."""
        fd = self._lock_file()
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """True inside when no intake is under way anywhere (and none can start until the
        block ends); False when one is, or when this system offers no such lock."""
        fd = self._lock_file()
        if fd is None:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _lock_file(self) -> int | None:
        if fcntl is None:
            return None
        try:
            self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            return os.open(self.root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError:
            try:  # a read-only folder: its lock still works for reading
                return os.open(self.root / _LOCK_NAME, os.O_RDONLY)
            except OSError:
                return None

    def sweep_temp_files(self) -> tuple[int, int]:
        """Remove every temp file, however new, when no intake is under way anywhere (a
        killed one leaves its temp file behind); (count, bytes) removed."""
        with self.exclusive() as alone:
            if not alone:
                return 0, 0
            return self._discard_temp_files()

    def collect(self, referenced: Callable[[], set[str]]) -> CollectResult | None:
        """Remove blobs no row names, and leftover temp files; None when an intake is under
        way (nothing is removed then).

        *referenced* is asked only once the lock is held, so a row committed by an intake
        that finished a moment ago is in it, and no new one can start until the end.
        """
        with self.exclusive() as alone:
            if not alone:
                return None
            named = referenced()
            keep = {self.name_for(sha) for sha in named}
            result = CollectResult()
            result.temp_files, result.bytes = self._discard_temp_files()
            for folder in _blob_folders(self.root):
                for entry in os.scandir(folder):
                    sha = folder.name + entry.name
                    if not _SHA256_RE.fullmatch(sha) or sha in keep:
                        continue
                    try:
                        size = entry.stat(follow_symlinks=False).st_size
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    result.blobs += 1
                    result.bytes += size
            result.kept = len(named)
        log.info("blob store collected: %d blob(s), %d temp file(s), %d bytes",
                 result.blobs, result.temp_files, result.bytes)
        return result

    def stored(self) -> Iterator[str]:
        """The file name of every blob in the store (its digest, when unencrypted; see
        :meth:`name_for`)."""
        for folder in _blob_folders(self.root):
            for entry in os.scandir(folder):
                name = folder.name + entry.name
                if _SHA256_RE.fullmatch(name) and entry.is_file(follow_symlinks=False):
                    yield name

    def open_named(self, name: str) -> BinaryIO:
        """A blob by its file name, its digest unknown (a store being checked or repaired):
        reading it to the end checks it whole (:meth:`SealedReader.digest_all`)."""
        path = self.root / name[:2] / name[2:]
        if self.keys is None:
            return open(path, "rb")
        return SealedReader(path, self.keys)  # type: ignore[return-value]

    def content_digest(self, name: str) -> str:
        """The SHA-256 of a stored blob's content, read whole and checked."""
        with self.open_named(name) as f:
            if isinstance(f, SealedReader):
                return f.digest_all()
            digest = hashlib.sha256()
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
            return digest.hexdigest()

    # -- internals

    def _ingest_file(
        self, f: BinaryIO, max_size: int | None, expect: tuple[int, bytes] | None = None,
        observe: Callable[[memoryview], None] | None = None,
        check: Callable[[Callable[[], BinaryIO], int], None] | None = None,
    ) -> StoredBlob:
        """Copy from an open file; ``expect`` = (size, head) the caller judged, checked on the way.
        ``observe`` sees each chunk copied; ``check(open_content, size)`` may refuse the copy
        (read back through the store's decrypting reader) before it is kept.

        Checking against what was sniffed means the bytes we keep are the bytes we typed: a file
        swapped or rewritten between the look and the copy is refused, not mislabelled.
        """
        fd = f.fileno()
        os.lseek(fd, 0, os.SEEK_SET)
        buf = bytearray(CHUNK_BYTES)
        view = memoryview(buf)

        def write_all(write: Callable[[memoryview], None], digest: hashlib._Hash) -> int:
            size = 0
            first = True
            while True:
                try:
                    n = f.readinto(view)  # type: ignore[attr-defined]
                except OSError as exc:
                    raise IntakeRefused(_unreadable(exc)) from None
                if not n:
                    break
                if first and expect is not None:
                    seen = min(n, len(expect[1]))
                    if view[:seen] != expect[1][:seen]:
                        raise IntakeRefused(_changed())
                first = False
                size += n
                if max_size is not None and size > max_size:
                    raise IntakeRefused(_too_large(None, max_size))
                chunk = view[:n]
                digest.update(chunk)
                if observe is not None:
                    observe(chunk)
                write(chunk)
            if expect is not None and size != expect[0]:
                raise IntakeRefused(_changed())
            return size

        return self._store(write_all, check)

    def _store(
        self, write_all: Callable[[Callable[[memoryview], None], hashlib._Hash], int],
        check: Callable[[Callable[[], BinaryIO], int], None] | None = None,
    ) -> StoredBlob:
        """Temp file in the store → write + hash (+ seal) → fsync → rename into place →
        fsync folder.

        Only our own disk operations become BlobStoreError; whatever the producer raises
        (a refusal, a network error) propagates as it is. The temp file goes either way.
        """
        with _storing():
            self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            out, tmp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.root)
        tmp = Path(tmp_name)
        try:
            try:
                with _storing():
                    if hasattr(os, "fchmod"):  # mkstemp already made it 0600; be explicit
                        os.fchmod(out, FILE_MODE)
                digest = hashlib.sha256()
                if self.keys is None:
                    size = write_all(lambda chunk: _write_all(out, chunk), digest)
                else:
                    sealer = Sealer(self.keys)
                    _write_all(out, memoryview(sealer.header))

                    def sealed(chunk: memoryview) -> None:
                        for piece in sealer.update(chunk):
                            _write_all(out, piece)

                    size = write_all(sealed, digest)
                    _write_all(out, sealer.finish(digest.digest()))
                with _storing():
                    _fsync(out)
                    stored_size = os.fstat(out).st_size
            finally:
                os.close(out)
            sha = digest.hexdigest()
            if check is not None:
                keys = self.keys
                check(lambda: SealedReader(tmp, keys, sha) if keys is not None  # type: ignore[return-value]
                      else open(tmp, "rb"), size)
            final = self.path_for(sha)
            with _storing():
                self._ensure_folder(final.parent)
                try:
                    existing = os.stat(final)
                except FileNotFoundError:
                    existing = None
                if existing is not None and existing.st_size == stored_size and \
                        _ours_alone(existing):
                    tmp.unlink()  # same content already kept: reuse it
                else:  # new, or a damaged earlier copy: ours is verified, put it in place
                    os.replace(tmp, final)
                    _fsync_dir(final.parent)
            return StoredBlob(sha, size, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _ensure_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            return
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
        _fsync_dir(self.root)  # the new folder's entry must survive a crash too


def _ours_alone(st: os.stat_result) -> bool:
    """A stored blob no other account owns or holds a link to (else it is replaced by the
    fresh copy, which leaves any outside link pointing at the old file)."""
    if os.name == "nt":
        return True
    return st.st_nlink == 1 and st.st_uid == os.geteuid()


def _blob_folders(root: Path) -> list[Path]:
    try:
        with os.scandir(root) as it:
            return sorted(Path(e.path) for e in it
                          if len(e.name) == 2 and e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _changed() -> str:
    return "the file changed while it was being read — wait until it is fully saved, then try again"


@contextlib.contextmanager
def _storing() -> Iterator[None]:
    """Our own disk writes failing (disk full, read-only folder) become a BlobStoreError."""
    try:
        yield
    except OSError as exc:
        raise BlobStoreError(_store_failed(exc)) from exc


def _write_all(fd: int, data: memoryview) -> None:
    with _storing():
        while data:
            written = os.write(fd, data)
            data = data[written:]


def _fsync(fd: int) -> None:
    """fsync, and on macOS the full flush: plain fsync there stops at the drive's cache."""
    if fcntl is not None and hasattr(fcntl, "F_FULLFSYNC"):
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass  # not supported by this filesystem: fall back to fsync
    os.fsync(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable. Windows cannot open folders for this; NTFS journals renames."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _open_source(path: Path) -> BinaryIO:
    """Open a regular file for reading, never blocking on a FIFO; problems become refusals."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IntakeRefused(_unreadable(exc), Path(path)) from None
    try:
        _check_regular(os.fstat(fd))  # before FileIO, which itself refuses folders
    except IntakeRefused as exc:
        os.close(fd)
        exc.path = Path(path)
        raise
    return open(fd, "rb", buffering=0)


def _check_regular(st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IntakeRefused("is a folder — attach the files inside it instead")
    if not stat.S_ISREG(st.st_mode):
        raise IntakeRefused("not a regular file — only ordinary files can be attached")


def _read_head(f: BinaryIO) -> bytes:
    parts: list[bytes] = []
    remaining = SNIFF_BYTES
    while remaining:
        try:
            part = f.read(remaining)
        except OSError as exc:
            raise IntakeRefused(_unreadable(exc)) from None
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


# ------------------------------------------------------------------ walking


def collect(paths: Iterable[Path]) -> list[Candidate | Refusal]:
    """Expand dropped files and folders into regular files to judge, or per-path refusals.

    Given paths keep their order; folders are walked depth-first in name order so a batch is
    deterministic. Links are followed; a folder reached again through its own ancestry is a
    symlink loop and is reported, and a folder already walked by another route is not walked
    twice. Hidden files and OS clutter inside folders are skipped silently. The walk uses an
    explicit stack, so a pathologically deep tree cannot exhaust Python's recursion limit.
    """
    out: list[Candidate | Refusal] = []
    seen_dirs: set[tuple[int, int]] = set()
    for raw in paths:
        stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(Path(raw), frozenset())]
        while stack:
            path, ancestors = stack.pop()
            item, key = _examine(path, seen_dirs, ancestors)
            if item is not None:
                out.append(item)
            if key is None:
                continue
            try:
                with os.scandir(path) as it:
                    names = sorted(entry.name for entry in it)
            except OSError as exc:
                out.append(Refusal(path, _unreadable_folder(exc)))
                continue
            inner = ancestors | {key}
            stack.extend((path / name, inner) for name in reversed(names) if not _is_clutter(name))
    refused = sum(isinstance(item, Refusal) for item in out)
    log.debug("collect: %d candidates, %d refusals", len(out) - refused, refused)
    return out


def _examine(
    path: Path, seen_dirs: set[tuple[int, int]], ancestors: frozenset[tuple[int, int]]
) -> tuple[Candidate | Refusal | None, tuple[int, int] | None]:
    """One path's verdict, and the folder key if it is a folder still to be walked."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return Refusal(path, "not found: the link points to a file that no longer exists"), None
        return Refusal(path, "not found — it may have been moved or deleted"), None
    except OSError as exc:
        return Refusal(path, _unreadable(exc)), None
    if stat.S_ISREG(st.st_mode):
        return Candidate(path, st.st_size), None
    if not stat.S_ISDIR(st.st_mode):
        return Refusal(path, "not a regular file — only ordinary files can be attached"), None
    key = (st.st_dev, st.st_ino)
    if key in ancestors:
        return Refusal(path, "symlink loop — this link points back to a folder that contains it"), None
    if key in seen_dirs:
        return None, None  # already walked by another route; its files are in the batch once
    seen_dirs.add(key)
    return None, key


def _unreadable_folder(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable folder: permission denied — check the folder's permissions"
    return "unreadable folder: " + (exc.strerror or "unknown error").lower()


def _is_clutter(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_NAMES or name.startswith("~$")


# ------------------------------------------------------------------ the one call


def prepare(
    path: Path,
    store: BlobStore,
    max_size: int | None = DEFAULT_MAX_BYTES,
    category: str | None = None,
) -> Prepared:
    """Judge one file and keep its bytes: the Workspace's single entry point per file.

    Checks, in order: it opens, it is a regular file, not empty, within ``max_size``, of a type
    we accept (from its content), not a program or script, not text named as a binary format
    (``file_integrity.judge``). Then copies it into ``store`` (hash on the way, fsynced), and
    checks the copy is a whole file of its type (``file_integrity``) before keeping it.
    Raises :class:`IntakeRefused` with the reason; :class:`ValidationError` for a bad category.
    Duplicates are not judged here: the Workspace compares ``blob.sha256`` within the case.
    """
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"Category must be one of: {', '.join(CATEGORIES)}.")
    path = Path(path)
    try:
        with _open_source(path) as f:
            st = os.fstat(f.fileno())
            if st.st_size == 0:
                raise IntakeRefused("empty file — nothing to attach")
            if max_size is not None and st.st_size > max_size:
                raise IntakeRefused(_too_large(st.st_size, max_size))
            head = _read_head(f)
            kind = sniff(head, len(head) >= st.st_size, lambda: f)
            verdict = _Checked()
            try:
                file_integrity.judge(path.name, head, kind.mime)
            except file_integrity.Refused as exc:
                raise IntakeRefused(str(exc)) from None
            inspection = file_integrity.Inspection(kind.mime, head)
            blob = store._ingest_file(f, max_size, expect=(st.st_size, head),
                                      observe=inspection.feed,
                                      check=lambda content, size: verdict.of(inspection, content, size))
    except IntakeRefused as exc:
        exc.path = path
        raise
    except BlobStoreError as exc:  # disk full etc.: still this file's verdict, not the batch's
        raise IntakeRefused(str(exc), path) from exc
    return Prepared(
        source=path,
        name=path.name,
        kind=kind,
        blob=blob,
        category=category or kind.category,
        dicom_patient=verdict.dicom_patient,
    )


class _Checked:
    """The structure check of the copy, run before the copy is kept (a refusal leaves no
    blob behind); keeps what it learnt."""

    dicom_patient: DicomPatient | None = None

    def of(self, inspection: file_integrity.Inspection, open_content: Callable[[], BinaryIO],
           size: int) -> None:
        try:
            self.dicom_patient = inspection.finish(open_content, size).dicom_patient
        except file_integrity.Refused as exc:
            raise IntakeRefused(str(exc)) from None


def sniff_file(path: Path) -> FileKind:
    """The type of a stored file, judged as intake judges it (:class:`IntakeRefused` if it is
    none Case Desk takes)."""
    with _open_source(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = _read_head(f)
        return sniff(head, len(head) >= size, lambda: f)


def sniff_stream(f: BinaryIO) -> FileKind:
    """The type of stored content opened for reading (a blob read back through its store),
    judged as intake judges a file."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    head = _read_head(f)
    return sniff(head, len(head) >= size, lambda: f)


# ------------------------------------------------------------------ an earlier, unsealed store


def _first_blob(root: Path) -> Path | None:
    for folder in _blob_folders(root):
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.is_file(follow_symlinks=False):
                        return Path(entry.path)
        except OSError:
            continue
    return None


def any_blob_stored(root: Path) -> bool:
    return _first_blob(root) is not None


def sealed_blob_stored(root: Path) -> bool:
    """Whether the store holds sealed blobs (a store is sealed whole once converted)."""
    first = _first_blob(root)
    if first is None:
        return False
    try:
        with open(first, "rb") as f:
            return is_sealed(f.read(len(MAGIC)))
    except OSError:
        return False


def seal_plain_blobs(store: BlobStore) -> tuple[int, int]:
    """Seal every blob an earlier release stored in clear; (sealed, left as they were).

    One blob at a time, each crash-safe: its sealed copy is written to a temp file, fsynced
    and renamed into place (under its keyed name) before the clear file is removed, so a kill
    at any point leaves the clear file, or the sealed one, or both (the next run seals it
    again and removes the clear one). A clear file whose content no longer matches its name
    (damaged before the upgrade) is sealed under the digest of what it holds, and logged.
    """
    assert store.keys is not None
    sealed = skipped = 0
    with store.exclusive() as alone:
        if not alone and fcntl is not None:
            raise BlobStoreError("documents are being attached or downloaded by another Case "
                                 "Desk program; close it and start again")
        store._discard_temp_files()
        for folder in _blob_folders(store.root):
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                name = folder.name + entry.name
                if not _SHA256_RE.fullmatch(name) or not entry.is_file(follow_symlinks=False):
                    continue
                with open(entry.path, "rb", buffering=0) as f:
                    if is_sealed(f.read(len(MAGIC))):
                        continue
                    blob = store._ingest_file(f, None)
                if blob.sha256 != name:
                    log.warning("an unencrypted blob did not match its name; sealed as found")
                    skipped += 1
                os.unlink(entry.path)
                _fsync_dir(folder)
                sealed += 1
    log.info("sealed %d stored document(s) of an earlier release", sealed)
    return sealed, skipped
