"""The tests' keychain: the one thing tests replace. Kept in a JSON file named by
$TEST_KEYCHAIN_FILE, so that a child process (``casedesk`` run by a test, chosen there with
$PYTHON_KEYRING_BACKEND) sees the same keychain as the test: the key of a data folder made in
the test, and the sign-ins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
import keyring.errors

ENV = "TEST_KEYCHAIN_FILE"  # not CASEDESK_*: some tests give children a clean environment
BACKEND = "tests.keychain.SharedKeyring"


class _Viable:
    """keyring reads a backend's priority from its class before using it."""

    def __get__(self, instance: object, owner: type) -> float:
        return 1.0


class SharedKeyring(keyring.backend.KeyringBackend):
    priority = _Viable()  # type: ignore[assignment]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = Path(path or os.environ.get(ENV) or "/nonexistent/test-keychain.json")

    @property
    def store(self) -> dict[tuple[str, str], str]:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {(service, user): secret for service, user, secret in rows}

    @store.setter
    def store(self, value: dict[tuple[str, str], str]) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.new")
        tmp.write_text(json.dumps([[s, u, p] for (s, u), p in value.items()]),
                       encoding="utf-8")
        os.replace(tmp, self.path)

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        store = self.store
        store[(service, username)] = password
        self.store = store

    def delete_password(self, service: str, username: str) -> None:
        store = self.store
        if store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self.store = store

    def sign_ins(self) -> dict[tuple[str, str], str]:
        """The sign-in secrets only (not the data folders' keys)."""
        return {k: v for k, v in self.store.items() if k[0] == "casedesk"}
