"""Sync from the command line and across processes: sign-in, privacy of the token, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from desktop.cli import main
from desktop.sync import credentials, runner
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tok-9f8e7d6c5b4a-very-secret"


def cli(data: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--data-dir", str(data), *args], out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def test_login_sync_conflicts_resolve_logout(reference_server, memory_keyring, tmp_path):
    data = tmp_path / "d"
    reference_server.add_user(SECRET, "doctor-9")
    code, out, err = cli(data, "login", "--server", reference_server.url, "--user-id", "doctor-9",
                         stdin=SECRET + "\n")
    assert code == 0, err
    assert "checked with the server" in out and SECRET not in out
    code, out, _ = cli(data, "cases", "new", "--name", "Jane Smith", "--age", "32", "--gender",
                       "female", "--summary", "base", "--json")
    case_id = json.loads(out)["case"]["id"]
    code, out, err = cli(data, "sync")
    assert code == 0, err
    assert out.startswith("Synced: 1 created")
    [remote] = reference_server.cases("doctor-9")
    reference_server.edit_case(remote["case_id"], case_summary="theirs")
    cli(data, "cases", "edit", case_id, "--summary", "mine")
    code, out, _ = cli(data, "sync")
    assert code == 0 and "1 conflict(s)" in out
    code, out, _ = cli(data, "conflicts", "--json")
    [conflict] = json.loads(out)["conflicts"]
    assert (conflict["field"], conflict["local_value"], conflict["server_value"]) == (
        "case_summary", "mine", "theirs")
    code, out, _ = cli(data, "resolve", case_id[:8], "case_summary", "--theirs")
    assert code == 0 and "server's value was taken" in out
    code, out, _ = cli(data, "conflicts")
    assert "No conflicts." in out
    code, out, _ = cli(data, "logout")
    assert code == 0 and memory_keyring.sign_ins() == {}
    code, _, err = cli(data, "sync")
    assert code == 1 and "Not signed in" in err and err.count("\n") == 1


def test_token_never_in_cache_logs_or_settings(reference_server, memory_keyring, tmp_path):
    data = tmp_path / "d"
    reference_server.add_user(SECRET, "doctor-9")
    cli(data, "-v", "login", "--server", reference_server.url, "--user-id", "doctor-9",
        stdin=SECRET + "\n")
    cli(data, "cases", "new", "--name", "Jane", "--age", "3", "--gender", "female")
    reference_server.unauthorized_next(1)
    cli(data, "-v", "sync")
    cli(data, "-v", "sync")
    assert SECRET in memory_keyring.sign_ins().values()
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "casedesk.sqlite3" for p in files)
    private = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(private.values()) == {"0o600"}, private
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


def test_no_keychain_says_so_and_uses_env_token_for_the_process(
    reference_server, tmp_path, monkeypatch
):
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    # No keychain for the data folder's key either: a passphrase wraps it.
    monkeypatch.setenv("CASEDESK_PASSPHRASE", "a passphrase for scripts")
    try:
        data = tmp_path / "d"
        code, out, _ = cli(data, "login", "--server", reference_server.url, "--user-id",
                           "doctor-1", stdin="token-doctor-1\n")
        assert code == 1 and "No keychain is available" in out and "CASEDESK_TOKEN" in out
        cli(data, "cases", "new", "--name", "Jane", "--age", "3", "--gender", "female")
        code, _, err = cli(data, "sync")
        assert code == 1 and "CASEDESK_TOKEN" in err
        monkeypatch.setenv("CASEDESK_TOKEN", "token-doctor-1")
        code, out, err = cli(data, "sync")
        assert code == 0, err
        assert len(reference_server.cases("doctor-1")) == 1
    finally:
        keyring.set_keyring(previous)


def test_process_killed_mid_upload_resumes_without_duplicate(
    reference_server, memory_keyring, tmp_path
):
    data = tmp_path / "d"
    with Workspace.open(data) as ws:
        sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        case = ws.create_case("Jane Smith", 32, "female")
        assert runner.run_sync(ws).ok
        server_id = ws.get_case(case.id).server_id
        big = tmp_path / "scan.pdf"
        big.write_bytes(samples.big_pdf(4 * 1024 * 1024))
        ws.attach(case.id, [big])
    # The server stores the file, then stalls before answering; the client dies meanwhile.
    reference_server.delay(60, path="/cases/upload", after_work=True)
    env = dict(os.environ, CASEDESK_TOKEN="token-doctor-1")
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "--data-dir", str(data), "sync"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not reference_server.files(server_id):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    reference_server.clear_faults()
    with Workspace.open(data) as ws:
        report = runner.run_sync(ws)
        assert report.ok and report.adopted == 1 and report.uploaded == 0, report
        [doc] = ws.documents(case.id)
        assert doc.state == "uploaded"
    assert [f["file_name"] for f in reference_server.files(server_id)] == ["scan.pdf"]


def test_watch_syncs_repeatedly_and_backs_off_offline(memory_keyring, tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        sign_in(ws, "http://127.0.0.1:9", "doctor-1", "t", verify=False)
        reports, sleeps = [], []
        runner.watch(ws, interval=2, max_backoff=16, on_report=reports.append,
                     should_stop=lambda: len(reports) >= 4, sleep=sleeps.append)
        assert len(reports) == 4 and all(r.offline for r in reports)
        # Offline: waits double (4, 8, 16) instead of hammering the network.
        assert sum(sleeps) == pytest.approx(4 + 8 + 16)


def test_credentials_keyed_by_server_and_user(memory_keyring):
    credentials.store_secret("https://a.example/", "u1", "t1")
    credentials.store_secret("https://a.example", "u2", "t2")
    assert credentials.load_secret("https://a.example", "u1") == "t1"
    assert credentials.load_secret("https://a.example/", "u2") == "t2"
    assert all(service == "casedesk" for service, _ in memory_keyring.store)


def test_the_test_keychain_is_never_chosen_by_discovery():
    """Importing Case Desk must not make its in-memory keychain the system's."""
    from keyring.backend import get_all_keyring

    assert not any(isinstance(k, credentials.MemoryKeyring) for k in get_all_keyring())


def test_login_on_a_computer_without_a_keychain_never_claims_the_token_was_stored(
    reference_server, tmp_path
):
    """A separate process, as a person runs it, on a computer with no keychain at all."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CASEDESK_", "PYTHON_KEYRING"))}
    env.update(DBUS_SESSION_BUS_ADDRESS="disabled:", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_DATA_HOME=str(tmp_path / "share"),
               CASEDESK_PASSPHRASE="a passphrase for scripts")  # wraps the folder's key
    probe = subprocess.run([sys.executable, "-c", "import keyring; print(type("
                            "keyring.get_keyring()).__module__)"], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    if "fail" not in probe.stdout:
        pytest.skip(f"this computer has a keychain ({probe.stdout.strip()})")

    def casedesk(*args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "desktop", "--data-dir",
                               str(tmp_path / "d"), *args], input=stdin, env={**env, **extra},
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    login = casedesk("login", "--server", reference_server.url, "--user-id", "doctor-1",
                     stdin="token-doctor-1\n")
    assert login.returncode == 1, login
    assert "No keychain is available" in login.stdout and "CASEDESK_TOKEN" in login.stdout
    assert "stored in the system keychain" not in login.stdout
    assert "not stored" in login.stdout
    casedesk("cases", "new", "--name", "Jane", "--age", "3", "--gender", "female")
    sync = casedesk("sync")
    assert sync.returncode == 1 and "Not signed in" in sync.stderr
    assert "CASEDESK_TOKEN" in sync.stderr
    sync = casedesk("sync", CASEDESK_TOKEN="token-doctor-1")
    assert sync.returncode == 0, sync
    assert len(reference_server.cases("doctor-1")) == 1
