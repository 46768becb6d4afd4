"""The Care360 upload body: JSON with base64 data, produced as a stream with an exact length."""

from __future__ import annotations

import base64
import json
import os
import tracemalloc
import uuid

import pytest

from desktop.sync import errors as err
from desktop.sync.care360.client import Care360Client
from desktop.sync.care360.upload import Base64JsonBody, LocalFileChanged, check_upload
from tests.server.care360_store import DEFAULT_API_KEY

FIELDS = {"name": "Befund äöü \"quoted\" \\ 🩺.pdf", "mimeType": "application/pdf",
          "caseId": "550e8400-e29b-41d4-a716-446655440111"}


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 47, 48, 49, 1000, 3 * 1024 + 1])
@pytest.mark.parametrize("chunk", [3, 6, 9, 3 * 1024])
def test_body_is_exact_valid_json_whose_data_decodes_to_the_file(tmp_path, size, chunk):
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []
    body = Base64JsonBody(path, size, FIELDS, progress=lambda d, t: seen.append((d, t)),
                          chunk=chunk)

    raw = b"".join(body)

    assert len(raw) == body.content_length
    parsed = json.loads(raw)
    assert {k: parsed[k] for k in FIELDS} == FIELDS
    assert base64.b64decode(parsed["data"], validate=True) == data
    assert list(parsed) == ["name", "mimeType", "caseId", "data"]
    assert seen[-1] == (size, size)
    # Iterating again (a resend after a renewed token) gives the same bytes.
    assert b"".join(body) == raw


def test_body_refuses_a_file_that_shrank(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 100)
    body = Base64JsonBody(path, 200, FIELDS, chunk=30)
    with pytest.raises(LocalFileChanged):
        b"".join(body)


def test_body_chunk_must_keep_base64_aligned(tmp_path):
    with pytest.raises(ValueError):
        Base64JsonBody(tmp_path / "x", 10, FIELDS, chunk=4)


def test_local_refusals_say_why():
    with pytest.raises(err.RejectedError, match=r"does not accept DICOM images \(application/"
                       r"dicom\); export the image as PNG or JPEG"):
        check_upload("ct.dcm", "application/dicom")
    with pytest.raises(err.RejectedError, match="1 to 255 characters; this one has 256"):
        check_upload("a" * 252 + ".pdf", "application/pdf")
    with pytest.raises(err.RejectedError, match="1 to 255 characters; this one has 0"):
        check_upload("", "application/pdf")
    with pytest.raises(err.RejectedError, match=r"only the older Word format \(.doc\)"):
        check_upload("letter.docx", "application/vnd.openxmlformats-officedocument."
                     "wordprocessingml.document")
    with pytest.raises(err.RejectedError, match="files of type application/zip"):
        check_upload("x.zip", "application/zip")
    with pytest.raises(err.RejectedError, match="this one has 256"):
        check_upload("🩺" + "a" * 250 + ".pdf", "application/pdf")  # an emoji counts twice
    check_upload("a" * 251 + ".pdf", "application/pdf")
    check_upload("x.txt", "text/plain; charset=utf-8")


def test_a_64_mib_upload_keeps_client_memory_flat(reference_server, tmp_path):
    """tracemalloc peak (Python allocations) stays a few MiB while 64 MiB (85 MiB of base64)
    travels over real HTTP to the reference server, which runs in another process."""
    owner = "mem@example.org"
    size = 64 * 1024 * 1024
    path = tmp_path / "big.pdf"
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(block)
    with Care360Client(reference_server.url, DEFAULT_API_KEY, owner) as client:
        client.send_otp(email=owner)
        client.verify_otp(reference_server.care360_otp(owner), email=owner)
        case_id = str(uuid.uuid4())
        reference_server.care360_add_case(owner, case_id)
        tracemalloc.start()
        try:
            stored = client.upload_file(path, "big.pdf", "application/pdf", case_id=case_id)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    [row] = reference_server.care360_files(owner)
    assert (row["id"], row["size"]) == (stored.file_id, size)
