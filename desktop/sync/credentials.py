"""Tokens live only in the OS keychain (keyring), keyed by server URL and user.

Where no keychain backend exists we say so and fall back to $CASEDESK_TOKEN for this process
only: a token is never written to the cache, settings, logs or a command line.
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum

import keyring
import keyring.backend
import keyring.errors

from desktop.errors import CaseDeskError

log = logging.getLogger(__name__)

SERVICE = "casedesk"
ENV_TOKEN = "CASEDESK_TOKEN"


class _SetExplicitly:
    """A priority that keyring's discovery cannot read (it reads it from the class), so it
    never picks the backend by itself; an instance set with ``keyring.set_keyring`` has 1."""

    def __get__(self, instance: object, owner: type) -> float:
        if instance is None:
            raise RuntimeError("chosen only with keyring.set_keyring")
        return 1.0


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keychain that lives only as long as the process: for the self-test and the tests,
    which must never touch the real keychain.

    Defining a backend class registers it with keyring; with a readable priority, importing
    this module made it the chosen "system keychain" wherever no real one exists, and a
    sign-in said the token was stored when it was only in memory.
    """

    priority = _SetExplicitly()  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class NoKeychainError(CaseDeskError):
    """This computer has no usable keychain (or it refused): a secret cannot be stored.

    ``env_fallback``: the secret is a plain token that $CASEDESK_TOKEN can stand in for, for
    one process; a rotating sign-in (Care360) has no such fallback.
    """

    def __init__(self, message: str | None = None, *, env_fallback: bool = True) -> None:
        super().__init__(message or "No keychain is available on this computer, so Case Desk "
                         "cannot store the sign-in.")
        self.env_fallback = env_fallback


def account(server_url: str, user_id: str, name: str = "token") -> str:
    return f"{normalise_url(server_url)}|{user_id}|{name}"


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def keychain_available() -> bool:
    backend = keyring.get_keyring()
    if isinstance(backend, MemoryKeyring):
        return True  # set on purpose (tests, the self-test)
    priority = getattr(backend, "priority", 0)
    name = type(backend).__module__ + "." + type(backend).__name__
    if "fail" in name or "null" in name.lower():
        return False
    if name.startswith("keyring.backends.chainer"):
        return bool(getattr(backend, "backends", []))
    return bool(priority and priority > 0)


def store_secret(server_url: str, user_id: str, secret: str, name: str = "token") -> None:
    if not keychain_available():
        raise NoKeychainError(env_fallback=name == "token")
    try:
        keyring.set_password(SERVICE, account(server_url, user_id, name), secret)
    except keyring.errors.KeyringError as exc:
        raise NoKeychainError(
            f"The keychain refused to store the sign-in ({exc.__class__.__name__}); it may be "
            "locked.", env_fallback=name == "token",
        ) from exc


def load_secret(server_url: str, user_id: str, name: str = "token") -> str | None:
    """The stored secret, or $CASEDESK_TOKEN when there is no keychain at all."""
    if keychain_available():
        try:
            value = keyring.get_password(SERVICE, account(server_url, user_id, name))
        except keyring.errors.KeyringError:
            log.warning("keychain read failed")
            value = None
        if value:
            return value
    if name == "token":
        return os.environ.get(ENV_TOKEN) or None
    return None


class Kept(StrEnum):
    """Where a profile's sign-in is kept, if anywhere."""

    KEYCHAIN = "keychain"  # stays signed in across restarts
    SESSION = "session"  # $CASEDESK_TOKEN: this process only (no keychain on this computer)
    NONE = "none"  # the person must sign in


def where_kept(server_url: str, user_id: str, name: str = "token") -> Kept:
    """Whether a secret is at hand, and for how long: a quick local look, no server."""
    if keychain_available():
        try:
            if keyring.get_password(SERVICE, account(server_url, user_id, name)):
                return Kept.KEYCHAIN
        except keyring.errors.KeyringError:
            log.warning("keychain read failed")
    if name == "token" and os.environ.get(ENV_TOKEN):
        return Kept.SESSION
    return Kept.NONE


def forget_session() -> None:
    """Drop a sign-in kept for this process only (sign-out)."""
    os.environ.pop(ENV_TOKEN, None)


def delete_secret(server_url: str, user_id: str, name: str = "token") -> bool:
    if not keychain_available():
        return False
    try:
        keyring.delete_password(SERVICE, account(server_url, user_id, name))
    except keyring.errors.PasswordDeleteError:
        return False
    return True
