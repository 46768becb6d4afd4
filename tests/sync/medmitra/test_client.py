"""MedMitraClient against the reference server over real HTTP: every method, both field
spellings, the int-id quirk, every error class, and streaming (flat memory) both ways."""

from __future__ import annotations

import io
import logging
import os
import socket
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from desktop.errors import CaseDeskError
from desktop.sync import errors as err
from desktop.sync.http import READ_CHUNK, parse_retry_after
from desktop.sync.medmitra.client import Attachment, MedMitraClient
from desktop.sync.medmitra.records import parse_case, parse_file, resolve_url
from desktop.sync.records import CaseDetail, RemoteCase, RemoteFile

TOKEN = "token-doctor-1"
USER = "doctor-1"
PATIENT = "Asha Verma"
FIELDS = {"patient_name": PATIENT, "patient_age": 54, "patient_gender": "female",
          "case_summary": "Chest pain since Tuesday"}


@pytest.fixture
def client(reference_server):
    with MedMitraClient(reference_server.url, TOKEN, USER) as c:
        yield c


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_user_facing(exc: BaseException) -> None:
    """A clinician reads this: no token, no traceback, no patient name."""
    text = str(exc)
    assert isinstance(exc, CaseDeskError)
    assert TOKEN not in text and "Bearer" not in text
    assert "Traceback" not in text and PATIENT not in text
    assert text and text[0].isupper()


def client_requests(server, method=None, contains=None):
    return [r for r in server.requests()
            if (method is None or r["method"] == method)
            and (contains is None or contains in r["path"])]


# ------------------------------------------------------------------ happy paths


def test_create_list_get_roundtrip_with_attachments(reference_server, client, tmp_path):
    lab = write(tmp_path / "cbc.pdf", b"%PDF-1.4 lab" * 1000)
    xray = write(tmp_path / "chest.png", b"\x89PNG" + b"x" * 5000)
    seen: list[tuple[int, int]] = []
    case, files = client.create_case(
        FIELDS,
        [Attachment(lab, "cbc.pdf", "application/pdf", "lab"),
         Attachment(xray, "chest.png", "image/png", "radiology")],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert isinstance(case, RemoteCase)
    assert case.patient_name == PATIENT and case.patient_age == 54
    assert case.user_id == USER and case.status == "pending" and case.case_summary
    assert case.created_at and case.updated_at and case.numeric_id is None
    total = lab.stat().st_size + xray.stat().st_size
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {(f.file_name, f.file_category, f.file_size) for f in files} == {
        ("cbc.pdf", "lab", lab.stat().st_size), ("chest.png", "radiology", xray.stat().st_size)}
    assert all(f.case_id == case.server_id and f.file_url.startswith(reference_server.url)
               for f in files)

    listed = client.list_cases()
    assert [c.server_id for c in listed] == [case.server_id]
    assert listed[0] == case

    reference_server.set_insights(case.server_id, {"primary_diagnosis": "Angina",
                                                   "key_findings": ["ST depression"]})
    detail = client.case_detail(case.server_id)
    assert isinstance(detail, CaseDetail)
    assert detail.case.server_id == case.server_id
    assert detail.insights == {"primary_diagnosis": "Angina", "key_findings": ["ST depression"]}
    assert [f.file_name for f in detail.files] == ["cbc.pdf", "chest.png"]


def test_case_without_insights_and_files(reference_server, client):
    case, files = client.create_case({"patient_name": "B", "patient_age": 3,
                                      "patient_gender": "male"})
    assert files == [] and case.case_summary is None
    detail = client.case_detail(case.server_id)
    assert detail.insights is None and detail.files == []
    assert client.list_files(case.server_id) == []


def test_deployed_field_spelling_and_numeric_ids(reference_server, client, tmp_path):
    reference_server.set_quirks(field_names="deployed", numeric_id=True)
    case, files = client.create_case(
        FIELDS, [Attachment(write(tmp_path / "a.csv", b"a,b\n1,2\n"), "a.csv", "text/csv", "lab")])
    assert "doctor_id" in case.raw and "user_id" not in case.raw
    assert case.user_id == USER
    assert isinstance(case.raw["id"], int) and case.numeric_id == str(case.raw["id"])
    assert "upload_date" in files[0].raw and files[0].uploaded_at == files[0].raw["upload_date"]
    [listed] = client.list_cases()
    assert listed.user_id == USER and listed.numeric_id == case.numeric_id
    [listed_file] = client.list_files(case.server_id)
    assert listed_file.uploaded_at and listed_file.file_category == "lab"
    assert isinstance(listed_file.file_id, str)


def test_documented_spelling_files(reference_server, client, tmp_path):
    case, _ = client.create_case(FIELDS)
    remote = client.upload_file(case.server_id, write(tmp_path / "n.txt", b"note"), "n.txt",
                                "text/plain")
    assert "uploaded_at" in remote.raw and remote.uploaded_at == remote.raw["uploaded_at"]
    assert remote.file_category is None  # the upload answer lacks it; the listing has it
    [listed] = client.list_files(case.server_id)
    assert listed.file_category == "lab" and listed.file_id == remote.file_id


def test_update_case(reference_server, client):
    case, _ = client.create_case(FIELDS)
    updated = client.update_case(case.server_id, {"case_summary": "Better", "status": "reviewed"})
    assert updated.case_summary == "Better"
    assert updated.status == "reviewed"  # an unknown status is kept as text
    assert updated.patient_name == PATIENT and updated.updated_at != case.updated_at
    assert reference_server.cases(USER)[0]["case_summary"] == "Better"


def test_upload_get_and_delete_file_then_delete_case(reference_server, client, tmp_path):
    case, _ = client.create_case(FIELDS)
    path = write(tmp_path / "scan.dcm", b"DICM" * 4096)
    seen: list[tuple[int, int]] = []
    remote = client.upload_file(case.server_id, path, "scan.dcm", "application/dicom",
                                progress=lambda d, t: seen.append((d, t)))
    assert isinstance(remote, RemoteFile)
    assert remote.file_size == path.stat().st_size and remote.case_id == case.server_id
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    fetched = client.get_file(remote.file_id)
    assert fetched.file_name == "scan.dcm" and fetched.file_category == "radiology"
    assert fetched.file_url == remote.file_url

    client.delete_file(remote.file_id, case.server_id)
    assert reference_server.files(case.server_id) == []
    with pytest.raises(err.RemoteNotFound):
        client.get_file(remote.file_id)

    client.delete_case(case.server_id)
    assert reference_server.cases(USER) == []
    with pytest.raises(err.RemoteNotFound):
        client.delete_case(case.server_id)


# ------------------------------------------------------------------ the int-id quirk


def test_int_id_quirk_retries_once_with_numeric_id(reference_server, client, tmp_path):
    reference_server.set_quirks(field_names="deployed", numeric_id=True, int_ids=True)
    case, _ = client.create_case(FIELDS)
    assert case.numeric_id is not None
    reference_server.clear_requests()

    updated = client.update_case(case.server_id, {"patient_age": 55}, numeric_id=case.numeric_id)
    assert updated.patient_age == 55
    puts = [(r["path"], r["status"]) for r in client_requests(reference_server, "PUT")]
    assert puts == [(f"/cases/cases/{case.server_id}", 422),
                    (f"/cases/cases/{case.numeric_id}", 200)]

    path = write(tmp_path / "lab.pdf", b"%PDF" + b"0" * 300_000)
    seen: list[int] = []
    remote = client.upload_file(case.server_id, path, "lab.pdf", "application/pdf",
                                numeric_id=case.numeric_id,
                                progress=lambda d, t: seen.append(d))
    assert remote.case_id == case.server_id and remote.file_size == path.stat().st_size
    # The retry sends the file again: progress rewinds once and ends at the full size.
    assert seen[-1] == path.stat().st_size
    assert sum(1 for a, b in zip(seen, seen[1:], strict=False) if b < a) == 1
    assert len(reference_server.files(case.server_id)) == 1

    [listed] = client.list_files(case.server_id, numeric_id=case.numeric_id)
    assert listed.file_id == remote.file_id
    uploads = [r["status"] for r in client_requests(reference_server, "POST", "/cases/upload")]
    assert uploads == [422, 201]


def test_int_id_quirk_without_numeric_id_is_an_explained_refusal(reference_server, client):
    reference_server.set_quirks(int_ids=True)
    case, _ = client.create_case(FIELDS)
    with pytest.raises(err.RejectedError) as info:
        client.update_case(case.server_id, {"status": "completed"})
    exc = info.value
    assert exc.status == 422 and exc.int_id_required and not exc.retryable
    assert exc.action is err.Action.PARK
    assert ("case_id", "Input should be a valid integer, unable to parse string as an integer") \
        in exc.field_errors
    assert "numeric case number" in str(exc)
    assert_user_facing(exc)
    assert len(client_requests(reference_server, "PUT")) == 1  # no retry without a number


# ------------------------------------------------------------------ refusals


def test_empty_update_is_rejected_with_server_detail(reference_server, client):
    case, _ = client.create_case(FIELDS)
    with pytest.raises(err.RejectedError) as info:
        client.update_case(case.server_id, {})
    exc = info.value
    assert exc.status == 400 and exc.detail == "No data provided for update"
    assert "No data provided for update" in str(exc)
    assert not exc.retryable and not exc.outcome_unknown and exc.action is err.Action.PARK
    assert_user_facing(exc)


def test_422_list_becomes_field_messages(reference_server, client):
    with pytest.raises(err.RejectedError) as info:
        client.create_case({"patient_name": "X", "patient_age": "fifty"})
    exc = info.value
    assert exc.status == 422 and not exc.int_id_required
    fields = dict(exc.field_errors)
    assert fields["patient_age"].startswith("Input should be a valid integer")
    assert fields["patient_gender"] == "Field required"
    assert "patient_age: Input should be a valid integer" in str(exc)
    assert "patient_gender: Field required" in str(exc)
    assert "fifty" not in str(exc)  # request values are never echoed
    assert reference_server.cases() == []


def test_403_other_doctor(reference_server):
    with MedMitraClient(reference_server.url, TOKEN, "doctor-2") as c:
        with pytest.raises(err.RejectedError) as info:
            c.list_cases()
    assert info.value.status == 403 and "another user" in str(info.value)
    assert_user_facing(info.value)


def test_404_carries_detail(reference_server, client, tmp_path):
    with pytest.raises(err.RemoteNotFound) as info:
        client.update_case("no-such-case", {"status": "completed"})
    exc = info.value
    assert exc.status == 404 and exc.detail == "Case not found" and "Case not found" in str(exc)
    assert not exc.retryable and exc.action is err.Action.PARK
    with pytest.raises(err.RemoteNotFound):
        client.case_detail("no-such-case")
    with pytest.raises(err.RemoteNotFound):
        client.upload_file("no-such-case", write(tmp_path / "x.txt", b"x"), "x.txt", "text/plain")


def test_other_doctors_case_is_not_found(reference_server, client):
    other = reference_server.create_case("doctor-2")
    with pytest.raises(err.RemoteNotFound):
        client.case_detail(other["case_id"])
    with MedMitraClient(reference_server.url, "token-doctor-2", "doctor-2") as c2:
        assert [c.server_id for c in c2.list_cases()] == [other["case_id"]]


# ------------------------------------------------------------------ auth


def test_bad_token_is_auth_error(reference_server, caplog):
    secret = "token-that-must-never-be-logged"
    caplog.set_level(logging.DEBUG)
    with MedMitraClient(reference_server.url, secret, USER) as c:
        with pytest.raises(err.AuthError) as info:
            c.list_cases()
    exc = info.value
    assert exc.status == 401 and exc.action is err.Action.SIGN_IN and not exc.retryable
    assert secret not in str(exc) and secret not in repr(exc) and secret not in repr(c)
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert "sign in" in str(exc).lower()


def test_unauthorized_next(reference_server, client):
    reference_server.unauthorized_next(1)
    with pytest.raises(err.AuthError):
        client.list_cases()
    assert client.list_cases() == []


# ------------------------------------------------------------------ server failures


def test_500_with_retry_after_on_read_is_retryable(reference_server, client):
    reference_server.fail_next(1, status=503, retry_after=7, path="/cases/all_cases")
    with pytest.raises(err.ServerError) as info:
        client.list_cases()
    exc = info.value
    assert exc.status == 503 and exc.retry_after == 7.0
    assert exc.retryable and not exc.outcome_unknown and exc.action is err.Action.RETRY
    assert not isinstance(exc, err.OutcomeUnknownError)
    assert_user_facing(exc)
    assert client.list_cases() == []


def test_retry_after_http_date(reference_server, client):
    when = datetime.now(UTC) + timedelta(seconds=120)
    reference_server.fail_next(1, status=429, retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(err.ServerError) as info:
        client.list_cases()
    assert info.value.status == 429
    assert 60 < info.value.retry_after <= 121


def test_500_on_create_after_work_is_outcome_unknown(reference_server, client):
    reference_server.fail_next(1, status=500, after_work=True, path="/cases/create_case")
    with pytest.raises(err.OutcomeUnknownError) as info:
        client.create_case(FIELDS)
    exc = info.value
    assert isinstance(exc, err.ServerError) and exc.status == 500 and exc.retry_after is None
    assert exc.outcome_unknown and exc.retryable and exc.action is err.Action.RECONCILE
    assert exc.detail.startswith("Internal server error") and "Internal" not in str(exc)
    assert_user_facing(exc)
    # It really was stored: a blind retry would duplicate it.
    assert len(reference_server.cases(USER)) == 1


def test_5xx_on_upload_is_outcome_unknown(reference_server, client, tmp_path):
    case, _ = client.create_case(FIELDS)
    reference_server.fail_next(1, status=502, path="/cases/upload")
    with pytest.raises(err.ServerOutcomeUnknownError) as info:
        client.upload_file(case.server_id, write(tmp_path / "a.txt", b"a"), "a.txt", "text/plain")
    assert info.value.outcome_unknown and info.value.status == 502


def test_5xx_on_update_is_plain_server_error(reference_server, client):
    case, _ = client.create_case(FIELDS)
    reference_server.fail_next(1, status=500, method="PUT")
    with pytest.raises(err.ServerError) as info:
        client.update_case(case.server_id, {"status": "completed"})
    assert not info.value.outcome_unknown and info.value.retryable


def test_truncated_json_on_read(reference_server, client):
    client.create_case(FIELDS)
    reference_server.truncate_next(1, path="/cases/all_cases")
    with pytest.raises(err.ProtocolError) as info:
        client.list_cases()
    exc = info.value
    assert exc.retryable and not exc.outcome_unknown and exc.status == 200
    assert "nothing was applied" in str(exc)
    assert_user_facing(exc)


def test_truncated_json_on_create_is_outcome_unknown(reference_server, client):
    reference_server.truncate_next(1, path="/cases/create_case")
    with pytest.raises(err.ProtocolError) as info:
        client.create_case(FIELDS)
    assert info.value.outcome_unknown and info.value.action is err.Action.RECONCILE
    assert len(reference_server.cases(USER)) == 1


def test_dropped_connection_after_body(reference_server, client, tmp_path):
    reference_server.drop_after_body(1, path="/cases/create_case")
    with pytest.raises(err.OutcomeUnknownError) as info:
        client.create_case(
            FIELDS, [Attachment(write(tmp_path / "a.pdf", b"%PDF"), "a.pdf", "application/pdf")])
    exc = info.value
    assert exc.outcome_unknown and exc.retryable and exc.status is None
    assert not isinstance(exc, err.ServerError)
    assert_user_facing(exc)
    [stored] = reference_server.cases(USER)
    assert len(reference_server.files(stored["case_id"])) == 1

    reference_server.drop_after_body(1, method="PUT")
    with pytest.raises(err.OutcomeUnknownError):
        client.update_case(stored["case_id"], {"status": "completed"})

    reference_server.drop_after_body(1, path="/cases/all_cases")
    with pytest.raises(err.NetworkError) as got:
        client.list_cases()
    assert got.value.retryable and not got.value.outcome_unknown
    assert len(client.list_cases()) == 1  # the client recovers on a fresh connection


def test_read_timeout(reference_server, tmp_path):
    timeout = httpx.Timeout(connect=5, read=0.3, write=5, pool=5)
    with MedMitraClient(reference_server.url, TOKEN, USER, timeout=timeout) as c:
        reference_server.delay(1.5, path="/cases/all_cases", n=1)
        with pytest.raises(err.NetworkError) as info:
            c.list_cases()
        assert info.value.retryable and not info.value.outcome_unknown
        reference_server.delay(1.5, path="/cases/create_case", n=1, after_work=True)
        with pytest.raises(err.OutcomeUnknownError) as unknown:
            c.create_case(FIELDS)
        assert unknown.value.action is err.Action.RECONCILE
        assert_user_facing(unknown.value)


def test_connection_refused_is_offline():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with MedMitraClient(f"http://127.0.0.1:{port}", TOKEN, USER) as c:
        with pytest.raises(err.OfflineError) as info:
            c.list_cases()
        exc = info.value
        assert exc.retryable and not exc.outcome_unknown and exc.action is err.Action.RETRY
        assert_user_facing(exc)
        with pytest.raises(err.OfflineError):  # a create that never left: nothing happened
            c.create_case(FIELDS)


class Cancelled(Exception):
    pass


def test_progress_callback_can_cancel_an_upload(reference_server, client, tmp_path):
    case, _ = client.create_case(FIELDS)
    path = write(tmp_path / "big.pdf", b"%PDF" + b"0" * (4 * 1024 * 1024))

    def progress(done: int, total: int) -> None:
        if done > total // 4:
            raise Cancelled

    with pytest.raises(Cancelled):
        client.upload_file(case.server_id, path, "big.pdf", "application/pdf", progress=progress)
    assert reference_server.files(case.server_id) == []  # a cut body stores nothing
    assert client.list_files(case.server_id) == []  # and the client keeps working


def test_logs_hold_no_token_or_patient_data(reference_server, client, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    name = "Asha-Verma-MRI.pdf"
    reference_server.fail_next(1, status=500, path="/cases/upload")
    case, _ = client.create_case(FIELDS)
    with pytest.raises(err.ServerError):
        client.upload_file(case.server_id, write(tmp_path / name, b"x"), name, "application/pdf")
    client.update_case(case.server_id, {"case_summary": "Asha Verma feels better"})
    reference_server.drop_after_body(1, method="PUT")
    with pytest.raises(err.OutcomeUnknownError):
        client.update_case(case.server_id, {"status": "completed"})
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("desktop")]
    assert any("POST /cases/upload -> 500" in m for m in messages)
    assert any("PUT /cases/cases/{case_id}" in m for m in messages)
    for m in messages:
        assert TOKEN not in m and "Asha" not in m and case.server_id not in m


def test_missing_local_file_is_clean_error(reference_server, client, tmp_path):
    case, _ = client.create_case(FIELDS)
    with pytest.raises(err.SyncError) as info:
        client.upload_file(case.server_id, tmp_path / "gone.pdf", "gone.pdf", "application/pdf")
    assert not info.value.retryable and not info.value.outcome_unknown
    assert client_requests(reference_server, "POST", "/cases/upload") == []


# ------------------------------------------------------------------ streaming


MiB = 1024 * 1024


def big_file(path: Path, size: int) -> Path:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("route", ["upload_file", "create_case"])
def test_upload_streams_with_flat_memory(reference_server, client, tmp_path, route):
    size = 96 * MiB
    path = big_file(tmp_path / "big.dcm", size)
    case, _ = client.create_case(FIELDS)
    calls: list[tuple[int, int]] = []
    progress = lambda d, t: calls.append((d, t))  # noqa: E731
    tracemalloc.start()
    try:
        if route == "upload_file":
            remote = client.upload_file(case.server_id, path, "big.dcm", "application/dicom",
                                        progress=progress)
        else:
            _, [remote] = client.create_case(
                FIELDS, [Attachment(path, "big.dcm", "application/dicom", "radiology")],
                progress=progress)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert remote.file_size == size
    assert peak < 4 * MiB, f"upload peak {peak / MiB:.1f} MiB"
    assert len(calls) >= size // READ_CHUNK  # one call per chunk read: steady progress
    assert all(t == size for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == size
    assert (reference_server.data_dir / "medmitra" / "files" / remote.file_id).stat().st_size \
        == size


@pytest.mark.slow
def test_download_streams_with_flat_memory(reference_server, client, tmp_path):
    size = 64 * MiB
    source = big_file(tmp_path / "src.bin", size)
    case, _ = client.create_case(FIELDS)
    remote = client.upload_file(case.server_id, source, "src.bin", "application/octet-stream")
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "dest.bin"
    tracemalloc.start()
    try:
        with open(dest, "wb") as out:
            written = client.download(remote.file_url, out,
                                      progress=lambda d, t: calls.append((d, t)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == size and dest.stat().st_size == size
    assert peak < 4 * MiB, f"download peak {peak / MiB:.1f} MiB"
    assert len(calls) > 10 and calls[-1] == (size, size)
    with open(source, "rb") as a, open(dest, "rb") as b:
        assert a.read(MiB) == b.read(MiB)


def test_download_relative_absolute_and_sink(reference_server, client, tmp_path):
    data = b"lab result " * 10_000
    case, [remote] = client.create_case(
        FIELDS, [Attachment(write(tmp_path / "r.pdf", data), "r d.pdf", "application/pdf")])
    assert remote.file_url.startswith(reference_server.url + "/files/")
    relative = remote.raw["file_url"]
    assert relative.startswith("/files/")

    sink = io.BytesIO()
    seen: list[tuple[int, int]] = []
    assert client.download(relative, sink, progress=lambda d, t: seen.append((d, t))) == len(data)
    assert sink.getvalue() == data and seen[-1] == (len(data), len(data))

    chunks: list[bytes] = []
    assert client.download(remote.file_url, chunks.append) == len(data)
    assert b"".join(chunks) == data
    assert b"".join(client.download_chunks(remote.file_url)) == data

    with pytest.raises(err.RemoteNotFound):
        client.download(f"/files/{remote.file_id}x/nothing.pdf", io.BytesIO())


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers which requests carried a token."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, bool]] = []
        self.headers: list[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.host, "authorization" in request.headers))
        self.headers.append(request.headers)
        return super().handle_request(request)


def test_token_goes_only_to_the_api_origin(reference_server, tmp_path):
    transport = RecordingTransport()
    with MedMitraClient(reference_server.url, TOKEN, USER, transport=transport) as c:
        _, [remote] = c.create_case(
            FIELDS, [Attachment(write(tmp_path / "a.pdf", b"%PDF-1"), "a.pdf", "application/pdf")])
        elsewhere = remote.file_url.replace("127.0.0.1", "localhost")
        assert b"".join(c.download_chunks(elsewhere)) == b"%PDF-1"
        assert b"".join(c.download_chunks(remote.file_url)) == b"%PDF-1"
    assert transport.seen == [("127.0.0.1", True), ("localhost", False), ("127.0.0.1", True)]
    # The streamed multipart body still has a known length (no chunked encoding needed).
    create = transport.headers[0]
    assert create["content-type"].startswith("multipart/form-data")
    assert int(create["content-length"]) > 6 and "transfer-encoding" not in create


def test_create_without_files_is_still_multipart(reference_server):
    transport = RecordingTransport()
    with MedMitraClient(reference_server.url, TOKEN, USER, transport=transport) as c:
        case, files = c.create_case(FIELDS)
    assert files == [] and case.patient_gender == "female"
    assert transport.headers[0]["content-type"].startswith("multipart/form-data")


# ------------------------------------------------------------------ parsing (no server needed)


def test_parsing_is_tolerant():
    case = parse_case({"id": 7, "case_id": 12345, "doctor_id": 9, "patient_name": "P",
                       "patient_age": "42", "patient_gender": "f", "case_summary": None,
                       "status": "triaged", "created_at": "2024-01-01T00:00:00Z",
                       "updated_at": "2024-01-02T00:00:00Z"})
    assert case.server_id == "12345" and case.numeric_id == "7" and case.user_id == "9"
    assert case.patient_age == 42 and case.status == "triaged"
    bad_age = parse_case({"case_id": "u", "patient_age": "forty"})
    assert bad_age.patient_age is None and bad_age.numeric_id is None

    base = "https://cases.example.org/api"
    f = parse_file({"file_id": 5, "case_id": 3, "file_name": "x.pdf", "file_size": "10",
                    "file_url": "lab_files/3/x.pdf", "upload_date": "2024"}, base)
    assert f.file_id == "5" and f.case_id == "3" and f.file_size == 10
    assert f.file_url == "https://cases.example.org/api/lab_files/3/x.pdf"
    assert f.uploaded_at == "2024" and f.file_category is None
    assert resolve_url(base, "/files/1/x.pdf") == "https://cases.example.org/api/files/1/x.pdf"
    assert resolve_url(base, "https://cdn.example.net/x.pdf") == "https://cdn.example.net/x.pdf"
    assert resolve_url(base, None) is None

    with pytest.raises(err.ProtocolError):
        parse_case({"patient_name": "no id"})
    with pytest.raises(err.ProtocolError):
        parse_file(["not", "a", "dict"], base)


def test_parse_retry_after():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
