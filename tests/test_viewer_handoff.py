"""Handing a stored document to the system viewer: a private, read-only copy named for its
sniffed type, never a program or a script, started with an environment free of secrets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from desktop import viewer_handoff
from desktop.intake import StoredBytes
from desktop.viewer_handoff import HandoffRefused, clean_environment, prepare
from desktop.workspace import Workspace
from tests import samples


@pytest.fixture
def ws(tmp_path: Path):
    with Workspace.open(tmp_path / "data") as workspace:
        yield workspace


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
       b"\x00\x00\x00IEND\xaeB`\x82")
PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole


def stored(ws: Workspace, tmp_path: Path, name: str, data: bytes) -> StoredBytes:
    source = tmp_path / "in" / name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    blob = ws.blobs.ingest(source)
    return ws.blobs.ref(blob.sha256)


def test_extension_comes_from_the_content_never_the_name(ws: Workspace, tmp_path: Path) -> None:
    blob = stored(ws, tmp_path, "x.bin", PDF)
    target = prepare(blob, "../../etc/lab-result.exe", ws.folder.hand_over)
    assert target.name == "lab-result.pdf"
    assert target.parent.parent == ws.folder.hand_over
    assert target.read_bytes() == PDF
    png = prepare(stored(ws, tmp_path, "y", PNG), "scan.pdf", ws.folder.hand_over)
    assert png.name == "scan.png"


def test_copy_is_private_read_only_and_never_the_stored_file(ws: Workspace,
                                                            tmp_path: Path) -> None:
    blob = stored(ws, tmp_path, "x.pdf", PDF)
    target = prepare(blob, "report.pdf", ws.folder.hand_over)
    stored_file = ws.blobs.path_for(blob.sha256)
    assert PDF not in stored_file.read_bytes()  # the store holds it encrypted
    assert (target.stat().st_mode & 0o777) == 0o400
    assert (target.parent.stat().st_mode & 0o777) == 0o700
    assert (ws.folder.hand_over.stat().st_mode & 0o777) == 0o700
    assert target.stat().st_ino != stored_file.stat().st_ino
    assert stored_file.stat().st_nlink == 1
    with pytest.raises(PermissionError) if os.geteuid() != 0 else _writable():
        target.write_bytes(b"changed")
    os.chmod(target, 0o600)
    target.write_bytes(PDF + b"saved by a viewer")
    assert blob.read() == PDF


class _writable:  # root ignores the read-only bit; the copy is still not the blob
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


@pytest.mark.parametrize("data, why", [
    (b"MZ\x90\x00" + b"\x00" * 200, "program"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "program"),
    (b"#!/bin/sh\nrm -rf ~\n", "script"),
    (b"<!DOCTYPE html><html><script>alert(1)</script>", "script"),
    (b"<?xml version='1.0'?><svg onload='x()'/>", "script"),
    (b"GIF89a" + b"\x00" * 100, "does not hand"),
])
def test_programs_scripts_and_unknown_types_are_refused(ws: Workspace, tmp_path: Path,
                                                         data: bytes, why: str) -> None:
    blob = stored(ws, tmp_path, "doc", data)
    with pytest.raises(HandoffRefused, match=why):
        prepare(blob, "report.pdf", ws.folder.hand_over)
    assert not any(ws.folder.hand_over.rglob("*.*"))


def test_word_file_with_macros_is_refused(ws: Workspace, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("word/vbaProject.bin", b"\x00macro")
    blob = stored(ws, tmp_path, "letter.docx", buffer.getvalue())
    with pytest.raises(HandoffRefused, match="macros"):
        prepare(blob, "letter.docx", ws.folder.hand_over)


def test_a_changed_blob_is_not_handed_over(ws: Workspace, tmp_path: Path) -> None:
    blob = stored(ws, tmp_path, "x.pdf", PDF)
    path = ws.blobs.path_for(blob.sha256)
    os.chmod(path, 0o600)
    sealed = bytearray(path.read_bytes())
    sealed[-40] ^= 1  # one bit of the encrypted content
    path.write_bytes(bytes(sealed))
    with pytest.raises(HandoffRefused, match="damaged or was altered"):
        prepare(blob, "x.pdf", ws.folder.hand_over)


def test_environment_loses_casedesk_and_secret_variables() -> None:
    env = {"CASEDESK_TOKEN": "t", "CASEDESK_DATA_DIR": "/d", "GITHUB_TOKEN": "g",
           "AWS_SECRET_ACCESS_KEY": "s", "DB_PASSWORD": "p", "OPENAI_API_KEY": "k",
           "DISPLAY": ":0", "XAUTHORITY": "/x", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/b",
           "HOME": "/home/d", "PATH": "/usr/bin", "LANG": "en_GB.UTF-8"}
    assert clean_environment(env) == {
        "DISPLAY": ":0", "XAUTHORITY": "/x", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/b",
        "HOME": "/home/d", "PATH": "/usr/bin", "LANG": "en_GB.UTF-8"}


def test_viewer_process_gets_the_clean_environment(ws: Workspace, tmp_path: Path,
                                                   monkeypatch) -> None:
    monkeypatch.setenv("CASEDESK_TOKEN", "tok-secret-123")
    report = tmp_path / "seen.json"
    opener = [sys.executable, "-c",
              "import json,os,sys; json.dump({'path': sys.argv[2], 'env': dict(os.environ)},"
              " open(sys.argv[1], 'w'))", str(report)]
    blob = stored(ws, tmp_path, "x.pdf", PDF)
    target = viewer_handoff.hand_over(blob, "report.pdf", opener)
    deadline = time.monotonic() + 10
    while not (report.exists() and report.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = json.loads(report.read_text())
    assert seen["path"] == str(target)
    assert "CASEDESK_TOKEN" not in seen["env"] and "tok-secret-123" not in json.dumps(seen)


def test_missing_viewer_is_a_clear_refusal(ws: Workspace, tmp_path: Path) -> None:
    blob = stored(ws, tmp_path, "x.pdf", PDF)
    with pytest.raises(HandoffRefused, match="No program on this computer could open"):
        viewer_handoff.hand_over(blob, "x.pdf", [str(tmp_path / "no-such-viewer")])


def test_old_hand_overs_are_swept(ws: Workspace, tmp_path: Path) -> None:
    blob = stored(ws, tmp_path, "x.pdf", PDF)
    first = prepare(blob, "a.pdf", ws.folder.hand_over)
    old = time.time() - 2 * viewer_handoff.KEEP_SECONDS
    os.utime(first.parent, (old, old))
    second = prepare(blob, "b.pdf", ws.folder.hand_over)
    assert not first.exists() and second.exists()


def test_links_left_by_earlier_versions_go_when_the_folder_opens(tmp_path: Path) -> None:
    """Earlier versions handed the viewer a hard link into the blob store."""
    with Workspace.open(tmp_path / "data") as ws:
        source = tmp_path / "in" / "x.pdf"
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(PDF)
        case = ws.create_case("Linked Before", 40, "female")
        [result] = ws.attach(case.id, [source])  # a document names it: collection keeps it
        assert result.document is not None
        blob = ws.blobs.path_for(result.document.sha256)
        legacy = ws.folder.hand_over / (blob.parent.name + blob.name)
        legacy.mkdir(parents=True)
        os.link(blob, legacy / "report.pdf")
        assert blob.stat().st_nlink == 2
    with Workspace.open(tmp_path / "data") as ws:
        assert blob.stat().st_nlink == 1 and not (legacy / "report.pdf").exists()


def test_core_module_never_imports_qt() -> None:
    code = ("import sys, desktop.viewer_handoff; "
            "sys.exit(any(m.startswith('PySide6') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
