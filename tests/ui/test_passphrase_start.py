"""On a computer without a keychain the window asks for the profile's passphrase (a new one
the first time) before it opens the data."""

from __future__ import annotations

from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from desktop.folder_key import FolderKeyError, KeyProblem
from desktop.ui.app import open_with_passphrase
from desktop.workspace import Workspace


def test_the_window_asks_for_the_passphrase_where_there_is_no_keychain(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    root = tmp_path / "data"
    asked: list[str] = []

    def opening(phrase):
        return Workspace.open(root, passphrase=phrase)

    try:
        ws = open_with_passphrase(opening, lambda p: asked.append(p) or "a long passphrase")
        ws.close()
        assert asked == [KeyProblem.NEW_PASSPHRASE_NEEDED]
        answers = iter(["not it at all", "a long passphrase"])
        ws = open_with_passphrase(opening, lambda p: asked.append(p) or next(answers))
        ws.close()
        assert asked[1:] == [KeyProblem.PASSPHRASE_NEEDED, KeyProblem.WRONG_PASSPHRASE]
        with pytest.raises(FolderKeyError):  # cancelled: nothing opened
            open_with_passphrase(opening, lambda p: None)
    finally:
        keyring.set_keyring(previous)
