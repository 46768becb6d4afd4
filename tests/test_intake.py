"""File intake: content sniffing, the content-addressed blob store, walking, refusals."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from desktop import intake
from desktop.errors import CaseDeskError, NotFoundError, ValidationError
from desktop.intake import (
    DEFAULT_MAX_BYTES,
    BlobStore,
    Candidate,
    IntakeRefused,
    Refusal,
    collect,
    prepare,
)
from tests import samples

# ------------------------------------------------------------------ content builders


def pdf_bytes() -> bytes:
    """A minimal but valid one-page PDF (xref offsets computed, not guessed)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png_bytes() -> bytes:
    """A 1x1 grey PNG assembled by hand (zlib + struct), independent of Pillow."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def pillow_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def dicom_bytes(tmp_path: Path, preamble: bytes | None = None) -> bytes:
    """A tiny secondary-capture DICOM with pixel data, written as a conformant Part 10 file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=preamble or b"\x00" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Test^Synthetic"
    ds.Modality = "OT"
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(16, dtype=np.uint8).reshape(4, 4).tobytes()
    target = tmp_path / f"dicom-{generate_uid()}.dcm"
    ds.save_as(target, enforce_file_format=True)
    data = target.read_bytes()
    target.unlink()
    return data


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/readme.txt", "hello")
    return buf.getvalue()


DOC_BYTES = samples.DOC  # an OLE2 container with a WordDocument stream
CSV_BYTES = b"date,test,value,unit\n2026-01-02,HbA1c,6.1,%\n2026-03-04,\"LDL, fasting\",2.9,mmol/L\n"
TEXT_BYTES = "Befund: unauffällig.\nKontrolle in 6 Monaten, bitte.\nDr. Müller\n".encode()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------ sniffing


@pytest.mark.parametrize(
    ("name", "make", "mime", "category"),
    [
        ("report.pdf", lambda tmp: pdf_bytes(), "application/pdf", "lab"),
        ("scan.png", lambda tmp: png_bytes(), "image/png", "radiology"),
        ("photo.jpg", lambda tmp: pillow_bytes("JPEG"), "image/jpeg", "radiology"),
        ("image.dcm", lambda tmp: dicom_bytes(tmp), "application/dicom", "radiology"),
        ("film.tif", lambda tmp: pillow_bytes("TIFF"), "image/tiff", "radiology"),
        ("pic.webp", lambda tmp: pillow_bytes("WEBP"), "image/webp", "radiology"),
        ("letter.doc", lambda tmp: DOC_BYTES, "application/msword", "lab"),
        (
            "letter.docx",
            lambda tmp: docx_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "lab",
        ),
        ("values.csv", lambda tmp: CSV_BYTES, "text/csv", "lab"),
        ("note.txt", lambda tmp: TEXT_BYTES, "text/plain", "lab"),
    ],
)
def test_each_accepted_type_is_sniffed_and_stored(tmp_path, store, name, make, mime, category):
    data = make(tmp_path)
    src = write(tmp_path / "in" / name, data)
    prepared = prepare(src, store)
    assert prepared.kind.mime == mime
    assert prepared.kind.category == category
    assert prepared.category == category
    assert prepared.name == name
    assert prepared.source == src
    assert prepared.blob.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.blob.size == len(data)
    assert prepared.blob.path.read_bytes() == data


def test_generated_dicom_is_really_dicom(tmp_path):
    data = dicom_bytes(tmp_path)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.Rows == 4 and data[128:132] == b"DICM"


@pytest.mark.parametrize("tiff_magic", [b"II*\x00", b"MM\x00*"])
def test_dicom_with_tiff_magic_in_preamble_is_dicom(tmp_path, store, tiff_magic):
    data = dicom_bytes(tmp_path, preamble=tiff_magic + b"\x00" * 124)
    assert data.startswith(tiff_magic)  # a dual-personality file: TIFF magic, then DICM at 128
    src = write(tmp_path / "dual.tif", data)
    assert prepare(src, store).kind.mime == "application/dicom"


def test_extension_lies_pdf_named_png(tmp_path, store):
    src = write(tmp_path / "lab-result.png", pdf_bytes())
    prepared = prepare(src, store)
    assert prepared.kind.mime == "application/pdf"
    assert prepared.category == "lab"
    assert prepared.name == "lab-result.png"  # the clinician's name is kept as given


def test_extension_lies_png_named_pdf(tmp_path, store):
    assert prepare(write(tmp_path / "x.pdf", png_bytes()), store).kind.mime == "image/png"


def test_category_override(tmp_path, store):
    src = write(tmp_path / "ecg.pdf", pdf_bytes())
    prepared = prepare(src, store, category="radiology")
    assert prepared.category == "radiology"
    assert prepared.kind.category == "lab"  # the guess is still reported
    with pytest.raises(ValidationError):
        prepare(src, store, category="cardiology")


def test_prose_with_commas_is_text_but_tab_table_is_csv(tmp_path, store):
    prose = b"Dear colleague, thank you.\nThe patient, aged 54, was seen today, twice.\nRegards\n"
    assert prepare(write(tmp_path / "a.csv", prose), store).kind.mime == "text/plain"
    tsv = b"a\tb\tc\n1\t2\t3\n4\t5\t6\n"
    assert prepare(write(tmp_path / "b.txt", tsv), store).kind.mime == "text/csv"


def test_latin1_text_is_text(tmp_path, store):
    data = "Befund unauffällig.\nGröße normal; Kontrolle in 6 Monaten.\n".encode("latin-1")
    assert prepare(write(tmp_path / "n.txt", data), store).kind.mime == "text/plain"


def test_long_csv_cut_by_the_sample_is_still_csv(tmp_path, store):
    rows = b"".join(b"2026-01-%02d,glucose,%d.%d,mmol/L\n" % (i % 28 + 1, i % 9, i % 7) for i in range(2000))
    assert len(rows) > intake.SNIFF_BYTES
    assert prepare(write(tmp_path / "big.csv", rows), store).kind.mime == "text/csv"


# ------------------------------------------------------------------ refusals


def refusal_for(src: Path, store: BlobStore, **kw) -> str:
    with pytest.raises(IntakeRefused) as info:
        prepare(src, store, **kw)
    assert isinstance(info.value, CaseDeskError)
    assert info.value.path == src
    return str(info.value)


def test_unsupported_zip_refused_with_the_accepted_list(tmp_path, store):
    reason = refusal_for(write(tmp_path / "archive.docx", zip_bytes()), store)
    assert reason.startswith("unsupported type: looks like a ZIP archive")
    assert "PDF, PNG, JPEG, DICOM, TIFF, WebP, Word and text/CSV" in reason


def test_unsupported_binary_refused(tmp_path, store):
    reason = refusal_for(write(tmp_path / "blob.pdf", bytes(range(256)) * 8), store)
    assert reason.startswith("unsupported type:")
    gif = refusal_for(write(tmp_path / "anim.png", b"GIF89a" + b"\x00" * 64), store)
    assert "looks like a GIF image" in gif


def test_empty_file_refused(tmp_path, store):
    assert refusal_for(write(tmp_path / "empty.pdf", b""), store) == "empty file — nothing to attach"


def test_not_found_refused(tmp_path, store):
    assert refusal_for(tmp_path / "gone.pdf", store).startswith("not found")


def test_folder_given_to_prepare_refused(tmp_path, store):
    (tmp_path / "d").mkdir()
    assert "is a folder" in refusal_for(tmp_path / "d", store)


def test_fifo_refused_without_blocking(tmp_path, store):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert refusal_for(fifo, store).startswith("not a regular file")
    assert collect([fifo]) == [Refusal(fifo, "not a regular file — only ordinary files can be attached")]


def test_oversize_refused_with_small_limit(tmp_path, store):
    src = write(tmp_path / "big.txt", b"x" * 3000)
    reason = refusal_for(src, store, max_size=2048)
    assert reason == "too large: 2.9 KiB exceeds the 2 KiB limit (change it in settings)"
    assert files_under(store.root) == []


def test_default_limit_is_one_gib_and_worded():
    assert DEFAULT_MAX_BYTES == 1024**3
    assert intake.format_size(DEFAULT_MAX_BYTES) == "1 GiB"
    assert intake.format_size(int(1.2 * 1024**3)) == "1.2 GiB"
    assert intake._too_large(int(1.2 * 1024**3), DEFAULT_MAX_BYTES) == (
        "too large: 1.2 GiB exceeds the 1 GiB limit (change it in settings)"
    )


def test_size_limit_is_enforced_while_copying(tmp_path, store):
    """A file that grows after it was looked at is still cut off at the limit."""
    src = write(tmp_path / "growing.bin", b"a" * 5000)
    with pytest.raises(IntakeRefused, match="too large"):
        store.ingest_stream(iter([b"a" * 3000, b"a" * 3000]), max_size=5000)
    with pytest.raises(IntakeRefused, match="too large"):
        with open(src, "rb") as f:
            store._ingest_file(f, max_size=4096)  # size check up front skipped on purpose
    assert files_under(store.root) == []


def _unreadable_reason(path: Path, store: BlobStore) -> str:
    """Prepare an unreadable file; as root, do it in a forked child that dropped to `nobody`.

    chmod 000 does not stop root, so a real EACCES needs a real unprivileged process: this is
    an actual permission failure from the kernel, not a mock.
    """
    if os.geteuid() != 0:
        return refusal_for(path, store)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            try:
                prepare(path, store)
                message = "ACCEPTED"
            except IntakeRefused as exc:
                message = str(exc)
            os.write(write_end, message.encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as r:
        message = r.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 3:
        pytest.skip("cannot drop privileges to test an unreadable file")
    return message


def test_unreadable_file_refused(tmp_path, store):
    src = write(tmp_path / "secret.pdf", pdf_bytes())
    src.chmod(0)
    try:
        reason = _unreadable_reason(src, store)
    finally:
        src.chmod(0o600)
    assert reason == "unreadable: permission denied — check the file's permissions"


# ------------------------------------------------------------------ blob store


def test_blob_layout_modes_and_no_temp_left(tmp_path, store):
    data = pdf_bytes()
    blob = prepare(write(tmp_path / "r.pdf", data), store).blob
    sha = hashlib.sha256(data).hexdigest()
    assert blob.sha256 == sha
    assert blob.path == store.root / sha[:2] / sha[2:]
    assert store.path_for(sha) == blob.path and store.exists(sha)
    with store.open(sha) as f:
        assert f.read() == data
    assert stat.S_IMODE(blob.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(blob.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert files_under(store.root) == [blob.path]  # no .tmp- leftovers


def test_identical_content_is_stored_once(tmp_path, store):
    data = pillow_bytes("JPEG")
    a = prepare(write(tmp_path / "a.jpg", data), store)
    b = prepare(write(tmp_path / "sub" / "copy of a.jpeg", data), store)
    assert a.blob == b.blob
    assert a.name != b.name
    assert files_under(store.root) == [a.blob.path]


def test_failed_ingest_leaves_nothing(tmp_path, store):
    def chunks():
        yield b"partial download"
        raise ConnectionError("network dropped")

    with pytest.raises(ConnectionError):
        store.ingest_stream(chunks())
    refusal_for(write(tmp_path / "z.zip", zip_bytes()), store)
    with pytest.raises(IntakeRefused):
        store.ingest(write(tmp_path / "big", b"b" * 100), max_size=10)
    assert files_under(store.root) == []


def test_ingest_stream_matches_ingest(tmp_path, store):
    data = os.urandom(3 * intake.CHUNK_BYTES + 17)
    src = write(tmp_path / "raw.bin", data)
    from_file = store.ingest(src, max_size=None)
    streamed = store.ingest_stream(data[i : i + 65536] for i in range(0, len(data), 65536))
    assert from_file == streamed
    assert from_file.sha256 == hashlib.sha256(data).hexdigest()
    assert from_file.size == len(data)
    assert files_under(store.root) == [from_file.path]


def test_damaged_existing_blob_is_replaced(tmp_path, store):
    data = TEXT_BYTES
    sha = hashlib.sha256(data).hexdigest()
    store.path_for(sha).parent.mkdir(parents=True)
    store.path_for(sha).write_bytes(data[:5])  # a truncated copy from some earlier accident
    blob = prepare(write(tmp_path / "n.txt", data), store).blob
    assert blob.path.read_bytes() == data


def test_changed_between_look_and_copy_is_refused(tmp_path, store):
    src = write(tmp_path / "r.pdf", pdf_bytes())
    with open(src, "rb") as f:
        with pytest.raises(IntakeRefused, match="changed while it was being read"):
            store._ingest_file(f, None, expect=(src.stat().st_size, b"%PNG"))
        with pytest.raises(IntakeRefused, match="changed while it was being read"):
            store._ingest_file(f, None, expect=(src.stat().st_size + 1, b"%PDF"))
    assert files_under(store.root) == []


def test_store_lookup_validates_digest(store):
    with pytest.raises(ValidationError):
        store.path_for("../../etc/passwd")
    with pytest.raises(NotFoundError):
        store.open("0" * 64)
    assert not store.exists("f" * 64)


def test_temp_files_go_only_when_no_intake_is_under_way(store):
    """However new: a temp file is an intake's only while that intake holds the lock."""
    store.root.mkdir()
    left = store.root / ".tmp-crashed"
    left.write_bytes(b"x")
    with store.writing():  # an intake under way (another thread or process alike)
        assert store.sweep_temp_files() == (0, 0)
        assert left.exists()
    assert store.sweep_temp_files() == (1, 1)
    assert not left.exists()


# ------------------------------------------------------------------ walking


def test_folder_walk_with_a_mix(tmp_path, store):
    root = tmp_path / "drop"
    write(root / "b_report.pdf", pdf_bytes())
    write(root / "a_scan.png", png_bytes())
    write(root / "sub" / "values.csv", CSV_BYTES)
    write(root / "sub" / "empty.txt", b"")
    write(root / "sub" / "archive.zip", zip_bytes())
    write(root / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(root / "Thumbs.db", DOC_BYTES)
    write(root / ".hidden" / "x.pdf", pdf_bytes())
    single = write(tmp_path / "loose.txt", TEXT_BYTES)

    items = collect([single, root, tmp_path / "missing.pdf"])
    assert items == collect([single, root, tmp_path / "missing.pdf"])  # deterministic
    assert [i.path for i in items] == [
        single,
        root / "a_scan.png",
        root / "b_report.pdf",
        root / "sub" / "archive.zip",
        root / "sub" / "empty.txt",
        root / "sub" / "values.csv",
        tmp_path / "missing.pdf",
    ]
    assert isinstance(items[-1], Refusal) and items[-1].reason.startswith("not found")
    assert all(isinstance(i, Candidate) for i in items[:-1])

    # What the Workspace does: prepare each candidate, one bad file never stops the batch.
    outcomes = {}
    for item in items[:-1]:
        try:
            outcomes[item.path.name] = prepare(item.path, store).kind.mime
        except IntakeRefused as exc:
            outcomes[item.path.name] = str(exc)
    assert outcomes["a_scan.png"] == "image/png"
    assert outcomes["b_report.pdf"] == "application/pdf"
    assert outcomes["values.csv"] == "text/csv"
    assert outcomes["loose.txt"] == "text/plain"
    assert outcomes["empty.txt"] == "empty file — nothing to attach"
    assert outcomes["archive.zip"].startswith("unsupported type: looks like a ZIP archive")


def test_symlink_loop_in_folder_is_reported_and_walk_finishes(tmp_path):
    root = tmp_path / "drop"
    write(root / "one.pdf", pdf_bytes())
    write(root / "inner" / "two.pdf", pdf_bytes())
    (root / "inner" / "back").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")  # a link to itself: ELOOP from the kernel

    items = collect([root])
    refusals = {i.path.name: i.reason for i in items if isinstance(i, Refusal)}
    candidates = [i.path for i in items if isinstance(i, Candidate)]
    assert candidates == [root / "inner" / "two.pdf", root / "one.pdf"]
    assert set(refusals) == {"back", "self"}
    assert all(r.startswith("symlink loop") for r in refusals.values())


def test_folder_reached_twice_is_walked_once(tmp_path):
    root = tmp_path / "drop"
    write(root / "real" / "x.pdf", pdf_bytes())
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    items = collect([root])
    assert [i.path for i in items] == [root / "alias" / "x.pdf"]


def test_broken_link_is_not_found(tmp_path):
    link = tmp_path / "dangling.pdf"
    link.symlink_to(tmp_path / "nowhere.pdf")
    [item] = collect([link])
    assert isinstance(item, Refusal) and item.reason.startswith("not found")


def test_explicit_hidden_file_is_judged_not_skipped(tmp_path):
    hidden = write(tmp_path / ".notes.txt", TEXT_BYTES)
    assert collect([hidden]) == [Candidate(hidden, len(TEXT_BYTES))]


def test_unreadable_folder_is_refused_when_not_root(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can list any folder; the file case covers permission errors as root")
    locked = tmp_path / "locked"
    write(locked / "a.pdf", pdf_bytes())
    locked.chmod(0)
    try:
        [item] = collect([locked])
    finally:
        locked.chmod(0o700)
    assert isinstance(item, Refusal) and "permission denied" in item.reason
