"""Removing this computer's copy of a data folder's data (a sign-out on a shared workstation,
a laptop handed on): the cache, the stored documents, hand-over copies and the keys.

The key goes first after a marker is written: from then on nothing left behind can be read by
anyone, and a removal killed half-way is finished by the next start (the marker says so)
instead of being taken for a damaged cache. What has not reached the server is listed by the
caller (``Workspace.unsent_work``) and confirmed by the person before this runs.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from desktop import datafolder, folder_key
from desktop.errors import DataFolderError

log = logging.getLogger(__name__)

MARKER = "removing-local-copy"
SIDE_FILES = ("", "-wal", "-shm", "-journal")


def removal_pending(root: Path) -> bool:
    return (Path(root) / MARKER).exists()


def remove(folder: datafolder.DataFolder) -> None:
    """Remove the folder's cache, documents, hand-over copies and keys (keychain entry
    included). Only with the folder to this process alone: another open window or command
    would go on writing into it."""
    hold = folder.hold(exclusive=True)
    try:
        if hold is None:
            raise DataFolderError(
                f"The data folder {folder.root} is open in another Case Desk window or "
                "command; close it, then remove this computer's copy again.")
        marker = folder.root / MARKER
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fsync(fd)
        os.close(fd)
        finish(folder)
    finally:
        if hold is not None:
            os.close(hold)


def finish(folder: datafolder.DataFolder) -> None:
    """Everything the marker promises, in an order where any point is a safe stop."""
    folder_key.forget(folder.root)  # nothing left can be read from here on
    for suffix in SIDE_FILES:
        Path(f"{folder.cache}{suffix}").unlink(missing_ok=True)
    for leftover in folder.root.glob(folder.cache.name + ".*"):  # set aside, half-made
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
    for tree in (folder.blobs, folder.hand_over):
        shutil.rmtree(tree, ignore_errors=True)
    folder.record.unlink(missing_ok=True)
    folder.lock.unlink(missing_ok=True)  # a sync ran here: no longer true of what is left
    (folder.root / MARKER).unlink(missing_ok=True)
    log.info("this computer's copy of the data folder was removed")
