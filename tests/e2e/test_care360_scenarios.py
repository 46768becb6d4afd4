"""Care360 (dialect 2) scenarios: the real client, sign-in and engine against the reference
server over HTTP. Only the keychain is in memory (`memory_keyring`)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.cli import main, sync_summary
from desktop.errors import ValidationError
from desktop.models.tables import ChangeKind, PendingChange
from desktop.sync import credentials, registry, runner
from desktop.sync.care360.client import Care360Client
from desktop.sync.care360.engine import (
    GENERAL_NOTE,
    UNCONFIRMED_GENERAL,
    Care360Engine,
    link_case,
)
from desktop.sync.care360.signin import REFRESH, REFRESH_NEXT, Care360Vault
from desktop.sync.kind import CodeSent
from desktop.sync.outbox import RetryPolicy
from desktop.sync.profile import current_server
from desktop.sync.report import SyncProgress, SyncReport
from desktop.workspace import Workspace
from tests import samples
from tests.e2e.conftest import PDF
from tests.server.care360_store import DEFAULT_API_KEY

EMAIL = "pat@example.org"
UPLOAD = "/me/files/upload"
DICOM = samples.dicom()


@dataclass
class Care360Harness:
    ws: Workspace
    server: object
    tmp: Path
    sleeps: list[float] = field(default_factory=list)
    last_client: Care360Client | None = None

    def engine(self) -> Care360Engine:
        client = registry.open_client(self.ws)
        assert isinstance(client, Care360Client)
        self.last_client = client
        return Care360Engine(self.ws, client, policy=RetryPolicy(attempts=4),
                             sleep=self.sleeps.append, honour_schedule=False)

    def sync(self, progress: Callable[[SyncProgress], None] | None = None) -> SyncReport:
        engine = self.engine()
        try:
            return engine.run(progress=progress)
        finally:
            engine.client.close()

    def file(self, name: str, data: bytes = PDF) -> Path:
        path = self.tmp / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def case(self, linked: bool = True, owned: bool = True, name: str = "Jane Smith") -> tuple[str, str | None]:
        """A local case; `linked` ties it to a Care360 case UUID (registered as the patient's
        own when `owned`)."""
        record = self.ws.create_case(name, 32, "female", "notes")
        if not linked:
            return record.id, None
        care_id = str(uuid.uuid4())
        if owned:
            self.server.care360_add_case(EMAIL, care_id)
        link_case(self.ws, record.id, care_id)
        return record.id, care_id

    def attach(self, case_id: str, *names: str, data: bytes | None = None) -> None:
        paths = [self.file(n, data if data is not None else PDF + n.encode()) for n in names]
        results = self.ws.attach(case_id, paths)
        assert all(r.outcome == "attached" for r in results), results

    def uploads(self) -> list[PendingChange]:
        with self.ws.sessions() as s:
            return list(s.scalars(select(PendingChange).where(
                PendingChange.kind == ChangeKind.UPLOAD_DOCUMENT)))

    def server_files(self, **kw: object) -> list[dict]:
        return self.server.care360_files(EMAIL, **kw)

    def keychain(self, name: str) -> str | None:
        return credentials.load_secret(self.server.url, EMAIL, name)


CARE360 = registry.kind("care360")


def start(url: str, contact: str, key: str = DEFAULT_API_KEY) -> CodeSent:
    pending = CARE360.begin_sign_in(None, url, contact, key)  # type: ignore[arg-type]
    assert isinstance(pending, CodeSent)
    return pending


def sign_in(ws: Workspace, server) -> None:
    CARE360.finish_sign_in(ws, start(server.url, EMAIL), server.care360_otp(EMAIL))


@pytest.fixture
def care(reference_server, memory_keyring, tmp_path) -> Iterator[Care360Harness]:
    with Workspace.open(tmp_path / "data") as ws:
        sign_in(ws, reference_server)
        yield Care360Harness(ws, reference_server, tmp_path)


class Answers:
    """Piped standard input whose lines may be computed when read (the OTP arrives after the
    API key was read and send-otp was called)."""

    def __init__(self, *lines: str | Callable[[], str]) -> None:
        self.lines = list(lines)

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        if not self.lines:
            return ""
        item = self.lines.pop(0)
        return (item() if callable(item) else item) + "\n"


def cli(data: Path, *args: str, stdin: object = None) -> tuple[int, str, str]:
    import sys

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = stdin if stdin is not None else io.StringIO("")
    try:
        code = main(["--data-dir", str(data), *args], out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- sign-in


def test_cli_login_with_piped_key_and_code_then_sync(reference_server, memory_keyring, tmp_path):
    data = tmp_path / "d"
    answers = Answers(DEFAULT_API_KEY, lambda: reference_server.care360_otp(EMAIL))
    code, out, err = cli(data, "login", "--kind", "care360", "--server", reference_server.url,
                         "--email", EMAIL, stdin=answers)
    assert code == 0, err
    assert "code was sent to the email address pat@example.org" in out
    assert "Signed in to Care360" in out and DEFAULT_API_KEY not in out
    keys = {account.split("|")[-1]: secret for (_svc, account), secret in
            memory_keyring.sign_ins().items()}
    assert keys["api_key"] == DEFAULT_API_KEY and keys["refresh_token"]
    assert "refresh_token.next" not in keys
    refresh = keys["refresh_token"]
    cache = (data / "casedesk.sqlite3").read_bytes()
    assert DEFAULT_API_KEY.encode() not in cache and refresh.encode() not in cache

    code, out, _ = cli(data, "cases", "new", "--name", "Jane Smith", "--age", "32", "--gender",
                       "female", "--json")
    case_id = json.loads(out)["case"]["id"]
    (tmp_path / "lab.pdf").write_bytes(PDF)
    assert cli(data, "attach", case_id, str(tmp_path / "lab.pdf"))[0] == 0
    code, out, err = cli(data, "sync")
    assert code == 0, err
    assert out.startswith("Synced with Care360: 1 uploaded (1 as general document(s)"), out
    assert "1 case change(s) stay on this computer" in out
    [stored] = reference_server.care360_files(EMAIL)
    assert (stored["file_name"], stored["case_id"]) == ("lab.pdf", None)
    # The refresh token rotated during the sync and the keychain has the new one.
    new_refresh = credentials.load_secret(reference_server.url, EMAIL, "refresh_token")
    assert new_refresh and new_refresh != refresh

    code, out, _ = cli(data, "logout")
    assert code == 0
    assert not [k for k in memory_keyring.sign_ins() if EMAIL in k[1]]


def test_cli_login_refuses_a_missing_code(reference_server, memory_keyring, tmp_path):
    code, _out, err = cli(tmp_path / "d", "login", "--kind", "care360", "--server",
                          reference_server.url, "--email", EMAIL,
                          stdin=Answers(DEFAULT_API_KEY))
    assert code == 1 and "No code given" in err
    assert not memory_keyring.sign_ins()


def test_cli_login_usage_for_care360(reference_server, memory_keyring, tmp_path):
    code, _out, err = cli(tmp_path / "d", "login", "--kind", "care360", "--server",
                          reference_server.url, stdin=Answers(DEFAULT_API_KEY))
    assert code == 2 and "--email or --phone" in err
    code, _out, err = cli(tmp_path / "d", "login", "--server", reference_server.url)
    assert code == 2 and "--user-id" in err


def test_core_two_step_sign_in_by_phone(reference_server, memory_keyring, tmp_path):
    with Workspace.open(tmp_path / "data") as ws:
        pending = start(reference_server.url, "+1 555 0100 200")
        assert pending.account == "+15550100200" and DEFAULT_API_KEY not in repr(pending)
        with pytest.raises(ValidationError, match="did not accept that code"):
            wrong = "000000" if reference_server.care360_otp("+15550100200") != "000000" \
                else "111111"
            CARE360.finish_sign_in(ws, pending, wrong)
        result = CARE360.finish_sign_in(ws, pending, reference_server.care360_otp("+15550100200"))
        assert (result.profile.kind, result.profile.user_id) == ("care360", "+15550100200")
        assert current_server(ws).kind == "care360"
        vault = Care360Vault(reference_server.url, "+15550100200")
        assert vault.api_key() == DEFAULT_API_KEY and vault.refresh_token()
        with registry.open_client(ws) as client:
            assert isinstance(client, Care360Client)
            assert client.list_files() == []


def test_wrong_api_key_is_refused_before_a_code_is_sent(reference_server, memory_keyring):
    with pytest.raises(Exception, match="Invalid API key"):
        start(reference_server.url, EMAIL, key="not-the-key")


# ---------------------------------------------------------------- tokens


def test_access_token_expiring_mid_run_is_renewed_transparently(care):
    case_id, care_id = care.case()
    care.attach(case_id, "a.pdf", "b.pdf", "c.pdf")
    before = care.keychain(REFRESH)

    def expire_before_second(p: SyncProgress) -> None:
        if p.phase == "push" and p.done == 1:
            care.server.care360_expire_access()

    report = care.sync(progress=expire_before_second)

    assert report.ok and report.uploaded == 3, report
    assert sorted(f["file_name"] for f in care.server_files()) == ["a.pdf", "b.pdf", "c.pdf"]
    assert {f["case_id"] for f in care.server_files()} == {care_id}
    statuses = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in care.server.requests()]
    assert statuses.count(("upload", 401)) == 1  # the one answered with the expired token
    assert statuses.count(("refresh-token", 200)) == 2  # start of run + after the 401
    assert care.last_client.refreshes == 2
    after = care.keychain(REFRESH)
    assert after and after != before and care.keychain(REFRESH_NEXT) is None


def test_token_is_renewed_before_it_expires(care):
    now = [0.0]
    vault = Care360Vault(care.server.url, EMAIL)
    with Care360Client(care.server.url, vault.api_key(), EMAIL,
                       refresh_token=vault.refresh_token(), on_rotate=vault.store_refresh,
                       clock=lambda: now[0]) as client:
        client.list_files()
        now[0] += 14 * 60 + 30  # 30 s before the 15-minute expiry
        client.list_files()
        assert client.refreshes == 2
    assert all(r["status"] != 401 for r in care.server.requests())


def test_replayed_refresh_token_needs_sign_in_and_keeps_the_queue(care):
    case_id, _ = care.case()
    care.attach(case_id, "first.pdf")
    stale = care.keychain(REFRESH)
    assert care.sync().uploaded == 1  # rotates: `stale` is now spent
    care.attach(case_id, "second.pdf")
    newest = care.keychain(REFRESH)
    # An old copy of the refresh token comes back (restored backup, second machine...).
    credentials.store_secret(care.server.url, EMAIL, stale, REFRESH)

    report = care.sync()

    assert report.auth_required and "sign in again" in sync_summary(report)
    assert "reused" in report.error
    [change] = care.uploads()
    assert change.state == "queued" and not change.in_flight
    # Reuse revoked the whole family: even the newest token is dead now.
    credentials.store_secret(care.server.url, EMAIL, newest, REFRESH)
    report = care.sync()
    assert report.auth_required
    assert [f["file_name"] for f in care.server_files()] == ["first.pdf"]
    # Signing in again sends what waited.
    sign_in(care.ws, care.server)
    assert care.sync().uploaded == 1


def test_crash_between_keychain_writes_keeps_the_sign_in(care):
    url = care.server.url
    vault = Care360Vault(url, EMAIL)
    old = vault.refresh_token()

    def crash_after_first_write(token: str) -> None:
        credentials.store_secret(url, EMAIL, token, REFRESH_NEXT)  # then the process "dies"

    with Care360Client(url, vault.api_key(), EMAIL, refresh_token=old,
                       on_rotate=crash_after_first_write) as client:
        client.refresh()
    assert care.keychain(REFRESH) == old  # the spent token is still the main entry
    assert care.keychain(REFRESH_NEXT) not in (None, old)

    case_id, _ = care.case()
    care.attach(case_id, "after-crash.pdf")
    report = care.sync()

    assert report.ok and report.uploaded == 1, report
    assert care.keychain(REFRESH_NEXT) is None
    assert care.keychain(REFRESH) not in (None, old)


# ---------------------------------------------------------------- error classes


def test_validation_error_400_is_parked_with_the_message(care):
    case_id, _ = care.case()
    care.attach(case_id, "a.pdf", "b.pdf")
    care.server.fail_next(1, status=400, path=UPLOAD)

    report = care.sync()

    assert report.parked == 1 and report.uploaded == 1, report
    parked = [c for c in care.uploads() if c.state == "parked"]
    assert len(parked) == 1 and "Care360 refused this" in parked[0].last_error
    assert "injected fault" in parked[0].last_error
    docs = {d.name: d for d in care.ws.documents(case_id)}
    assert docs["a.pdf"].state == "failed" and docs["b.pdf"].state == "uploaded"


def test_persistent_401_stops_for_sign_in_and_keeps_the_queue(care):
    case_id, _ = care.case()
    care.attach(case_id, "a.pdf")
    care.server.unauthorized_next(2, path=UPLOAD)

    report = care.sync()

    assert report.auth_required, report
    [change] = care.uploads()
    assert change.state == "queued"
    assert [d.state for d in care.ws.documents(case_id)] == ["local_only"]
    assert care.server_files() == []
    assert care.sync().uploaded == 1  # the refresh token itself is still good


def test_case_not_owned_403_is_parked(care):
    case_id, _ = care.case(owned=False)
    care.attach(case_id, "a.pdf")

    report = care.sync()

    assert report.parked == 1 and report.uploaded == 0
    [change] = care.uploads()
    assert change.last_error.startswith("Care360 says you do not have access to this case;")
    assert care.ws.get_case(case_id).sync_state == "error"


def test_storage_failure_500_is_retried_and_stored_once(care):
    case_id, _ = care.case()
    care.attach(case_id, "a.pdf")
    care.server.care360_fail_storage(1)

    report = care.sync()

    assert report.ok and report.uploaded == 1 and report.adopted == 0, report
    assert len(care.sleeps) == 1
    assert len(care.server_files()) == 1
    assert len(care.server_files(include_deleted=True)) == 2  # the rolled-back row
    # The documented INTERNAL_ERROR is not outcome-unknown: no reconcile listing was needed.
    assert not [r for r in care.server.requests() if r["method"] == "GET"]


def test_undocumented_500_after_work_is_reconciled_not_duplicated(care):
    case_id, _ = care.case()
    care.attach(case_id, "a.pdf")
    care.server.fail_next(1, status=502, after_work=True, path=UPLOAD)

    report = care.sync()

    assert report.adopted == 1 and report.uploaded == 0, report
    assert len(care.server_files()) == 1


def test_dropped_connection_after_the_body_is_reconciled_not_duplicated(care):
    case_id, _ = care.case()
    care.attach(case_id, "scan.png", data=samples.PNG)
    care.server.drop_after_body(1, path=UPLOAD)

    report = care.sync()

    assert report.ok and report.adopted == 1 and report.uploaded == 0, report
    [stored] = care.server_files()
    [doc] = care.ws.documents(case_id)
    assert (doc.state, doc.server_file_id) == ("uploaded", stored["id"])
    assert care.uploads() == []
    uploads = [r for r in care.server.requests() if r["path"].endswith("/upload")]
    assert len(uploads) == 1  # never sent twice


def test_unfinished_upload_from_a_crashed_run_is_reconciled_first(care):
    case_id, _ = care.case()
    care.attach(case_id, "a.pdf")
    care.server.drop_after_body(1, path=UPLOAD)
    care.server.drop_after_body(None, path="/me/files", method="GET")  # listing fails too ...
    report = care.sync()
    assert not report.ok
    [change] = care.uploads()
    assert change.in_flight  # ... so the outcome is still unknown when the run ends
    care.server.clear_faults()
    care.server.clear_requests()

    report = care.sync()

    assert report.adopted == 1 and len(care.server_files()) == 1, report
    assert not [r for r in care.server.requests() if r["path"].endswith("/upload")]


def test_dropped_general_document_is_set_aside_not_resent(care):
    case_id, _ = care.case(linked=False)
    care.attach(case_id, "consent.pdf")
    care.server.drop_after_body(1, path=UPLOAD)

    report = care.sync()

    assert report.parked == 1, report
    [change] = care.uploads()
    assert change.last_error == UNCONFIRMED_GENERAL
    assert len(care.server_files()) == 1  # stored once, never sent a second time


# ---------------------------------------------------------------- what goes where


def test_dicom_is_refused_locally_with_the_reason(care):
    case_id, _ = care.case()
    care.attach(case_id, "ct.dcm", data=DICOM)
    care.attach(case_id, "ok.pdf")

    report = care.sync()

    assert report.parked == 1 and report.uploaded == 1, report
    docs = {d.name: d for d in care.ws.documents(case_id)}
    assert docs["ct.dcm"].state == "failed"
    assert docs["ct.dcm"].error == ("Care360 does not accept DICOM images (application/dicom); "
                                    "export the image as PNG or JPEG to send it.")
    assert [f["file_name"] for f in care.server_files()] == ["ok.pdf"]
    assert not [r for r in care.server.requests()
                if r["path"].endswith("/upload") and r["status"] != 200]


def test_document_of_an_unlinked_case_goes_as_a_general_document(care):
    case_id, _ = care.case(linked=False)
    care.attach(case_id, "consent.pdf")

    report = runner.run_sync(care.ws)  # the runner picks the Care360 engine by profile kind

    assert report.files_only and report.server == "Care360"
    assert report.uploaded == 1 and report.general_documents == 1
    assert "as general document(s), not attached to a case" in sync_summary(report)
    [doc] = care.ws.documents(case_id)
    assert doc.state == "uploaded" and doc.error == GENERAL_NOTE
    [stored] = care.server_files()
    assert stored["case_id"] is None
    with registry.open_client(care.ws) as client:
        assert client.list_files() == []  # Care360 does not list general documents


def test_case_creates_and_edits_stay_queued_and_are_not_failures(care):
    case_id, _ = care.case(linked=False)
    care.ws.edit_case(case_id, case_summary="changed")
    linked_id, _ = care.case()
    care.ws.edit_case(linked_id, status="processing")

    report = care.sync()

    assert report.ok and report.parked == 0 and report.case_changes_kept == 3, report
    assert "3 case change(s) stay on this computer" in sync_summary(report)
    kinds = sorted(r.kind for r in care.ws.pending())
    assert kinds == ["create_case", "create_case", "update_case"]
    assert all(r.state == "queued" and r.attempts == 0 for r in care.ws.pending())
    assert not [r for r in care.server.requests() if "/me/" in r["path"]]


def test_cli_link_files_documents_under_a_care360_case(tmp_path):
    import io
    import json
    import uuid

    from desktop.cli import main

    data = tmp_path / "d"
    out, err = io.StringIO(), io.StringIO()
    main(["--data-dir", str(data), "cases", "new", "--name", "A", "--age", "3", "--gender",
          "male", "--json"], out=out, err=err)
    case_id = json.loads(out.getvalue())["case"]["id"]
    target = str(uuid.uuid4())
    out = io.StringIO()
    assert main(["--data-dir", str(data), "cases", "link", case_id, target], out=out) == 0
    err = io.StringIO()
    assert main(["--data-dir", str(data), "cases", "link", case_id, "12"], err=err) == 1
    assert "not a Care360 case id" in err.getvalue()
    out = io.StringIO()
    main(["--data-dir", str(data), "cases", "show", case_id, "--json"], out=out)
    assert json.loads(out.getvalue())["case"]["server_id"] == target
