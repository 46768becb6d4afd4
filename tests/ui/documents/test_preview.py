"""Previews of generated PNG, PDF and DICOM files: the function (any thread) and the viewer."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import update

from desktop.models.tables import Document
from desktop.ui.documents.documents_view import DocumentsPanel
from desktop.ui.documents.preview import SERVER_ONLY_NOTE, Preview, load_preview
from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_dicom, write_pdf, write_png
from desktop.workspace import Workspace

from ..conftest import select_case, settle


def test_png(tmp_path: Path) -> None:
    preview = load_preview(write_png(tmp_path / "a.png", size=2400), "image/png", max_px=800)
    assert preview.image is not None and preview.image.width() == 800
    assert preview.metadata["Size"] == "2400 × 2400 px" and preview.note is None


def test_pdf_pages(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "r.pdf", pages=3)
    first = load_preview(pdf, "application/pdf", page=0, max_px=600)
    assert first.image is not None and first.page_count == 3
    assert max(first.image.width(), first.image.height()) == 600
    assert first.metadata["Title"] == "Laboratory report"
    last = load_preview(pdf, "application/pdf", page=2, max_px=600)
    assert last.image is not None and last.image != first.image


def test_damaged_pdf_is_a_note(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really")
    preview = load_preview(bad, "application/pdf")
    assert preview.image is None and "cannot be shown" in (preview.note or "")


def test_dicom_monochrome2_and_monochrome1(tmp_path: Path) -> None:
    m2 = load_preview(write_dicom(tmp_path / "m2.dcm", "MONOCHROME2"), "application/dicom")
    m1 = load_preview(write_dicom(tmp_path / "m1.dcm", "MONOCHROME1"), "application/dicom")
    assert m2.image is not None and m1.image is not None
    corner2, corner1 = m2.image.pixelColor(2, 2).value(), m1.image.pixelColor(2, 2).value()
    assert corner2 == 0 and corner1 == 255  # MONOCHROME1 is shown inverted
    centre = m2.image.pixelColor(128, 128).value()
    assert m1.image.pixelColor(128, 128).value() == 255 - centre
    for key, value in (("Modality", "CT"), ("Body part", "CHEST"), ("Study date", "20261120"),
                       ("Size", "256 × 256"), ("Photometric", "MONOCHROME2")):
        assert m2.metadata[key] == value


def test_jpeg_and_jpeg2000_compressed_dicom_show_the_same_image(tmp_path: Path) -> None:
    """Radiology images often come JPEG or JPEG 2000 compressed inside the DICOM file."""
    raw = load_preview(write_dicom(tmp_path / "raw.dcm"), "application/dicom")
    assert raw.image is not None
    for encoding, tolerance in (("jpeg2000", 0), ("jpeg", 24)):  # lossless; lossy, 8 bits
        preview = load_preview(write_dicom(tmp_path / f"{encoding}.dcm", encoding=encoding),
                               "application/dicom")
        assert preview.image is not None, preview.note
        assert preview.note is None
        assert preview.image.size() == raw.image.size()
        for x, y in ((2, 2), (128, 128), (95, 95), (40, 128), (200, 60)):
            got, want = preview.image.pixelColor(x, y).value(), raw.image.pixelColor(x, y).value()
            assert abs(got - want) <= tolerance, (encoding, x, y, got, want)
        assert "JPEG" in preview.metadata["Transfer syntax"]


def test_a_damaged_dicom_says_damaged_not_unsupported(tmp_path: Path) -> None:
    """JPEG 2000 decodes here: a stream that cannot be read is a damaged file."""
    broken = write_dicom(tmp_path / "j2k.dcm", encoding="broken")
    preview = load_preview(broken, "application/dicom")
    assert preview.image is None
    assert "damaged" in (preview.note or "") and "not supported" not in (preview.note or "")
    assert "cannot decode" not in (preview.note or "")
    assert preview.metadata["Modality"] == "CT"
    assert "JPEG 2000" in preview.metadata["Transfer syntax"]


def test_a_compression_with_no_decoder_here_is_unsupported(tmp_path: Path) -> None:
    preview = load_preview(write_dicom(tmp_path / "ls.dcm", encoding="jpegls"),
                           "application/dicom")
    assert preview.image is None and "damaged" not in (preview.note or "")
    assert "cannot decode" in (preview.note or "") and "JPEG-LS" in (preview.note or "")
    assert preview.metadata["Modality"] == "CT"


def test_a_truncated_file_is_damaged(tmp_path: Path) -> None:
    whole = write_dicom(tmp_path / "whole.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole[: len(whole) // 2])
    assert "damaged" in (load_preview(cut, "application/dicom").note or "")
    png = write_png(tmp_path / "p.png").read_bytes()
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(png[:200])
    assert "damaged" in (load_preview(bad_png, "image/png").note or "")


def test_missing_and_unknown(tmp_path: Path) -> None:
    assert "missing" in (load_preview(tmp_path / "nope.png", "image/png").note or "")
    text = tmp_path / "n.txt"
    text.write_text("hello")
    assert "No preview" in (load_preview(text, "text/plain").note or "")


def test_works_off_the_gui_thread(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "r.pdf")
    dcm = write_dicom(tmp_path / "d.dcm")
    out: list[Preview] = []
    worker = threading.Thread(target=lambda: out.extend(
        [load_preview(pdf, "application/pdf"), load_preview(dcm, "application/dicom")]))
    worker.start()
    worker.join(60)
    assert [p.image is not None for p in out] == [True, True]


def show_documents(qtbot, window: MainWindow, case_id: str, count: int) -> DocumentsPanel:
    """The window's list refreshed, the case selected and its documents tab showing *count*
    rows: where a person starts to look at a case's files."""
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    select_case(qtbot, window, case_id)
    docs = window.case_view.documents
    window.case_view.tabs.setCurrentWidget(docs)
    qtbot.waitUntil(lambda: docs.model.rowCount() == count, timeout=5000)
    return docs


def test_viewer_in_the_window(qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    case = ws.create_case("Amara Okafor", 47, "female")
    ws.attach(case.id, [write_pdf(tmp_path / "r.pdf", pages=2), write_dicom(tmp_path / "d.dcm"),
                        write_png(tmp_path / "p.png")])
    docs = show_documents(qtbot, window, case.id, 3)
    preview = window.preview
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    assert preview.kind == "pdf" and preview.preview is not None
    assert preview.preview.page_count == 2
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(1)
    assert preview.kind == "dicom" and preview.preview.metadata["Modality"] == "CT"
    assert preview.dicom.view.has_image()
    assert preview.open_button.isEnabled() and preview.window_button.isEnabled()
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(2)
    assert preview.kind == "image" and preview.image.view.has_image()

    with ws.transaction() as session:  # as after a pull: the bytes are only on the server
        session.execute(update(Document).where(Document.name == "p.png").values(sha256=None))
    window.documents.reload()
    settle(qtbot, window)
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(2)
    assert preview.note.text() == SERVER_ONLY_NOTE
    assert not preview.open_button.isEnabled() and preview.kind is None


OPENER = """
import json, os, sys
with open(sys.argv[1] + ".seen", "w") as f:
    json.dump({"path": sys.argv[2], "env": dict(os.environ)}, f)
"""


def test_open_with_system_viewer_hands_over_a_safe_copy(
    qtbot, window: MainWindow, ws: Workspace, tmp_path: Path, monkeypatch
) -> None:
    """The viewer gets a read-only copy named for its content (not "lab-result.exe"), in a
    private folder, with no Case Desk secret in its environment; saving it changes nothing."""
    import json
    import os
    import sys

    monkeypatch.setenv("CASEDESK_TOKEN", "tok-secret-123")
    old_open = ws.folder.root / "open"
    old_open.mkdir(mode=0o755)
    os.chmod(old_open, 0o755)  # as earlier versions left it
    case = ws.create_case("Amara Okafor", 47, "female")
    [result] = ws.attach(case.id, [write_png(tmp_path / "lab-result.exe")])
    assert result.document is not None
    ref = ws.stored_bytes(result.document)
    assert ref is not None
    blob = ws.blobs.path_for(ref.sha256)
    stored = ref.read()
    assert stored not in blob.read_bytes()  # encrypted in the store
    docs = show_documents(qtbot, window, case.id, 1)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    report = tmp_path / "viewer"
    window.preview.viewer_command = [sys.executable, str(script), str(report)]
    window.preview.open_button.click()
    seen = Path(str(report) + ".seen")
    qtbot.waitUntil(seen.exists, timeout=10000)
    qtbot.waitUntil(lambda: seen.stat().st_size > 0, timeout=5000)
    handed = json.loads(seen.read_text())
    target = Path(handed["path"])
    assert target.name == "lab-result.png"
    assert "CASEDESK_TOKEN" not in handed["env"]
    assert not any(k.startswith("CASEDESK_") for k in handed["env"])
    assert (target.stat().st_mode & 0o777) == 0o400
    assert (target.parent.stat().st_mode & 0o777) == 0o700
    assert (old_open.stat().st_mode & 0o777) == 0o700
    assert target.stat().st_ino != blob.stat().st_ino and blob.stat().st_nlink == 1
    os.chmod(target, 0o600)  # a viewer that saves anyway
    target.write_bytes(stored + b"edited by the viewer")
    assert ref.read() == stored


def test_open_with_system_viewer_refuses_a_program(
    qtbot, window: MainWindow, ws: Workspace, tmp_path: Path
) -> None:
    import sys

    case = ws.create_case("Amara Okafor", 47, "female")
    script_like = tmp_path / "notes.txt"
    script_like.write_text("#!/bin/sh\nrm -rf ~\n")
    [refused] = ws.attach(case.id, [script_like])
    assert refused.outcome == "refused"  # intake keeps programs out today...
    plain = tmp_path / "plain.txt"
    plain.write_text("a note\n")
    [result] = ws.attach(case.id, [plain])
    assert result.document is not None
    # ...but a copy kept before that is still never handed over: the script's bytes stored
    # (sealed, as any stored document) under the plain note's row.
    stored = ws.blobs.ingest(script_like, max_size=None)
    with ws.transaction() as s:
        s.execute(update(Document).where(Document.id == result.document.id)
                  .values(sha256=stored.sha256, size=stored.size))
    docs = show_documents(qtbot, window, case.id, 1)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    report = tmp_path / "viewer"
    window.preview.viewer_command = [sys.executable, "-c", "open(__import__('sys').argv[1], 'w')",
                                     str(report)]
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        window.preview.open_button.click()
    assert "program or a script" in window.preview.note.text()
    assert not report.exists()


def test_lost_bytes_are_reported_by_the_preview(qtbot, window: MainWindow, ws: Workspace,
                                                 tmp_path: Path) -> None:
    case = ws.create_case("Amara Okafor", 47, "female")
    [result] = ws.attach(case.id, [write_png(tmp_path / "p.png")])
    ws.blobs.path_for(result.document.sha256).unlink()  # e.g. removed by hand from the data folder
    docs = show_documents(qtbot, window, case.id, 1)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    qtbot.waitUntil(lambda: "missing" in window.preview.note.text(), timeout=10000)
