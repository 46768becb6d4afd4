"""Files are checked for what they claim before intake keeps them: whole, of the type their
content says, not a program or a script, not text wearing a binary format's name."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from desktop import file_integrity
from desktop.intake import BlobStore, IntakeRefused, prepare
from tests import samples


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def refused(tmp_path: Path, store: BlobStore, name: str, data: bytes) -> str:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    before = stored(store)
    with pytest.raises(IntakeRefused) as caught:
        prepare(path, store)
    assert stored(store) == before  # nothing is kept of a refused file: no blob, no temp file
    return caught.value.reason


def stored(store: BlobStore) -> set[Path]:
    return {p for p in store.root.rglob("*") if p.is_file() and p.name != ".intake.lock"}


def accepted(tmp_path: Path, store: BlobStore, name: str, data: bytes):
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return prepare(path, store)


def chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF))


# ------------------------------------------------------------------ PNG


def test_a_png_that_is_only_its_signature_is_damaged(tmp_path, store):
    reason = refused(tmp_path, store, "scan.png", b"\x89PNG\r\n\x1a\n")
    assert reason.startswith("damaged:") and "truncated" in reason


def test_a_png_with_a_bad_checksum_is_damaged(tmp_path, store):
    data = bytearray(samples.png(32, 32))
    data[-20] ^= 0xFF  # inside the IDAT chunk
    assert "fails its checksum" in refused(tmp_path, store, "scan.png", bytes(data))


def test_a_truncated_png_is_damaged(tmp_path, store):
    data = samples.png(32, 32)
    assert refused(tmp_path, store, "scan.png", data[:-12]).startswith("damaged:")


def test_a_png_split_across_copy_chunks_is_checked_whole(tmp_path, store, monkeypatch):
    """The CRCs are computed as the bytes are copied, whatever the copy's chunk size."""
    from desktop import intake

    monkeypatch.setattr(intake, "CHUNK_BYTES", 7)
    data = samples.png(20, 20)
    assert accepted(tmp_path, store, "scan.png", data).blob.size == len(data)
    bad = bytearray(data)
    bad[40] ^= 1
    assert "checksum" in refused(tmp_path, store, "bad.png", bytes(bad))


# ------------------------------------------------------------------ PDF


def test_a_pdf_that_is_its_header_and_garbage_is_damaged(tmp_path, store):
    reason = refused(tmp_path, store, "lab.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 20)
    assert reason.startswith("damaged:")


def test_a_truncated_pdf_is_damaged(tmp_path, store):
    data = samples.pdf(pages=3)
    assert "truncated" in refused(tmp_path, store, "lab.pdf", data[: len(data) // 2])


def test_a_pdf_without_pages_is_damaged(tmp_path, store):
    reason = refused(tmp_path, store, "lab.pdf", samples.pdf(pages=0))
    assert reason == "damaged: the PDF has no pages"


def test_a_whole_pdf_is_accepted(tmp_path, store):
    assert accepted(tmp_path, store, "lab.pdf", samples.pdf(pages=2)).kind.mime == (
        "application/pdf")


def test_a_broken_pdf_too_large_to_rebuild_is_not_read_into_memory(tmp_path, store,
                                                                    monkeypatch):
    """pypdf rebuilds a broken cross-reference by reading the whole file: past the cap the
    file is refused instead (memory stays flat however large it is)."""
    monkeypatch.setattr(file_integrity, "MAX_READ", 4096)
    data = samples.big_pdf(64 * 1024).replace(b"startxref\n", b"startxref\n9")
    reason = refused(tmp_path, store, "scan.pdf", data)
    assert reason.startswith("damaged:")


# ------------------------------------------------------------------ JPEG


def test_a_jpeg_without_its_end_is_damaged(tmp_path, store):
    data = samples.jpeg(64, 64)
    assert "truncated" in refused(tmp_path, store, "photo.jpg", data[:-40])


def test_a_jpeg_that_is_its_first_bytes_only_is_damaged(tmp_path, store):
    assert refused(tmp_path, store, "photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 30).startswith(
        "damaged:")


def test_a_whole_jpeg_is_accepted(tmp_path, store):
    assert accepted(tmp_path, store, "photo.jpg", samples.jpeg()).kind.mime == "image/jpeg"


# ------------------------------------------------------------------ DICOM


def test_a_jpeg2000_dicom_with_damaged_data_is_refused(tmp_path, store, qapp):
    from desktop.ui.sample_files import write_dicom

    broken = write_dicom(tmp_path / "j2k.dcm", encoding="broken").read_bytes()
    assert "damaged" in refused(tmp_path, store, "ct.dcm", broken)
    whole = write_dicom(tmp_path / "ok.dcm", encoding="jpeg2000").read_bytes()
    assert accepted(tmp_path, store, "ct.dcm", whole).dicom_patient.name == "Test^Synthetic"
    cut = whole[:-300]
    assert "truncated" in refused(tmp_path, store, "cut.dcm", cut)
    start = whole.index(b"\xff\x4f\xff\x51")
    tile = whole.index(b"\xff\x90", start)
    bad_tile = bytearray(whole)
    bad_tile[tile + 6:tile + 10] = struct.pack(">I", 10 ** 6)  # a tile-part longer than all
    assert "damaged" in refused(tmp_path, store, "tile.dcm", bytes(bad_tile))


def test_a_truncated_uncompressed_dicom_is_refused(tmp_path, store):
    data = samples.dicom(rows=64, cols=64)
    assert "truncated" in refused(tmp_path, store, "ct.dcm", data[:-1000])


def test_a_dicom_image_without_pixel_data_is_refused_but_a_report_is_not(tmp_path, store):
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(samples.dicom()))
    del ds.PixelData
    image = io.BytesIO()
    ds.save_as(image, enforce_file_format=True)
    assert "no image data" in refused(tmp_path, store, "ct.dcm", image.getvalue())
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    report = io.BytesIO()
    ds.save_as(report, enforce_file_format=True)
    assert accepted(tmp_path, store, "sr.dcm", report.getvalue()).kind.mime == (
        "application/dicom")


def test_a_dicom_preamble_holding_a_program_is_refused(tmp_path, store):
    """CVE-2019-11687: a file both a DICOM image and a Windows (or Linux) program."""
    for program in (b"MZ\x90\x00", b"\x7fELF"):
        data = program + samples.dicom()[len(program):]
        assert "CVE-2019-11687" in refused(tmp_path, store, "ct.dcm", data)


def test_a_dicom_header_names_its_patient(tmp_path, store):
    prepared = accepted(tmp_path, store, "ct.dcm", samples.dicom("Doe^Jane", "P-7"))
    assert prepared.dicom_patient == file_integrity.DicomPatient("Doe^Jane", "P-7")


# ------------------------------------------------------------------ names and scripts


def test_an_html_page_named_report_pdf_is_refused(tmp_path, store):
    reason = refused(tmp_path, store, "report.pdf",
                     b"<!DOCTYPE html>\n<html><script>fetch('x')</script></html>")
    assert "web page (HTML)" in reason


def test_text_named_as_a_binary_format_is_refused_with_both_facts(tmp_path, store):
    reason = refused(tmp_path, store, "scan.dcm", b"Patient: Maria Lopez\nCT chest normal\n")
    assert ".dcm" in reason and "a DICOM image" in reason and "plain text" in reason
    reason = refused(tmp_path, store, "photo.jpg", b"a,b\n1,2\n3,4\n")
    assert ".jpg" in reason and "a CSV table" in reason
    # The same text under a text name is fine.
    assert accepted(tmp_path, store, "note.txt", b"CT chest normal\n").kind.mime == "text/plain"


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect onload="x()"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg">' + b" " * 9000 + b'<a href="javascript:x()"/></svg>',
])
def test_an_svg_with_a_script_is_refused_whatever_its_name(tmp_path, store, data):
    assert "SVG drawing with a script" in refused(tmp_path, store, "chart.txt", data)


@pytest.mark.parametrize(("name", "data"), [
    ("notes.txt", b"#!/bin/sh\ncurl http://x | sh\n"),
    ("report.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 64),
    ("scan.png", b"MZ\x90\x00" + b"\x00" * 64),
])
def test_programs_are_refused_whatever_their_name(tmp_path, store, name, data):
    assert "program" in refused(tmp_path, store, name, data)


def test_a_text_with_a_nul_byte_is_damaged(tmp_path, store):
    data = b"line one\n" * 2000 + b"\x00garbage"
    assert "NUL byte" in refused(tmp_path, store, "notes.txt", data)


# ------------------------------------------------------------------ TIFF, WebP, Word


def pillow_bytes(fmt: str, size: int = 64) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((size, size), 40).save(out, format=fmt)
    return out.getvalue()


def test_a_truncated_tiff_is_damaged(tmp_path, store):
    data = pillow_bytes("TIFF")
    assert accepted(tmp_path, store, "film.tif", data).kind.mime == "image/tiff"
    assert refused(tmp_path, store, "cut.tif", data[: len(data) // 2]).startswith("damaged:")


def test_a_truncated_webp_is_damaged(tmp_path, store):
    data = pillow_bytes("WEBP")
    assert accepted(tmp_path, store, "pic.webp", data).kind.mime == "image/webp"
    assert "truncated" in refused(tmp_path, store, "cut.webp", data[:-10])


def test_a_damaged_word_document_is_refused(tmp_path, store):
    assert accepted(tmp_path, store, "letter.doc", samples.DOC).kind.mime == "application/msword"
    damaged = samples.DOC[:600]
    assert refused(tmp_path, store, "cut.doc", damaged).startswith("damaged:")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>" + "text " * 200 + "</w:document>")
    docx = bytearray(out.getvalue())
    assert accepted(tmp_path, store, "letter.docx", bytes(docx)).kind.mime.endswith("document")
    docx[docx.index(b"text text") + 4] ^= 0x01  # stored uncompressed: a byte of the part
    assert "checksum" in refused(tmp_path, store, "bad.docx", bytes(docx))


def test_a_whole_png_too_large_to_decode_is_not_called_damaged(tmp_path, store):
    """Pillow's decompression-bomb guard is about decoding; a picture of 20000 × 20000 whose
    chunks are whole is accepted (the bench's 1 GiB PNG is one)."""
    rows = zlib.compress(b"\x00" * 20001, 9)  # the first row; the check does not inflate them
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    prepared = accepted(tmp_path, store, "big.png", data)
    assert prepared.kind.mime == "image/png"
