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

# Only what starting the helper needs is imported here (the helper is started before
# anything else, and every millisecond before it starts is one it answers later); logging,
# json and base64 are imported where they are used.
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging
    from typing import BinaryIO


def _log() -> logging.Logger:
    import logging

    return logging.getLogger(__name__)

FLAG = "--fetch-folder-key"
KEY_FILE = "keys.json"  # folder_key.KEY_FILE; not imported here, to keep this import light

# The helper's exit codes besides 0 (keys written).
NOT_ENCRYPTED = 3  # no key record: nothing encrypted yet, no key needed
NOT_AT_HAND = 4  # a passphrase folder, or the keychain refused: the full start-up says why


class FetchedKeys:
    """What the helper hands over: the folder's data key, which the start-up checks against
    the key record and derives the rest from again (``folder_key``), the cache's key, for
    the start window's read-only first glance at the list (a wrong one reads nothing), and
    that glance itself for the default sort (``first_glance``), read with that key."""

    __slots__ = ("cache", "data", "rows")

    def __init__(self, data: bytes, cache: bytes, rows: list[tuple] | None = None) -> None:
        self.data = data
        self.cache = cache
        self.rows = rows

    def __repr__(self) -> str:  # never a key in a log or a traceback
        return "FetchedKeys(…)"


def helper_command(data_dir: str, profile: str = "") -> list[str]:
    """The helper's command line: the window's own --data-dir and --profile ("" for none),
    which the helper resolves to the folder as the window does (``datafolder.resolve``)."""
    if getattr(sys, "frozen", False):  # the packaged app: its own executable
        return [sys.executable, FLAG, data_dir, profile]
    return [sys.executable, "-m", "desktop", FLAG, data_dir, profile]


class KeyPrefetch:
    """The helper process and, once it has answered, the folder's keys."""

    def __init__(self, data_dir: str | Path, profile: str | None = None) -> None:
        self._keys: FetchedKeys | None = None
        self._answered = False
        self._encrypted = True
        self.exit_code: int | None = None  # the helper's, once it has answered
        self._lock = threading.Lock()  # the start window's thread and the start-up both ask
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            helper_command(str(data_dir), profile or ""), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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
            _log().info("key helper: no key at hand (exit %s)", code)
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
    return start_for(str(root), None)


def start_for(data_dir: str | None, profile: str | None) -> KeyPrefetch | None:
    """The helper for the folder the window's --data-dir and --profile name, started before
    this process has even resolved it (the first thing a window start does: the key is then
    at hand before the list is). A folder with no key yet answers "not encrypted"."""
    try:
        return KeyPrefetch(data_dir or "", profile)
    except OSError as exc:
        _log().info("key helper not started: %s", type(exc).__name__)
        return None


def _parse(out: bytes) -> FetchedKeys | None:
    import base64
    import json

    try:
        sent = json.loads(out)
        rows = sent.get("rows")
        return FetchedKeys(data=base64.b64decode(sent["data"], validate=True),
                           cache=base64.b64decode(sent["cache"], validate=True),
                           rows=[tuple(row) for row in rows] if isinstance(rows, list) else None)
    except (ValueError, KeyError, TypeError):
        _log().info("key helper: answer not understood")
        return None


def helper_main(argv: list[str], out: BinaryIO | None = None) -> int:
    """The helper's side: the keys of the folder *argv[0]*, when the keychain gives them at
    once (never a passphrase prompt: the window asks for that itself)."""
    import base64
    import json

    from desktop.errors import CaseDeskError
    from desktop.folder_key import FolderKeyError, load_record, unlock_from_keychain

    stream = out or sys.stdout.buffer
    if len(argv) not in (1, 2) or stream.isatty():  # it answers the window's pipe, no one else
        return 2
    try:
        from desktop.datafolder import resolve

        root = resolve(argv[0] or None, (argv[1] if len(argv) == 2 else "") or None)
        record = load_record(root)
        if record is None:
            return NOT_ENCRYPTED
        if not record.in_keychain:
            return NOT_AT_HAND
        keys = unlock_from_keychain(root, record)
    except (FolderKeyError, CaseDeskError):
        return NOT_AT_HAND
    except Exception:  # noqa: BLE001 - any failure: the full start-up reads the key itself
        return NOT_AT_HAND
    sent: dict[str, object] = {name: base64.b64encode(getattr(keys, name)).decode("ascii")
                               for name in ("data", "cache")}
    try:  # the list's first rows, for the window's first paint (see first_glance)
        from desktop.datafolder import DataFolder
        from desktop.first_glance import DEFAULT_SORT, read_first_rows

        sent["rows"] = read_first_rows(DataFolder(root).cache, keys.cache, *DEFAULT_SORT)
    except Exception:  # noqa: BLE001 - the window reads them itself
        sent["rows"] = None
    stream.write(json.dumps(sent).encode("ascii"))
    stream.flush()
    return 0
