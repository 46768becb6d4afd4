"""Where a profile's data lives: cache, blobs and logs under one private folder."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from desktop.errors import DataFolderError

DIR_MODE = 0o700
FILE_MODE = 0o600

ENV_DATA_DIR = "CASEDESK_DATA_DIR"
ENV_PROFILE = "CASEDESK_PROFILE"
DEFAULT_PROFILE = "local"
_PROFILE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
            path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
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
    files.append(folder.lock)
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
    os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
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
                os.unlink(entry.path)
                removed += 1
    return [f"removed {removed} old viewer link(s) into the blob store"] if removed else []
