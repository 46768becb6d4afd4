"""The Care360 routes of the reference server: envelope, OTP, rotation, upload validation."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid

import httpx
import pytest

from tests.server.care360 import Care360Failure, UploadBodyParser
from tests.server.care360_store import DEFAULT_API_KEY

KEY = {"cv-api-key": DEFAULT_API_KEY}
EMAIL = "srv@example.org"


@pytest.fixture
def http(reference_server):
    with httpx.Client(base_url=reference_server.url + "/api/v1/users", headers=KEY) as client:
        yield client


def signed_in(http, server) -> dict:
    assert http.post("/auth/send-otp", json={"email": EMAIL, "channel": "EMAIL"}).json()[
        "success"]
    answer = http.post("/auth/verify-otp", json={"email": EMAIL,
                                                 "code": server.care360_otp(EMAIL)}).json()
    return answer["data"]


def test_envelope_otp_and_rotation_with_reuse_detection(reference_server, http):
    assert http.post("/auth/send-otp", json={"channel": "EMAIL"}).json() == {
        "status": 400, "success": False, "error": "Validation failed",
        "code": "VALIDATION_ERROR"}
    assert http.post("/auth/send-otp", json={"email": EMAIL},
                     headers={"cv-api-key": ""}).status_code == 400
    tokens = signed_in(http, reference_server)
    assert tokens["expiresIn"] == 900
    first = http.post("/auth/refresh-token", json={"refresh_token": tokens["refreshToken"]})
    assert first.status_code == 200
    replay = http.post("/auth/refresh-token", json={"refresh_token": tokens["refreshToken"]})
    assert (replay.status_code, replay.json()["code"]) == (401, "REFRESH_REUSED")
    newest = first.json()["data"]["refreshToken"]
    assert http.post("/auth/refresh-token", json={"refresh_token": newest}).status_code == 401


def test_upload_validation_listing_and_admin_switches(reference_server, http):
    tokens = signed_in(http, reference_server)
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    case_id = str(uuid.uuid4())
    reference_server.care360_add_case(EMAIL, case_id)

    def upload(**body):
        return http.post("/me/files/upload", json=body, headers=auth)

    good = {"name": "a.pdf", "mimeType": "application/pdf", "data": "JVBERg=="}
    assert upload(**good, caseId=case_id).status_code == 200
    assert upload(**good).json()["data"]["caseId"] is None  # general document
    for bad in ({**good, "name": ""}, {**good, "name": "n" * 256}, {**good, "data": ""},
                {**good, "mimeType": "application/dicom"}, {**good, "caseId": "12"},
                {**good, "data": "not base64!"}, {"name": "a.pdf", "mimeType": "text/plain"}):
        assert upload(**bad).status_code == 400, bad
    assert upload(**good, caseId=str(uuid.uuid4())).json()["error"] == (
        "You do not have access to this case")
    reference_server.care360_fail_storage(1)
    failed = upload(**good, caseId=case_id)
    assert (failed.status_code, failed.json()["code"]) == (500, "INTERNAL_ERROR")
    listed = http.get("/me/files", headers=auth).json()["data"]["files"]
    assert [f["caseId"] for f in listed] == [case_id]  # general and rolled back: not listed
    reference_server.care360_expire_access()
    assert http.get("/me/files", headers=auth).status_code == 401
    # The fault layer works on these routes too.
    reference_server.fail_next(1, status=503, path="/me/files")
    assert http.get("/me/files", headers=auth).status_code == 503


@pytest.mark.parametrize("split", [1, 2, 3, 5, 7, 64])
def test_streaming_parser_handles_any_chunking_and_escaped_slashes(split):
    data = bytes(range(256)) * 7
    encoded = base64.b64encode(data).decode().replace("/", "\\/")
    body = ('{"name": "x\\"y.pdf", "meta": {"data": 1}, "data": "' + encoded
            + '", "mimeType": "application/pdf"}').encode()
    sink = io.BytesIO()
    parser = UploadBodyParser(sink)
    for i in range(0, len(body), split):
        parser.feed(body[i:i + split])
    fields = parser.finish()
    assert sink.getvalue() == data
    assert parser.sha.hexdigest() == hashlib.sha256(data).hexdigest()
    assert fields == {"name": 'x"y.pdf', "meta": {"data": 1}, "data": "",
                      "mimeType": "application/pdf"}


def test_streaming_parser_rejects_broken_base64():
    parser = UploadBodyParser(io.BytesIO())
    with pytest.raises(Care360Failure):
        parser.feed(json.dumps({"data": "QQ==QUFB"}).encode())
        parser.finish()
