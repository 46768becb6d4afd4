"""Tokens live only in the OS keychain (keyring), keyed by server URL and user.

Where no keychain backend exists we say so and fall back to $CASEDESK_TOKEN for this process
only: a token is never written to the cache, settings, logs or a command line.
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from typing import Any

from desktop.errors import CaseDeskError

log = logging.getLogger(__name__)


# keyring is imported on first use, not with this module: the window imports it (for its
# words and its sync controls) on its way up, and keyring's import is ~30-65 ms of Python
# that the list need not wait for. The keychain is first asked in a worker, after the paint.
def _keyring() -> Any:
    import keyring
    import keyring.errors

    return keyring


def keychain_available() -> bool:
    from desktop.keychain import keychain_available as available

    return bool(available())


def __getattr__(name: str) -> Any:
    if name == "MemoryKeyring":  # its earlier importers find it here
        from desktop.keychain import MemoryKeyring

        return MemoryKeyring
    raise AttributeError(name)

SERVICE = "casedesk"
ENV_TOKEN = "CASEDESK_TOKEN"


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


def store_secret(server_url: str, user_id: str, secret: str, name: str = "token") -> None:
    if not keychain_available():
        raise NoKeychainError(env_fallback=name == "token")
    keyring = _keyring()
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
        keyring = _keyring()
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
        keyring = _keyring()
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
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, account(server_url, user_id, name))
    except keyring.errors.PasswordDeleteError:
        return False
    return True
