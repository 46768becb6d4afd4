"""Where a profile's data lives: cache, blobs and logs under one private folder."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from desktop.errors import DataFolderError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

DIR_MODE = 0o700
FILE_MODE = 0o600

ENV_DATA_DIR = "CASEDESK_DATA_DIR"
ENV_PROFILE = "CASEDESK_PROFILE"
DEFAULT_PROFILE = "local"
_PROFILE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFolder:
    root: Path
    # Permissions tightened while preparing it, for the log once it is set up.
    notes: tuple[str, ...] = ()

    @property
    def cache(self) -> Path:
        return self.root / "casedesk.sqlite3"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock(self) -> Path:
        return self.root / "sync.lock"

    @property
    def hand_over(self) -> Path:
        """Private copies handed to the system viewer (desktop.viewer_handoff)."""
        return self.root / "open"

    @property
    def record(self) -> Path:
        """Written once the folder's cache exists: from then on, a missing or empty cache
        here is a loss to report, never a first start."""
        return self.root / "folder.json"

    def signs_of_use(self) -> list[str]:
        """What shows this folder's cache held work, in words: an empty or missing cache
        beside any of these is refused, not replaced."""
        signs = []
        if self.record.exists():
            signs.append(f"its record {self.record.name} says a cache was made here")
        if _any_blob(self.blobs):
            signs.append("documents are stored in blobs/")
        if self.lock.exists():
            signs.append("a sync was run here")
        return signs

    def write_record(self) -> None:
        """Note that this folder's cache exists (once; best effort: a read-only folder
        simply has none)."""
        if self.record.exists():
            return
        data = {"cache": self.cache.name, "recorded_at": datetime.now(UTC).isoformat()}
        tmp = self.record.with_name(self.record.name + ".new")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.record)
        except OSError as exc:
            log.info("folder record not written: %s", type(exc).__name__)
            tmp.unlink(missing_ok=True)

    @property
    def writable(self) -> bool:
        return os.access(self.root, os.W_OK)

    def hold(self, exclusive: bool = False) -> int | None:
        """A lock on the folder, kept until the returned descriptor is closed: shared by
        every open workspace, exclusive for work that replaces the cache (a repair). None
        when the lock cannot be had: exclusive, because the folder is in use; shared, when
        the lock file cannot even be opened (a read-only folder without one). Where the
        system has no such locks (Windows), the descriptor holds nothing."""
        path = self.root / "open.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            try:  # a read-only folder: its lock file, if any, still works
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                return None
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except OSError:
            os.close(fd)
            return None
        return fd


def _any_blob(blobs: Path) -> bool:
    """A stored document anywhere under ``blobs/ab/…`` (temp files at the top do not count)."""
    try:
        with os.scandir(blobs) as top:
            for entry in top:
                if len(entry.name) != 2 or not entry.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(entry.path) as inner:
                    if any(e.is_file(follow_symlinks=False) for e in inner):
                        return True
    except OSError:
        return False
    return False


def resolve(data_dir: str | os.PathLike[str] | None = None, profile: str | None = None) -> Path:
    """Pick the folder: an explicit --data-dir, then $CASEDESK_DATA_DIR, then the user's data dir
    with one sub-folder per server profile."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    profile = profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE
    if not _PROFILE_RE.match(profile):
        raise DataFolderError(
            f"Profile name {profile!r} is not usable: use letters, digits, '.', '_' or '-'."
        )
    import platformdirs  # here, not at the top: the window's first paint does without it

    return Path(platformdirs.user_data_dir("casedesk", appauthor=False)) / profile


def prepare(root: Path) -> DataFolder:
    """Create the folder tree private to the user (0700); refuse a path that is a file."""
    try:
        if root.exists() and not root.is_dir():
            raise DataFolderError(
                f"The data folder {root} is a file, not a folder."
            )
        folder = DataFolder(root)
        for path in (root, folder.blobs, folder.logs):
            if not path.is_dir():
                path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
        dropped = _drop_old_viewer_links(folder.hand_over)
        folder = DataFolder(root, tuple(dropped + check_private(folder)))
    except PermissionError as exc:
        raise DataFolderError(
            f"Cannot create the data folder {root}: permission denied; it must be a folder "
            "you own."
        ) from exc
    except OSError as exc:
        raise DataFolderError(
            f"Cannot create the data folder {root}: {exc.strerror}."
        ) from exc
    return folder


def check_private(folder: DataFolder) -> list[str]:
    """Refuse a folder whose cache (or its journal, or a log) belongs to another account or
    has other hard links: that account could read every patient's data through its own link.
    Looser permissions on our own files and folders are tightened, with a note in the log.

    A blob is checked the same way when it is read or reused (:func:`check_file`): the store
    may hold 100,000 of them, too many to look at on every start.
    """
    root = folder.root
    subfolders = [root, folder.blobs, folder.logs]
    if folder.blobs.is_dir():
        subfolders += [Path(e.path) for e in os.scandir(folder.blobs)
                       if e.is_dir(follow_symlinks=False)]
    notes = [check_file(path, root, DIR_MODE) for path in subfolders]
    files = [Path(f"{folder.cache}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    files += [folder.lock, folder.record, folder.root / "open.lock"]
    if folder.logs.is_dir():
        files += [Path(e.path) for e in os.scandir(folder.logs)]
    notes += [check_file(path, root, FILE_MODE) for path in files]
    return [note for note in notes if note]


def check_file(path: Path, root: Path, mode: int = FILE_MODE) -> str | None:
    """One file or folder of the data folder: ours, not linked elsewhere, at most ``mode``
    (tightened: the note for the log is returned); raises DataFolderError otherwise. Missing
    is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if os.name == "nt":  # no owners or link counts to compare on Windows' ACL model
        return None
    name = path.name if path != root else "the folder itself"
    if stat.S_ISLNK(st.st_mode):
        raise DataFolderError(
            f"The data folder {root} is not safe to use: {name} is a link to somewhere else. "
            "Move the folder's contents to a folder of your own.")
    if st.st_uid != os.geteuid():
        raise DataFolderError(
            f"The data folder {root} is not safe to use: {name} belongs to another account "
            f"(user id {st.st_uid}), which can read the patient data in it. Move it away, or "
            "choose another folder.")
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise DataFolderError(
            f"The data folder {root} is not safe to use: {name} has {st.st_nlink - 1} other "
            "hard link(s) outside Case Desk's control, through which another account may read "
            "the patient data. Copy the folder to a new place and use that copy.")
    loose = stat.S_IMODE(st.st_mode) & ~mode
    if not loose:
        return None
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    except OSError as exc:
        if exc.errno != errno.EROFS:  # a read-only disk: nothing to be done, nothing at risk
            raise
        return None
    return (f"tightened the permissions of {name} from {stat.S_IMODE(st.st_mode):o} to "
            f"{stat.S_IMODE(st.st_mode) & mode:o}")


def _drop_old_viewer_links(hand_over: Path) -> list[str]:
    """Earlier versions handed the viewer a hard link into the blob store (a viewer that
    saved changed the stored document); those links go before the blobs are checked."""
    removed = 0
    try:
        places = [Path(e.path) for e in os.scandir(hand_over) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    for place in places:
        for entry in os.scandir(place):
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_nlink > 1:
                with contextlib.suppress(OSError):  # a read-only folder: reads still work
                    os.unlink(entry.path)
                    removed += 1
    return [f"removed {removed} old viewer link(s) into the blob store"] if removed else []
