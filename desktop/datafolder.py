"""Where a profile's data lives: cache, blobs and logs under one private folder."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from desktop.errors import DataFolderError

ENV_DATA_DIR = "CASEDESK_DATA_DIR"
ENV_PROFILE = "CASEDESK_PROFILE"
DEFAULT_PROFILE = "local"
_PROFILE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class DataFolder:
    root: Path

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
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)
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
