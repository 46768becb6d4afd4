"""Stored documents are sealed with AES-256-GCM in segments, named by a keyed hash; intake
still copies, hashes and seals in one pass with flat memory; a tampered, truncated, reordered
or swapped blob is detected, never shown and never uploaded."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from desktop.blob_seal import HEADER, MAGIC, SEGMENT, TAG, BlobDamaged
from desktop.sync import runner
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in

PDF_HEAD = b"%PDF-1.4\n"


@pytest.fixture
def ws(tmp_path: Path):
    with Workspace.open(tmp_path / "data") as workspace:
        yield workspace


def stored(ws: Workspace, tmp_path: Path, data: bytes, name: str = "doc.pdf") -> str:
    source = tmp_path / name
    source.write_bytes(data)
    return ws.blobs.ingest(source).sha256


def test_the_bytes_are_encrypted_and_the_name_reveals_nothing(ws: Workspace,
                                                               tmp_path: Path) -> None:
    data = PDF_HEAD + b"Patient Rosalind Achterberg, HbA1c 9.1%\n" * 50
    sha = stored(ws, tmp_path, data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = ws.blobs.path_for(sha)
    raw = path.read_bytes()
    assert raw.startswith(MAGIC) and b"Achterberg" not in raw
    assert path.parent.name + path.name != sha  # not the content's hash
    with Workspace.open(tmp_path / "other") as other:  # another folder: another name
        assert other.blobs.path_for(sha).name != path.name
    assert ws.blobs.ref(sha).read() == data


def _damaged(ws: Workspace, sha: str) -> None:
    with pytest.raises(BlobDamaged):
        ws.blobs.ref(sha).read()
    with pytest.raises(BlobDamaged):
        ws.blobs.verify(sha)


def test_a_flipped_bit_anywhere_is_detected(ws: Workspace, tmp_path: Path) -> None:
    data = PDF_HEAD + os.urandom(2 * SEGMENT + 100)
    sha = stored(ws, tmp_path, data)
    path = ws.blobs.path_for(sha)
    good = path.read_bytes()
    for at in (len(MAGIC) + 4, HEADER + 5, HEADER + SEGMENT + TAG + 9, len(good) - 3):
        bad = bytearray(good)
        bad[at] ^= 0x40
        path.write_bytes(bytes(bad))
        _damaged(ws, sha)
    path.write_bytes(good)
    assert ws.blobs.ref(sha).read() == data


def test_truncated_reordered_or_dropped_segments_are_detected(ws: Workspace,
                                                              tmp_path: Path) -> None:
    data = PDF_HEAD + os.urandom(3 * SEGMENT)
    sha = stored(ws, tmp_path, data)
    path = ws.blobs.path_for(sha)
    good = path.read_bytes()
    step = SEGMENT + TAG
    head, body = good[:HEADER], good[HEADER:]
    segments = [body[i:i + step] for i in range(0, len(body), step)]
    assert len(segments) == 4
    variants = {
        "cut at a segment boundary": head + b"".join(segments[:2]),
        "cut inside a segment": good[:-500],
        "two segments swapped": head + segments[1] + segments[0] + b"".join(segments[2:]),
        "a segment dropped": head + segments[0] + b"".join(segments[2:]),
        "a segment repeated": head + segments[0] + b"".join(segments),
    }
    for what, variant in variants.items():
        path.write_bytes(variant)
        with pytest.raises(BlobDamaged):
            ws.blobs.ref(sha).read()
        with pytest.raises(BlobDamaged):
            ws.blobs.verify(sha)
        assert what


def test_another_documents_file_in_its_place_is_detected(ws: Workspace, tmp_path: Path) -> None:
    first = stored(ws, tmp_path, PDF_HEAD + b"first", "a.pdf")
    second = stored(ws, tmp_path, PDF_HEAD + b"second", "b.pdf")
    ws.blobs.path_for(first).write_bytes(ws.blobs.path_for(second).read_bytes())
    _damaged(ws, first)


def test_reading_seeks_within_segments_and_memory_stays_flat(ws: Workspace,
                                                            tmp_path: Path) -> None:
    size = 48 * SEGMENT + 12345
    source = tmp_path / "big.pdf"
    with open(source, "wb") as f:
        f.write(PDF_HEAD)
        for _ in range(48):
            f.write(os.urandom(SEGMENT))
        f.write(os.urandom(12345 - len(PDF_HEAD)))
    tracemalloc.start()
    try:
        blob = ws.blobs.ingest(source)
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with ws.blobs.open(blob.sha256) as f:
            while chunk := f.read(1 << 16):
                digest.update(chunk)
        _, peak_out = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size and digest.hexdigest() == blob.sha256
    assert peak_in < 8 * SEGMENT and peak_out < 8 * SEGMENT, (peak_in, peak_out)
    with ws.blobs.open(blob.sha256) as f:
        f.seek(5 * SEGMENT - 3)
        piece = f.read(10)
    with open(source, "rb") as f:
        f.seek(5 * SEGMENT - 3)
        assert piece == f.read(10)


def test_a_tampered_document_is_never_uploaded(reference_server, tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "data") as ws:
        sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        case = ws.create_case("Tamsin Okonjo", 39, "female")
        assert runner.run_sync(ws).ok
        source = tmp_path / "scan.pdf"
        source.write_bytes(samples.big_pdf(SEGMENT + 10))  # whole: intake checks it
        [result] = ws.attach(case.id, [source])
        assert result.document is not None
        path = ws.blobs.path_for(result.document.sha256)
        bad = bytearray(path.read_bytes())
        bad[HEADER + SEGMENT // 2] ^= 1
        path.write_bytes(bytes(bad))
        report = runner.run_sync(ws)
        server_id = ws.get_case(case.id).server_id
        assert reference_server.files(server_id) == []
        [pending] = [p for p in ws.pending() if p.document_id == result.document.id]
        assert "damaged or was altered" in (pending.last_error or "")
        assert report.uploaded == 0 and any("damaged or was altered" in p
                                            for p in report.problems)
