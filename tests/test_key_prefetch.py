"""The window's key helper: a process of this program that reads the data folder's keys from
the keychain while Qt loads, answering through a pipe only, and whose answer is checked against
the folder's key record before anything is opened with it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from desktop import datafolder, first_glance, folder_key, key_prefetch
from desktop.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def keychain_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    with Workspace(datafolder.prepare(root)) as ws:
        ws.create_case("Ada Prefetch", 40, "female")
    return root


def test_the_helper_process_hands_over_the_folders_keys(keychain_folder: Path) -> None:
    prefetch = key_prefetch.start(keychain_folder)
    assert prefetch is not None
    encrypted, keys = prefetch.result(timeout=60)
    expected = folder_key.open_keys(keychain_folder)
    assert encrypted and keys is not None
    assert (keys.data, keys.cache) == (expected.data, expected.cache)
    assert "AAAA" not in repr(keys) and repr(keys) == "FetchedKeys(…)"
    # With the keys, the list's first rows, as the start window would read them itself.
    assert keys.rows is not None and [r[0] for r in keys.rows] == ["Ada Prefetch"]
    assert keys.rows == first_glance.read_first_rows(
        datafolder.DataFolder(keychain_folder).cache, keys.cache)


def test_no_helper_for_a_new_folder(tmp_path: Path) -> None:
    root = tmp_path / "new"
    assert key_prefetch.start(root) is None  # no key record: nothing to fetch yet
    root.mkdir()
    out = io.BytesIO()
    assert key_prefetch.helper_main([str(root)], out) == key_prefetch.NOT_ENCRYPTED
    assert out.getvalue() == b""


def test_a_folder_kept_by_a_passphrase_is_not_at_hand(tmp_path: Path) -> None:
    root = tmp_path / "phrase"
    root.mkdir()
    record = folder_key.KeyRecord(folder_id="f", kept=folder_key.KEPT_BY_PASSPHRASE,
                                  check="00", wrapped={})
    folder_key.save_record(root, record)
    out = io.BytesIO()
    assert key_prefetch.helper_main([str(root)], out) == key_prefetch.NOT_AT_HAND
    assert out.getvalue() == b""
    prefetch = key_prefetch.start(root)
    assert prefetch is not None and prefetch.result(timeout=60) == (True, None)


def test_the_helper_says_nothing_to_a_terminal(keychain_folder: Path) -> None:
    """Only the window's pipe gets the keys: run by hand at a terminal, it writes nothing."""
    leader, follower = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "desktop", key_prefetch.FLAG, str(keychain_folder)],
            stdout=follower, stderr=subprocess.DEVNULL, cwd=ROOT, timeout=60, check=False)
        os.set_blocking(leader, False)
        try:
            written = os.read(leader, 4096)
        except BlockingIOError:
            written = b""
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert written == b""


def test_known_keys_open_the_folder_without_asking_the_keychain(
        keychain_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = folder_key.open_keys(keychain_folder)

    def refuse(*_args: object) -> None:
        raise AssertionError("the keychain was asked again")

    monkeypatch.setattr(keyring.get_keyring(), "get_password", refuse)
    with Workspace.open(keychain_folder, known_key=known.data) as ws:
        assert [c.patient_name for c in ws.list_cases()] == ["Ada Prefetch"]


def test_keys_that_do_not_match_the_record_are_never_used(keychain_folder: Path) -> None:
    """A wrong answer (another folder's keys) is ignored: the keychain is asked as before."""
    other = keychain_folder.parent / "other"
    with Workspace(datafolder.prepare(other)):
        pass
    wrong = folder_key.open_keys(other)
    with Workspace.open(keychain_folder, known_key=wrong.data) as ws:
        assert [c.patient_name for c in ws.list_cases()] == ["Ada Prefetch"]
        assert ws.keys is not None and ws.keys.data != wrong.data


def test_an_answer_that_is_not_keys_is_refused(keychain_folder: Path) -> None:
    assert key_prefetch._parse(b"not json") is None
    assert key_prefetch._parse(b'{"data": "AAAA"}') is None


def test_the_helper_finds_the_folder_from_the_windows_own_options(keychain_folder: Path,
                                                                  monkeypatch) -> None:
    """Started before the window has resolved its folder, the helper resolves it from the
    same options and environment (here $CASEDESK_DATA_DIR), as the window then does."""
    monkeypatch.setenv(datafolder.ENV_DATA_DIR, str(keychain_folder))
    prefetch = key_prefetch.start_for(None, None)
    assert prefetch is not None
    encrypted, keys = prefetch.result(timeout=60)
    assert encrypted and keys is not None
    assert keys.data == folder_key.open_keys(keychain_folder).data
    monkeypatch.delenv(datafolder.ENV_DATA_DIR)
    out = io.BytesIO()  # a profile name the folder rules refuse: no key, no traceback
    assert key_prefetch.helper_main(["", "no/such profile"], out) == key_prefetch.NOT_AT_HAND


def test_a_window_start_asks_for_the_key_before_it_loads_anything_else(
        keychain_folder: Path) -> None:
    """`casedesk --data-dir DIR`: the helper is started before the data folder's code, the
    logging set-up or Qt are even imported, so its answer is in before the list is wanted."""
    code = (
        "import subprocess, sys\n"
        "import desktop.__main__ as entry\n"
        "seen = []\n"
        "real = subprocess.Popen\n"
        "class Spy(real):\n"
        "    def __init__(self, *a, **k):\n"
        "        seen.append(sorted(m for m in ('desktop.datafolder', 'desktop.logs', 'PySide6',"
        " 'argparse') if m in sys.modules))\n"
        "        super().__init__(*a, **k)\n"
        "subprocess.Popen = Spy\n"
        "def opened(root, profile, prefetch=None):\n"
        "    print('helper', prefetch is not None and prefetch.result(60)[1] is not None)\n"
        "    return 0\n"
        "entry.open_window = opened\n"
        f"entry.start_window({str(keychain_folder)!r}, None, False)\n"
        "print('loaded at spawn', seen[0])\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    lines = done.stdout.splitlines()
    assert "helper True" in lines, done.stdout + done.stderr
    assert "loaded at spawn []" in lines, done.stdout + done.stderr
