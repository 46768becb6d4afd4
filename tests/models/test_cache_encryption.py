"""The cache is a SQLCipher 4 database under a random 256-bit key that is never on disk in
clear: in the keychain, or (no keychain) wrapped by a passphrase with Argon2id. A wrong key is
refused with a clear message and the file is never made anew over it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from desktop import folder_key
from desktop.errors import CacheError, CacheProblem
from desktop.folder_key import FolderKeyError, KeyProblem
from desktop.workspace import Workspace
from tests import cachefile

NAME = "Ingeborg Vasquez-Thornbury"
NOTE = "suspected tuberculosis, unsynced"


def test_the_cache_is_sqlcipher_4_and_passes_its_integrity_check(tmp_path: Path,
                                                                 test_keychain) -> None:
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        ws.create_case(NAME, 44, "female", case_summary=NOTE)
        with ws.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw.execute("PRAGMA cipher_version").fetchone()[0].startswith("4.")
            assert raw.execute("PRAGMA cipher_integrity_check").fetchall() == []
            options = {r[0] for r in raw.execute("PRAGMA compile_options")}
            assert "ENABLE_FTS5" in options  # the search index needs it
    files = [p for p in root.iterdir() if p.name.startswith("casedesk.sqlite3")]
    for path in files:
        data = path.read_bytes()
        assert NAME.encode() not in data and NOTE.encode() not in data, path
    assert not cachefile.plain(root / "casedesk.sqlite3")
    assert (root / "casedesk.sqlite3").read_bytes()[:16] != b"SQLite format 3\x00"


def test_the_key_is_random_in_the_keychain_and_never_on_disk_in_clear(tmp_path: Path,
                                                                       test_keychain) -> None:
    keys = []
    for name in ("a", "b"):
        with Workspace.open(tmp_path / name) as ws:
            ws.create_case(NAME, 44, "female")
            assert ws.keys is not None
            keys.append(ws.keys)
    assert keys[0].data != keys[1].data and len(keys[0].data) == 32
    record = folder_key.load_record(tmp_path / "a")
    assert record is not None and record.in_keychain and record.wrapped is None
    stored = test_keychain.get_password(folder_key.SERVICE, record.folder_id)
    assert base64.b64decode(stored) == keys[0].data
    forms = [keys[0].data, keys[0].data.hex().encode(), stored.encode(), keys[0].cache,
             keys[0].cache.hex().encode()]
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(form in data for form in forms), path


def test_without_a_keychain_the_key_is_wrapped_by_a_passphrase(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    root = tmp_path / "data"
    try:
        with pytest.raises(FolderKeyError) as needed:
            Workspace.open(root)
        assert needed.value.problem is KeyProblem.NEW_PASSPHRASE_NEEDED
        assert "passphrase" in str(needed.value)
        with pytest.raises(Exception, match="8 characters"):
            Workspace.open(root, passphrase="short")
        with Workspace.open(root, passphrase="correct horse battery") as ws:
            ws.create_case(NAME, 44, "female")
            data_key = ws.keys.data
        record = json.loads((root / "keys.json").read_text())
        assert record["kept"] == "passphrase" and record["wrapped"]["kdf"] == "argon2id"
        assert record["wrapped"]["memory_kib"] >= 64 * 1024
        assert data_key.hex() not in json.dumps(record)
        before = (root / "casedesk.sqlite3").read_bytes()
        with pytest.raises(FolderKeyError) as wrong:
            Workspace.open(root, passphrase="wrong horse battery")
        assert wrong.value.problem is KeyProblem.WRONG_PASSPHRASE
        with pytest.raises(FolderKeyError) as missing:
            Workspace.open(root)
        assert missing.value.problem is KeyProblem.PASSPHRASE_NEEDED
        assert (root / "casedesk.sqlite3").read_bytes() == before
        with Workspace.open(root, passphrase="correct horse battery") as ws:
            assert [c.patient_name for c in ws.list_cases()] == [NAME]
    finally:
        keyring.set_keyring(previous)


def test_a_wrong_key_is_refused_and_nothing_is_made_over_the_cache(tmp_path: Path,
                                                                   test_keychain) -> None:
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        ws.create_case(NAME, 44, "female")
    record = folder_key.load_record(root)
    assert record is not None
    cache = root / "casedesk.sqlite3"
    before = cache.read_bytes()
    # Another key in the keychain (a restored backup of another folder's entry).
    test_keychain.set_password(folder_key.SERVICE, record.folder_id,
                               base64.b64encode(b"\x01" * 32).decode())
    with pytest.raises(FolderKeyError) as refused:
        Workspace.open(root)
    assert refused.value.problem is KeyProblem.WRONG_KEY
    assert "not the one" in str(refused.value) and "Nothing was changed" in str(refused.value)
    assert cache.read_bytes() == before


def test_a_cache_that_does_not_open_with_the_key_is_refused_not_recreated(
        tmp_path: Path, test_keychain) -> None:
    """The keychain's key matches the record, but the cache was encrypted with another one
    (a cache copied in from elsewhere): refused as a wrong key, left as it is."""
    root, other = tmp_path / "data", tmp_path / "other"
    with Workspace.open(root) as ws:
        ws.create_case(NAME, 44, "female")
    with Workspace.open(other) as ws:
        ws.create_case("Someone Else", 50, "male")
    cache = root / "casedesk.sqlite3"
    cache.write_bytes((other / "casedesk.sqlite3").read_bytes())
    before = cache.read_bytes()
    with pytest.raises(CacheError) as refused:
        Workspace.open(root)
    assert refused.value.problem is CacheProblem.WRONG_KEY
    assert cache.read_bytes() == before
    assert not list(root.glob("casedesk.sqlite3.*"))  # not moved aside, not replaced


def test_encrypted_data_without_its_key_record_is_not_opened_with_a_new_key(
        tmp_path: Path, test_keychain) -> None:
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        ws.create_case(NAME, 44, "female")
    (root / "keys.json").unlink()
    before = (root / "casedesk.sqlite3").read_bytes()
    with pytest.raises(FolderKeyError) as refused:
        Workspace.open(root)
    assert refused.value.problem is KeyProblem.RECORD_MISSING
    assert (root / "casedesk.sqlite3").read_bytes() == before
    assert not (root / "keys.json").exists()
