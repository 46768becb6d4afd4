"""The OS keychain (keyring), shared by every layer: sign-in secrets (``sync.credentials``)
and the key of a data folder (``folder_key``) are kept there and nowhere else.

Which keychain counts: a real backend with a positive priority, or the in-memory one set on
purpose (the self-test, the tests). keyring's "fail" and "null" backends mean there is none.
"""

from __future__ import annotations

import logging

import keyring
import keyring.backend
import keyring.errors

log = logging.getLogger(__name__)


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
