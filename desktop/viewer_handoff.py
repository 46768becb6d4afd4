"""Handing a stored document to another program ("Open with system viewer"), safely.

The viewer is a program Case Desk does not control, and the document's name and type came
from a person or a server, so the hand-over trusts neither:

- **A private, read-only copy**, never a link: a viewer that saves writes to its copy, and
  the stored document can never change through it. The copy is decrypted from the store and
  checked against the document's SHA-256 while it is written. Folders are 0700, the copy
  0400. It is the one copy in clear Case Desk makes, because another program must read it:
  it goes to the session's runtime folder (``$XDG_RUNTIME_DIR``, memory the system empties at
  logout) where there is one, else to the data folder's ``open/``, and is removed after a
  day or when the window closes.
- **The extension comes from the content** (sniffed as intake sniffs), never from a name: bytes
  a server labelled "lab-result.exe" open as what they are, or not at all.
- **Programs and scripts are refused**: executables, shebang scripts, HTML/SVG, Office files
  with macros, and anything intake would not take.
- **The viewer's environment is free of Case Desk's secrets**: no ``CASEDESK_*`` variable and
  nothing named like a token, secret, password or key.

Qt-free: the window calls :func:`hand_over` from a worker; a test calls it with its own
opener command.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from desktop.blob_seal import BlobDamaged
from desktop.errors import CaseDeskError, NotFoundError
from desktop.intake import DOCX, IntakeRefused, StoredBytes, sniff_stream

log = logging.getLogger(__name__)

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "application/dicom": ".dcm",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "application/msword": ".doc",
    DOCX.mime: ".docx",
    "text/csv": ".csv",
    "text/plain": ".txt",
}
FOLDER_MODE = 0o700
COPY_MODE = 0o400
KEEP_SECONDS = 24 * 3600.0  # hand-overs older than this are swept away
OPENER_WAIT = 1.5  # seconds an opener has to say it found no program for the file
NOTHING_OPENED = ("No program on this computer could open this file. Install a viewer for it "
                  "(a PDF reader or a DICOM viewer, say), or read it here.")

# The first bytes of programs, and the openings of scripts a viewer might run.
_PROGRAMS = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
             b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")
_SCRIPT = re.compile(
    rb"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!doctype\s+html|<html|<script|<svg|<\?php|@echo\s+off)",
    re.IGNORECASE)
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "CREDENTIAL",
                 "PRIVATE_KEY")
_UNSAFE = re.compile(r"[^\w\- ()]+")


class HandoffRefused(CaseDeskError):
    """The document is not handed to another program; the message says why."""


class NothingOpened(HandoffRefused):
    """The copy is ready, but no program on this computer took it."""


def open_folder_for(blob: StoredBytes) -> Path:
    """Where hand-over copies go: ``$XDG_RUNTIME_DIR/casedesk-open`` when the session has a
    private runtime folder (memory, emptied at logout), else ``<data>/open`` beside the blob
    store."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.name != "nt":
        try:
            st = os.stat(runtime)
            if st.st_uid == os.geteuid() and (st.st_mode & 0o077) == 0:
                return Path(runtime) / "casedesk-open"
        except OSError:
            pass
    return blob.store.root.parent / "open"


def hand_over(blob: StoredBytes, name: str, command: Sequence[str] | None = None,
              folder: Path | None = None) -> Path:
    """Prepare a safe copy of ``blob`` and start the system viewer on it; the copy's path.

    The platform's opener hands the file to the program registered for its type and exits;
    one that exits with a failure found none (:class:`NothingOpened`). One still running after
    a moment is the viewer itself, or an opener waiting on it: the file is open.
    """
    target = prepare(blob, name, folder or open_folder_for(blob))
    process = launch(target, command)
    try:
        code = process.wait(timeout=OPENER_WAIT)
    except subprocess.TimeoutExpired:
        return target
    if code != 0:
        log.info("the system viewer's opener exited with %d", code)
        raise NothingOpened(NOTHING_OPENED)
    return target


def prepare(blob: StoredBytes, name: str, folder: Path) -> Path:
    """A private, read-only copy of ``blob`` under ``folder``, named ``<name's stem>.<ext>``
    with the extension of its sniffed type; :class:`HandoffRefused` for a program, a script
    or anything intake would not take."""
    kind_mime = _judge(blob)
    _private_folder(folder)
    sweep(folder)
    place = folder / secrets.token_hex(8)
    place.mkdir(mode=FOLDER_MODE)
    os.chmod(place, FOLDER_MODE)
    stem = _UNSAFE.sub("_", Path(Path(name).name).stem).strip(" ._") or "document"
    target = place / (stem[:100] + EXTENSIONS[kind_mime])
    _copy_checked(blob, target)
    log.info("document handed to the system viewer as %s", EXTENSIONS[kind_mime])
    return target


def clean_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without Case Desk's variables or anything that looks
    like a secret; what a display needs (DISPLAY, XAUTHORITY, the session bus) stays."""
    source = os.environ if env is None else env
    return {key: value for key, value in source.items()
            if not key.upper().startswith("CASEDESK_")
            and not any(word in key.upper() for word in _SECRET_WORDS)}


def opener_command() -> list[str]:
    """The platform's "open with the default program" command."""
    if sys.platform == "darwin":
        return ["open"]
    if os.name == "nt":
        return ["cmd", "/c", "start", ""]
    return ["xdg-open"]


def launch(path: Path, command: Sequence[str] | None = None) -> subprocess.Popen[bytes]:
    """Start the viewer on ``path`` in its own session, with a clean environment."""
    argv = [*(command or opener_command()), str(path)]
    try:
        return subprocess.Popen(  # noqa: S603 - a fixed opener and a path we made
            argv, env=clean_environment(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
            start_new_session=os.name != "nt")
    except OSError as exc:
        log.info("no system viewer could be started: %s", type(exc).__name__)
        raise NothingOpened(NOTHING_OPENED) from exc


def sweep(folder: Path, older_than: float = KEEP_SECONDS) -> int:
    """Remove old hand-overs, and any link into the blob store (earlier versions handed one
    over: a viewer that saved through it changed the stored document)."""
    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            linked = entry.is_dir(follow_symlinks=False) and any(
                inner.stat(follow_symlinks=False).st_nlink > 1
                for inner in os.scandir(entry.path) if inner.is_file(follow_symlinks=False))
            if st.st_mtime < cutoff or linked or not entry.is_dir(follow_symlinks=False):
                if entry.is_dir(follow_symlinks=False):
                    _make_removable(Path(entry.path))
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
        except OSError:
            log.warning("could not remove an old hand-over copy")
    return removed


def _judge(blob: StoredBytes) -> str:
    try:
        with blob.open() as f:
            head = f.read(8192)
            f.seek(0)
            if head.startswith(_PROGRAMS) or _SCRIPT.match(head):
                raise HandoffRefused("This document's content is a program or a script, so "
                                     "Case Desk does not hand it to another program.")
            try:
                kind = sniff_stream(f)
            except IntakeRefused as exc:
                raise HandoffRefused(f"Case Desk does not hand this document to another "
                                     f"program: {exc.reason}.") from None
            if kind is DOCX and _has_macros(f):
                raise HandoffRefused("This Word document contains macros (a program), so "
                                     "Case Desk does not hand it to another program.")
    except (BlobDamaged, NotFoundError) as exc:
        raise HandoffRefused(str(exc)) from None
    except OSError as exc:
        raise HandoffRefused("This document's bytes could not be read from this computer "
                             f"({exc.strerror or type(exc).__name__}).") from None
    return kind.mime


def _has_macros(f: Any) -> bool:
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            return any(n.lower().endswith("vbaproject.bin") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return True


def _private_folder(folder: Path) -> None:
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = folder.stat().st_mode & 0o777
    if mode != FOLDER_MODE:
        os.chmod(folder, FOLDER_MODE)
        log.info("tightened the hand-over folder from %o to %o", mode, FOLDER_MODE)


def _copy_checked(blob: StoredBytes, target: Path) -> None:
    """Copy while hashing; the copy must have the document's SHA-256."""
    expected = blob.sha256
    digest = hashlib.sha256()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    try:
        with blob.open() as src, open(fd, "wb", closefd=False) as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, COPY_MODE)
    except (BlobDamaged, NotFoundError) as exc:
        target.unlink(missing_ok=True)
        raise HandoffRefused(str(exc)) from None
    finally:
        os.close(fd)
    if digest.hexdigest() != expected:
        target.unlink(missing_ok=True)
        raise HandoffRefused("This document's stored bytes no longer match what was attached; "
                             "attach it again.")
    os.chmod(target, COPY_MODE)


def _make_removable(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, 0o600)
