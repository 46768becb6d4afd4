"""Shared fixtures: an in-memory keychain (the only mock), temporary data folders, Qt offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import keyring
import pytest

from tests.keychain import BACKEND, ENV, SharedKeyring

pytest_plugins = ["tests.server.fixtures", "tests.disk_faults"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def test_keychain(tmp_path, monkeypatch):
    """Every test has a keychain of its own (a data folder's key lives there), shared with
    the child processes it starts; a test about a computer without one replaces it."""
    path = tmp_path / "keychain.json"
    monkeypatch.setenv(ENV, str(path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    previous = keyring.get_keyring()
    backend = SharedKeyring(path)
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(test_keychain):
    """The test's keychain, for tests that look into it."""
    return test_keychain


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("CASEDESK_DATA_DIR", str(folder))
    return folder
