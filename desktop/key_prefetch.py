"""The data folder's keys, read by a short-lived helper process while the window's libraries load.

Reading the key from the OS keychain means importing keyring (~65 ms of Python here; a real
keychain adds its backend's discovery and a D-Bus or system call) and deriving the folder's
keys. Done in a thread, that work takes turns with the window's own start for the one
interpreter lock, and the first paint of the case list waits for both. A second process runs
it on another core: started before Qt is imported, it is done by the time the window wants
the list (`python -m bench.gui --only startup` prints the figures).

The helper is this program itself (``--fetch-folder-key``), so the packaged app needs
nothing more. It writes the folder's keys to a pipe that only the two processes hold — never
to disk, the command line, the environment or a log — and exits. The key it sends is
checked against the folder's key record before anything is written with it.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FLAG = "--fetch-folder-key"
KEY_FILE = "keys.json"  # folder_key.KEY_FILE; not imported here, to keep this import light

# The helper's exit codes besides 0 (keys written).
NOT_ENCRYPTED = 3  # no key record: nothing encrypted yet, no key needed
NOT_AT_HAND = 4  # a passphrase folder, or the keychain refused: the full start-up says why



@dataclass(frozen=True, repr=False)
class FetchedKeys:
    """What the helper hands over: the folder's data key, which the start-up checks against
    the key record and derives the rest from again (``folder_key``), and the cache's key,
    for the start window's read-only first glance at the list (a wrong one reads nothing)."""

    data: bytes
    cache: bytes

    def __repr__(self) -> str:  # never a key in a log or a traceback
        return "FetchedKeys(…)"


def helper_command(root: Path) -> list[str]:
    if getattr(sys, "frozen", False):  # the packaged app: its own executable
        return [sys.executable, FLAG, str(root)]
    return [sys.executable, "-m", "desktop", FLAG, str(root)]


class KeyPrefetch:
    """The helper process and, once it has answered, the folder's keys."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._keys: FetchedKeys | None = None
        self._answered = False
        self._encrypted = True
        self.exit_code: int | None = None  # the helper's, once it has answered
        self._lock = threading.Lock()  # the start window's thread and the start-up both ask
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            helper_command(self.root), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True,
            # No console window flashing up beside the window on Windows.
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))

    def wait(self, timeout: float) -> bool:
        """Whether the helper has answered within *timeout* seconds."""
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            return self._wait(timeout)
        finally:
            self._lock.release()

    def _wait(self, timeout: float) -> bool:
        if self._answered or self._process is None:
            return True
        try:
            out, _ = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self._answered = True
        code = self.exit_code = self._process.returncode
        self._process = None
        if code == NOT_ENCRYPTED:
            self._encrypted = False
        elif code == 0:
            self._keys = _parse(out)
        else:
            log.info("key helper: no key at hand (exit %s)", code)
        return True

    def result(self, timeout: float) -> tuple[bool, FetchedKeys | None]:
        """(encrypted, keys): (False, None) when the folder has no key yet; keys None when
        they are not at hand within *timeout* (the caller reads them itself)."""
        if not self.wait(timeout):
            return True, None
        return self._encrypted, self._keys

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                process.kill()
                process.communicate()


def start(root: Path) -> KeyPrefetch | None:
    """The helper for a folder whose key is kept somewhere (a key record beside it); None
    for a new folder, or where no process can be started (the caller reads the key itself)."""
    if not (Path(root) / KEY_FILE).is_file():
        return None
    try:
        return KeyPrefetch(root)
    except OSError as exc:
        log.info("key helper not started: %s", type(exc).__name__)
        return None


def _parse(out: bytes) -> FetchedKeys | None:
    try:
        sent = json.loads(out)
        return FetchedKeys(data=base64.b64decode(sent["data"], validate=True),
                           cache=base64.b64decode(sent["cache"], validate=True))
    except (ValueError, KeyError, TypeError):
        log.info("key helper: answer not understood")
        return None


def helper_main(argv: list[str], out: BinaryIO | None = None) -> int:
    """The helper's side: the keys of the folder *argv[0]*, when the keychain gives them at
    once (never a passphrase prompt: the window asks for that itself)."""
    from desktop.folder_key import FolderKeyError, load_record, unlock_from_keychain

    stream = out or sys.stdout.buffer
    if len(argv) != 1 or stream.isatty():  # it answers the window through a pipe, no one else
        return 2
    root = Path(argv[0])
    try:
        record = load_record(root)
        if record is None:
            return NOT_ENCRYPTED
        if not record.in_keychain:
            return NOT_AT_HAND
        keys = unlock_from_keychain(root, record)
    except FolderKeyError:
        return NOT_AT_HAND
    except Exception:  # noqa: BLE001 - any failure: the full start-up reads the key itself
        return NOT_AT_HAND
    sent = {name: base64.b64encode(getattr(keys, name)).decode("ascii")
            for name in ("data", "cache")}
    stream.write(json.dumps(sent).encode("ascii"))
    stream.flush()
    return 0
