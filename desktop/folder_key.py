"""The key that protects a data folder: the cache (SQLCipher), the stored documents, the audit
trail's seal.

One random 256-bit key per data folder, made the first time the folder is opened (or when an
earlier, unencrypted folder is converted). It is never written to disk in clear:

- with an OS keychain, the key is kept there (service ``casedesk-data-key``, account the
  folder's random id), and the person chooses a PIN or passphrase that unlocks the window when
  it locks (an Argon2id verifier in ``keys.json``);
- with none, the key is wrapped by a passphrase the person chooses (Argon2id → AES-256-GCM),
  and that passphrase opens the folder and unlocks the window.

``keys.json`` (0600) holds only what is safe to read: the folder's id, where the key is kept, a
check value that tells a wrong key from a damaged cache, the wrapped key or the verifier, and
how far the conversion of an earlier unencrypted folder has come. The cache and every document
use keys derived from the data key (HKDF), one per purpose.
"""

from __future__ import annotations

import base64
import errno
import hmac
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from desktop.errors import DataFolderError, ValidationError

log = logging.getLogger(__name__)

KEY_FILE = "keys.json"
SERVICE = "casedesk-data-key"
ENV_PASSPHRASE = "CASEDESK_PASSPHRASE"
KEY_BYTES = 32
KEPT_IN_KEYCHAIN = "keychain"
KEPT_BY_PASSPHRASE = "passphrase"
# Argon2id as RFC 9106 recommends for memory-constrained use (64 MiB, 3 passes, 4 lanes):
# about 0.2 s here, per unlock or per start without a keychain.
ARGON2 = {"iterations": 3, "lanes": 4, "memory_kib": 64 * 1024}
MIN_PASSPHRASE = 8  # wraps the key on disk: long enough to resist guessing offline
MIN_PIN = 4  # only unlocks the window (the key itself stays in the keychain)
# After this many wrong unlocks in a row, each further try waits twice as long as the last.
FREE_TRIES = 3
MAX_WAIT_S = 300.0


class KeyProblem(StrEnum):
    """Why the folder's key is not at hand, as data: each front end words its own remedy."""

    PASSPHRASE_NEEDED = "passphrase_needed"  # no keychain: the folder's passphrase must be given
    NEW_PASSPHRASE_NEEDED = "new_passphrase_needed"  # no keychain, no key yet: choose one
    WRONG_PASSPHRASE = "wrong_passphrase"
    KEYCHAIN_UNAVAILABLE = "keychain_unavailable"  # kept in a keychain this session cannot reach
    NOT_IN_KEYCHAIN = "not_in_keychain"  # the keychain has no entry for this folder
    WRONG_KEY = "wrong_key"  # the keychain's key is not the one this folder was sealed with
    RECORD_MISSING = "record_missing"  # encrypted data, but no keys.json beside it
    RECORD_DAMAGED = "record_damaged"


class FolderKeyError(DataFolderError):
    """The folder's key cannot be had; ``problem`` says why. Nothing was changed."""

    def __init__(self, message: str, path: Path, problem: KeyProblem) -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem


class UnlockRefused(ValidationError):
    """A wrong PIN or passphrase, or one tried too soon after wrong ones: ``wait_s`` says how
    long until the next try is taken."""

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message)
        self.wait_s = wait_s


# ------------------------------------------------------------------ the keys in memory


def _hkdf(key: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"casedesk " + purpose).derive(key)


@dataclass(frozen=True, repr=False)
class FolderKeys:
    """The data key and the keys derived from it, one per purpose (memory only)."""

    data: bytes
    cache: bytes
    blobs: bytes
    names: bytes
    audit: bytes
    check: str

    @classmethod
    def derive(cls, data: bytes) -> FolderKeys:
        return cls(data=data, cache=_hkdf(data, b"cache"), blobs=_hkdf(data, b"blobs"),
                   names=_hkdf(data, b"blob names"), audit=_hkdf(data, b"audit"),
                   check=_hkdf(data, b"key check")[:16].hex())

    def __repr__(self) -> str:  # never a key in a log or a traceback
        return "FolderKeys(…)"


# ------------------------------------------------------------------ the record on disk


@dataclass(frozen=True)
class KeyRecord:
    """``keys.json``: nothing in it opens anything without the keychain or the passphrase."""

    folder_id: str
    kept: str  # KEPT_IN_KEYCHAIN or KEPT_BY_PASSPHRASE
    check: str  # HKDF(key, "key check"): a wrong key is told from a damaged cache
    wrapped: dict[str, Any] | None = None  # the key under the passphrase (no keychain)
    unlock: dict[str, Any] | None = None  # Argon2id verifier of the PIN or passphrase
    # Documents stored before encryption are all converted (a new folder: from the start).
    blobs_sealed: bool = True
    unlock_failures: int = 0
    last_failure_at: float = 0.0
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime()))

    @property
    def in_keychain(self) -> bool:
        return self.kept == KEPT_IN_KEYCHAIN

    @property
    def has_unlock_secret(self) -> bool:
        return self.unlock is not None or self.kept == KEPT_BY_PASSPHRASE


def record_path(root: Path) -> Path:
    return Path(root) / KEY_FILE


def load_record(root: Path) -> KeyRecord | None:
    path = record_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return KeyRecord(**{k: v for k, v in data.items() if k in _RECORD_FIELDS})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise FolderKeyError(
            f"The key record {path} of this data folder cannot be read "
            f"({type(exc).__name__}); without it the cache and documents cannot be opened. "
            "It was left as it is.", path, KeyProblem.RECORD_DAMAGED) from exc


_RECORD_FIELDS = {f for f in KeyRecord.__dataclass_fields__}


def save_record(root: Path, record: KeyRecord) -> None:
    """Written whole or not at all: temp file, fsync, rename, fsync the folder."""
    path = record_path(root)
    tmp = path.with_name(path.name + ".new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with open(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(record), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        from desktop.models.cache_file import fsync_dir  # SQLCipher: not for a key read

        fsync_dir(path.parent)
    except OSError as exc:
        raise _not_saved(path, exc) from None


def _not_saved(path: Path, exc: OSError) -> DataFolderError:
    """A key record that could not be written, in one line: nothing was changed."""
    from desktop.errors import CacheError, CacheProblem

    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return CacheError(f"The disk holding {path} is full, so this data folder's key record "
                          "could not be saved; nothing was changed. Free some space on that "
                          "disk, then try again.", path, CacheProblem.DISK_FULL)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CacheError(f"{path} cannot be written ({exc.strerror}), so this data folder's "
                          "key record could not be saved; nothing was changed.", path,
                          CacheProblem.READ_ONLY)
    return DataFolderError(f"This data folder's key record {path} could not be saved "
                           f"({exc.strerror or type(exc).__name__}); nothing was changed.")


# ------------------------------------------------------------------ Argon2id


def _argon2(secret: str, salt: bytes, params: dict[str, Any]) -> bytes:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    return Argon2id(salt=salt, length=KEY_BYTES, iterations=int(params["iterations"]),
                    lanes=int(params["lanes"]),
                    memory_cost=int(params["memory_kib"])).derive(secret.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def wrap_key(key: bytes, passphrase: str, folder_id: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _argon2(passphrase, salt, ARGON2)
    sealed = AESGCM(kek).encrypt(nonce, key, folder_id.encode())
    return {"kdf": "argon2id", **ARGON2, "salt": _b64(salt), "nonce": _b64(nonce),
            "key": _b64(sealed)}


def unwrap_key(wrapped: dict[str, Any], passphrase: str, folder_id: str) -> bytes | None:
    """The data key, or None for a wrong passphrase."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kek = _argon2(passphrase, _unb64(wrapped["salt"]), wrapped)
    try:
        return AESGCM(kek).decrypt(_unb64(wrapped["nonce"]), _unb64(wrapped["key"]),
                                   folder_id.encode())
    except InvalidTag:
        return None


def make_verifier(secret: str) -> dict[str, Any]:
    salt = os.urandom(16)
    return {"kdf": "argon2id", **ARGON2, "salt": _b64(salt),
            "hash": _b64(_argon2(secret, salt, ARGON2))}


def verify(verifier: dict[str, Any], secret: str) -> bool:
    expected = _unb64(verifier["hash"])
    return hmac.compare_digest(_argon2(secret, _unb64(verifier["salt"]), verifier), expected)


# ------------------------------------------------------------------ opening a folder


def _keychain() -> Any:
    from desktop.keychain import keychain_available

    if not keychain_available():
        return None
    import keyring

    return keyring


def passphrase_from_environment() -> str | None:
    """$CASEDESK_PASSPHRASE, for scripts on a computer without a keychain (never a flag:
    other accounts can read a command line)."""
    return os.environ.get(ENV_PASSPHRASE) or None


def open_keys(root: Path, passphrase: str | None = None, may_create: bool = True,
              plain_blobs: bool = False, known: bytes | None = None) -> FolderKeys:
    """The folder's keys: from the keychain, or unwrapped with *passphrase* (or
    $CASEDESK_PASSPHRASE). With no record yet and *may_create*, a new key is made and kept
    (in the keychain, else wrapped by the passphrase, which must then be given);
    *plain_blobs*: documents stored before encryption wait to be converted; *known*: the data
    key already read from the keychain (``key_prefetch``), used if it matches the record."""
    root = Path(root)
    record = load_record(root)
    if record is None:
        if not may_create:
            raise FolderKeyError(
                f"This data folder ({root}) holds encrypted data, but its key record "
                f"{KEY_FILE} is missing: without it nothing here can be opened. Nothing was "
                "changed, and no new key was made over it.",
                record_path(root), KeyProblem.RECORD_MISSING)
        return _create(root, passphrase or passphrase_from_environment(),
                       blobs_sealed=not plain_blobs)
    return _unlock(root, record, passphrase, known)


def cache_key_at_hand(root: Path) -> tuple[bool, bytes | None]:
    """(encrypted, the cache's key) when the keychain gives it at once, without a
    passphrase or a wait: for the start window's first glance at the list. (False, None): no
    key made yet (nothing encrypted); (True, None): the key is not at hand."""
    try:
        record = load_record(root)
    except FolderKeyError:
        return True, None
    if record is None:
        return False, None
    if not record.in_keychain:
        return True, None
    try:
        return True, _unlock(root, record, None).cache
    except FolderKeyError:
        return True, None


def _unlock(root: Path, record: KeyRecord, passphrase: str | None,
            known: bytes | None = None) -> FolderKeys:
    path = record_path(root)
    if record.in_keychain:
        if known is not None:  # read from the keychain by the start-up's helper (key_prefetch)
            keys = FolderKeys.derive(known)
            if hmac.compare_digest(keys.check, record.check):
                return keys
        return unlock_from_keychain(root, record)
    secret = passphrase or passphrase_from_environment()
    if not secret:
        raise FolderKeyError(
            "This data folder is protected by a passphrase (this computer has no keychain); "
            "it is needed to open it.", path, KeyProblem.PASSPHRASE_NEEDED)
    assert record.wrapped is not None
    key = unwrap_key(record.wrapped, secret, record.folder_id)
    if key is None:
        raise FolderKeyError("That is not this data folder's passphrase; nothing was opened.",
                             path, KeyProblem.WRONG_PASSPHRASE)
    keys = FolderKeys.derive(key)
    if not hmac.compare_digest(keys.check, record.check):
        raise FolderKeyError("The key record of this data folder does not match its key; "
                             "nothing was opened.", path, KeyProblem.RECORD_DAMAGED)
    return keys


def unlock_from_keychain(root: Path, record: KeyRecord) -> FolderKeys:
    """The keys of a folder whose key the keychain keeps, checked against its record."""
    path = record_path(root)
    keychain = _keychain()
    if keychain is None:
        raise FolderKeyError(
            "The key of this data folder is kept in the system keychain, which cannot be "
            "reached now (no keychain in this session, or it is locked).", path,
            KeyProblem.KEYCHAIN_UNAVAILABLE)
    try:
        value = keychain.get_password(SERVICE, record.folder_id)
    except Exception as exc:  # noqa: BLE001 - any keychain failure is the same to a person
        log.warning("keychain read failed: %s", type(exc).__name__)
        raise FolderKeyError(
            "The system keychain refused to give the key of this data folder (it may be "
            "locked).", path, KeyProblem.KEYCHAIN_UNAVAILABLE) from None
    if not value:
        raise FolderKeyError(
            "The key of this data folder is not in the system keychain any more, so its "
            "cache and documents cannot be opened. Nothing was changed.", path,
            KeyProblem.NOT_IN_KEYCHAIN)
    try:
        keys = FolderKeys.derive(_unb64(value))
    except ValueError:
        keys = None
    if keys is None or not hmac.compare_digest(keys.check, record.check):
        raise FolderKeyError(
            "The key the system keychain holds for this data folder is not the one its "
            "cache and documents were encrypted with, so they were not opened. Nothing was "
            "changed.", path, KeyProblem.WRONG_KEY)
    return keys


def _create(root: Path, passphrase: str | None, blobs_sealed: bool = True) -> FolderKeys:
    key = os.urandom(KEY_BYTES)
    keys = FolderKeys.derive(key)
    import uuid

    folder_id = str(uuid.uuid4())
    kept, wrapped = None, None
    keychain = _keychain()
    if keychain is not None:
        try:
            keychain.set_password(SERVICE, folder_id, _b64(key))
            kept = KEPT_IN_KEYCHAIN
        except Exception as exc:  # noqa: BLE001 - a keychain that refuses is no keychain
            log.warning("keychain refused the folder key: %s", type(exc).__name__)
    if kept is None:
        if not passphrase:
            raise FolderKeyError(
                "This computer has no keychain, so the key that encrypts this data folder "
                "must be protected by a passphrase you choose.", record_path(root),
                KeyProblem.NEW_PASSPHRASE_NEEDED)
        check_new_secret(passphrase, pin_allowed=False)
        kept, wrapped = KEPT_BY_PASSPHRASE, wrap_key(key, passphrase, folder_id)
    # The key is kept before the record names it, and nothing is encrypted before the record
    # exists: a kill in between leaves an unused keychain entry, never data without its key.
    save_record(root, KeyRecord(folder_id=folder_id, kept=kept, check=keys.check,
                                wrapped=wrapped, blobs_sealed=blobs_sealed))
    log.info("data folder key made (kept in the %s)", kept)
    return keys


def check_new_secret(secret: str, pin_allowed: bool) -> None:
    """A PIN (digits) of at least MIN_PIN, or a passphrase of at least MIN_PASSPHRASE."""
    if pin_allowed and secret.isdigit():
        if len(secret) < MIN_PIN:
            raise ValidationError(f"A PIN needs at least {MIN_PIN} digits.")
        return
    if len(secret) < MIN_PASSPHRASE:
        what = "A passphrase" + (f" (or a PIN of {MIN_PIN} digits or more)" if pin_allowed
                                 else "")
        raise ValidationError(f"{what} needs at least {MIN_PASSPHRASE} characters.")


def mark_blobs_sealed(root: Path) -> None:
    record = load_record(root)
    if record is not None and not record.blobs_sealed:
        save_record(root, replace(record, blobs_sealed=True))


# ------------------------------------------------------------------ the unlock secret


def set_unlock_secret(root: Path, keys: FolderKeys, secret: str) -> None:
    """Choose the PIN or passphrase that unlocks the window. Without a keychain it is the
    folder's passphrase: the key is wrapped anew with it."""
    record = load_record(root)
    if record is None:
        raise FolderKeyError("This data folder has no key record.", record_path(root),
                             KeyProblem.RECORD_MISSING)
    check_new_secret(secret, pin_allowed=record.in_keychain)
    if record.in_keychain:
        record = replace(record, unlock=make_verifier(secret), unlock_failures=0)
    else:
        record = replace(record, wrapped=wrap_key(keys.data, secret, record.folder_id),
                         unlock_failures=0)
    save_record(root, record)


def unlock_wait(record: KeyRecord, now: float | None = None) -> float:
    """Seconds before the next try is taken: none for the first FREE_TRIES wrong ones, then
    1, 2, 4, … up to MAX_WAIT_S after the last."""
    over = record.unlock_failures - FREE_TRIES + 1
    if over <= 0:
        return 0.0
    wait = min(MAX_WAIT_S, 2.0 ** (over - 1))
    left = record.last_failure_at + wait - (time.time() if now is None else now)
    return max(0.0, left)


def check_unlock_secret(root: Path, secret: str) -> None:
    """Accept the PIN or passphrase, or raise :class:`UnlockRefused` (wrong, or too soon).
    Wrong tries are counted in the record, so a restart does not reset the wait."""
    record = load_record(root)
    if record is None or not record.has_unlock_secret:
        raise FolderKeyError("No PIN or passphrase is set for this data folder.",
                             record_path(root), KeyProblem.RECORD_MISSING)
    wait = unlock_wait(record)
    if wait > 0:
        raise UnlockRefused(f"Too many wrong tries: wait {wait:.0f} s before the next one.",
                            wait)
    if record.unlock is not None:
        good = verify(record.unlock, secret)
    else:
        assert record.wrapped is not None
        good = unwrap_key(record.wrapped, secret, record.folder_id) is not None
    fresh = load_record(root) or record  # another window may have counted meanwhile
    if good:
        if fresh.unlock_failures:
            save_record(root, replace(fresh, unlock_failures=0, last_failure_at=0.0))
        return
    fresh = replace(fresh, unlock_failures=fresh.unlock_failures + 1, last_failure_at=time.time())
    save_record(root, fresh)
    log.info("unlock refused (%d wrong in a row)", fresh.unlock_failures)
    raise UnlockRefused("That is not the PIN or passphrase of this data folder.",
                        unlock_wait(fresh))


# ------------------------------------------------------------------ removal


def forget(root: Path) -> None:
    """Remove the folder's key from the keychain and its record: whatever it encrypted can
    no longer be read by anyone."""
    record = None
    try:
        record = load_record(root)
    except FolderKeyError:
        pass
    if record is not None and record.in_keychain:
        keychain = _keychain()
        if keychain is not None:
            try:
                keychain.delete_password(SERVICE, record.folder_id)
            except Exception as exc:  # noqa: BLE001 - an entry already gone is fine
                log.info("keychain entry not removed: %s", type(exc).__name__)
    path = record_path(root)
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".new").unlink(missing_ok=True)
