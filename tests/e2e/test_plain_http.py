"""Plain http:// to another computer is refused unless the person allows it for that server,
and --no-verify never contacts the server."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from desktop.cli import main
from desktop.sync import runner
from desktop.sync.profile import (
    PlainHttpRefused,
    ServerProfile,
    check_transport,
    current_server,
    is_loopback,
    save_profile,
    validate_url,
)
from desktop.workspace import Workspace

REMOTE = "http://records.clinic.example"


def cli(data: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--data-dir", str(data), *args], out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:8765", True), ("http://localhost:8000", True), ("http://[::1]:80", True),
    ("http://127.8.9.10", True), ("http://records.clinic.example", False),
    ("http://10.0.0.5", False), ("http://localhost.evil.example", False),
])
def test_loopback_is_told_from_other_computers(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_plain_http_to_another_computer_needs_the_allowance() -> None:
    with pytest.raises(PlainHttpRefused, match="cross the network readable"):
        validate_url(REMOTE)
    assert validate_url(REMOTE, allow_plain_http=True) == REMOTE
    assert validate_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert validate_url("https://records.clinic.example") == "https://records.clinic.example"
    with pytest.raises(PlainHttpRefused):
        check_transport(ServerProfile("medmitra", REMOTE, "doctor-1"))
    check_transport(ServerProfile("medmitra", REMOTE, "doctor-1", plain_http_allowed=True))


def test_login_refuses_plain_http_with_a_hint(memory_keyring, tmp_path) -> None:
    code, out, err = cli(tmp_path / "d", "login", "--server", REMOTE, "--user-id", "doctor-1",
                         stdin="token-doctor-1\n")
    assert code == 1 and out == ""
    assert err.startswith("casedesk: error: ") and "unencrypted" in err
    assert "--allow-plain-http" in err and err.count("\n") == 1
    with Workspace.open(tmp_path / "d") as ws:
        assert current_server(ws) is None
    assert not memory_keyring.sign_ins()


def test_allowed_plain_http_is_kept_with_a_warning_and_no_verify_contacts_nothing(
    memory_keyring, tmp_path
) -> None:
    code, out, err = cli(tmp_path / "d", "login", "--server", REMOTE, "--user-id", "doctor-1",
                         "--allow-plain-http", "--no-verify", stdin="token-doctor-1\n")
    assert code == 0, err
    assert "Warning: http://records.clinic.example is not encrypted" in out
    assert "cross the network in clear" in out and "not checked (--no-verify)" in out
    with Workspace.open(tmp_path / "d") as ws:
        profile = current_server(ws)
    assert profile is not None and profile.plain_http_allowed and profile.plain_http


def test_no_verify_never_contacts_the_server_even_without_a_keychain(reference_server,
                                                                    tmp_path,
                                                                    monkeypatch) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setenv("CASEDESK_PASSPHRASE", "a passphrase for scripts")  # the folder's key
    try:
        reference_server.clear_requests()
        code, out, _ = cli(tmp_path / "d", "login", "--server", reference_server.url,
                           "--user-id", "doctor-1", "--no-verify", stdin="token-doctor-1\n")
        assert code == 1 and "No keychain is available" in out
        assert reference_server.requests() == []
    finally:
        keyring.set_keyring(previous)


def test_no_verify_with_a_keychain_contacts_nothing(reference_server, memory_keyring,
                                                    tmp_path) -> None:
    reference_server.clear_requests()
    code, out, err = cli(tmp_path / "d", "login", "--server", reference_server.url,
                         "--user-id", "doctor-1", "--no-verify", stdin="token-doctor-1\n")
    assert code == 0, err
    assert reference_server.requests() == []


def test_no_verify_is_refused_for_a_one_time_code_sign_in(memory_keyring, tmp_path) -> None:
    code, _, err = cli(tmp_path / "d", "login", "--kind", "care360", "--server",
                       "https://portal.example.org", "--email", "dr@example.org", "--no-verify",
                       stdin="key\n")
    assert code == 2 and "--no-verify is not for --kind care360" in err


def test_a_profile_saved_before_the_rule_is_refused_at_sync(memory_keyring, tmp_path) -> None:
    with Workspace.open(tmp_path / "d") as ws:
        save_profile(ws, ServerProfile("medmitra", REMOTE, "doctor-1"))
        with pytest.raises(PlainHttpRefused):
            runner.run_sync(ws)
    code, _, err = cli(tmp_path / "d", "sync")
    assert code == 1 and "unencrypted" in err and "--allow-plain-http" in err
