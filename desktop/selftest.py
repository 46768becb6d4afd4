"""`casedesk --self-test`: prove that this build works on this machine, end to end, headless.

Packaged builds fail in ways unit tests never see: a migration script, a Qt plugin or a pydicom
pixel handler left out of the bundle. So the self-test uses the real pieces in a throw-away data
folder: it migrates a new cache, creates and edits a case, takes in a PDF, a PNG and a DICOM file
generated on the spot, renders a preview of each offscreen and, given a server address, signs in
and syncs. One line per step; exit 0 only if every step worked.

Qt is imported lazily (only in the file-generating and preview steps), and the OS keychain is
never touched: an in-memory keyring stands in for it for the whole run.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import keyring

from desktop import __version__, datafolder
from desktop import logs as applogs
from desktop.cli import sync_summary
from desktop.errors import CaseDeskError
from desktop.sync import credentials

log = logging.getLogger(__name__)

ENV_TOKEN = "CASEDESK_SELFTEST_TOKEN"
DEFAULT_TOKEN = "token-doctor-1"
DEFAULT_USER = "doctor-1"
SAMPLE_KINDS = ("PDF", "PNG", "DICOM", "JPEG DICOM")
EXPECTED_MIME = {"PDF": "application/pdf", "PNG": "image/png", "DICOM": "application/dicom",
                 "JPEG DICOM": "application/dicom"}


class StepFailed(CaseDeskError):
    """A check inside a step did not hold; the message says which."""


@dataclass
class Step:
    name: str
    run: Callable[[], None]
    needs: tuple[str, ...] = ()


@dataclass
class SelfTest:
    """The steps share state through this object: the workspace, the case, the samples."""

    root: Path
    server: str | None = None
    token: str = DEFAULT_TOKEN
    user_id: str = DEFAULT_USER
    ws: Any = None
    case_id: str | None = None
    samples: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    qt_app: Any = None

    # ------------------------------------------------------------ steps

    def steps(self) -> list[Step]:
        steps = [
            Step("migrate cache", self.migrate_cache),
            Step("create case", self.create_case, ("migrate cache",)),
            Step("edit case", self.edit_case, ("create case",)),
        ]
        for kind in SAMPLE_KINDS:
            steps.append(Step(f"take in {kind}", self._bind(self.take_in, kind), ("create case",)))
        for kind in SAMPLE_KINDS:
            steps.append(Step(f"preview {kind}", self._bind(self.preview, kind), (f"take in {kind}",)))
        steps.append(Step("view and search PDF", self.view_pdf, ("take in PDF",)))
        steps.append(Step("encrypted cache", self.encrypted_cache, ("edit case",)))
        steps.append(Step("lock the window", self.lock_window, ("create case",)))
        steps.append(Step("key helper", self.key_helper))
        if self.server:
            steps.append(Step("sign in", self.sign_in, ("migrate cache",)))
            steps.append(Step("sync", self.sync, ("sign in", "edit case",
                                                  *(f"take in {k}" for k in SAMPLE_KINDS))))
            steps.append(Step("pull into a second cache", self.pull_back, ("sync",)))
        return steps

    @staticmethod
    def _bind(fn: Callable[[str], None], kind: str) -> Callable[[], None]:
        return lambda: fn(kind)

    def migrate_cache(self) -> None:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from desktop.models.database import alembic_config
        from desktop.workspace import Workspace

        folder = datafolder.prepare(self.root / "data")
        self.ws = Workspace(folder)
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        with self.ws.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if not heads or current != heads:
            raise StepFailed(f"cache is at {sorted(current)}, migrations end at {sorted(heads)}")

    def key_helper(self) -> None:
        """The window's key helper is this program started with ``--fetch-folder-key``: it
        must answer (here: a folder kept by a passphrase has no key at hand) and exit, not
        open a second window."""
        from desktop import folder_key, key_prefetch

        root = self.root / "helper"
        root.mkdir()
        folder_key.save_record(root, folder_key.KeyRecord(
            folder_id="self-test", kept=folder_key.KEPT_BY_PASSPHRASE, check="00", wrapped={}))
        prefetch = key_prefetch.start(root)
        if prefetch is None:
            raise StepFailed("the key helper could not be started")
        try:
            if not prefetch.wait(60):
                raise StepFailed("the key helper did not answer within a minute")
            if prefetch.exit_code != key_prefetch.NOT_AT_HAND:
                raise StepFailed(f"the key helper answered {prefetch.exit_code}, "
                                 f"not {key_prefetch.NOT_AT_HAND}")
        finally:
            prefetch.close()

    def encrypted_cache(self) -> None:
        """The cache is SQLCipher 4 (this build carries it), whole, with nothing in clear."""
        with self.ws.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            version = raw.execute("PRAGMA cipher_version").fetchone()
            problems = raw.execute("PRAGMA cipher_integrity_check").fetchall()
        if not version or not str(version[0]).startswith("4."):
            raise StepFailed(f"the cache is not SQLCipher 4 (cipher_version {version})")
        if problems:
            raise StepFailed(f"cipher_integrity_check: {problems[0][0]}")
        if self.ws.checkpointer is not None:
            self.ws.checkpointer.checkpoint()  # the log's pages into the file, too
        for path in self.ws.folder.root.glob("casedesk.sqlite3*"):
            data = path.read_bytes()
            if data.startswith(b"SQLite format 3") or b"Self-Test Patient" in data:
                raise StepFailed(f"{path.name} holds data in clear")
        for blob in self.ws.folder.blobs.glob("??/*"):
            with open(blob, "rb") as f:
                if not f.read(8).startswith(b"CDBLOB"):
                    raise StepFailed("a stored document is not encrypted")

    def lock_window(self) -> None:
        """The main window locks: the title and every patient detail hidden, the PIN opens it."""
        self._ensure_qt()
        try:
            from desktop.ui.lock import LOCKED_TITLE
            from desktop.ui.main_window import MainWindow
        except ImportError as exc:
            raise StepFailed(f"the window is not in this build ({exc})") from None
        from PySide6.QtWidgets import QApplication

        self.ws.set_unlock_secret("20262026")
        window = MainWindow(self.ws)
        try:
            window.resize(900, 600)
            window.show()
            window.lock.lock()
            QApplication.processEvents()
            if window.windowTitle() != LOCKED_TITLE or not window.lock.screen.isVisible():
                raise StepFailed("the window did not lock")
            if window.lock.screen.geometry() != window.rect():
                raise StepFailed("the lock screen does not cover the window")
            self.ws.check_unlock("20262026")
            window.lock.unlock()
            if window.lock.locked:
                raise StepFailed("the window did not unlock")
        finally:
            window._close_confirmed = True
            window.close()
            window.runner.shutdown()
            window.deleteLater()
            QApplication.processEvents()

    def create_case(self) -> None:
        record = self.ws.create_case("Self-Test Patient", 42, "female", "Created by the self-test.")
        self.case_id = record.id
        if self.ws.get_case(record.id).patient_name != "Self-Test Patient":
            raise StepFailed("the new case did not read back")

    def edit_case(self) -> None:
        summary = f"Edited by the self-test of casedesk {__version__}."
        self.ws.edit_case(self.case_id, case_summary=summary, status="processing", patient_age=43)
        record = self.ws.get_case(self.case_id)
        if (record.case_summary, record.status, record.patient_age) != (summary, "processing", 43):
            raise StepFailed("the edit did not read back")
        if self.ws.pending_count() < 1:
            raise StepFailed("the new case is not queued for the server")

    def take_in(self, kind: str) -> None:
        path = self.root / "samples" / f"self-test.{kind.lower().replace(' ', '-')}"
        path.parent.mkdir(exist_ok=True)
        self._make_sample(kind, path)
        self.samples[kind] = path
        (result,) = self.ws.attach(self.case_id, [path])
        if result.outcome != "attached" or result.document is None:
            raise StepFailed(f"{result.outcome}: {result.reason}")
        if result.document.mime_type != EXPECTED_MIME[kind]:
            raise StepFailed(f"recognised as {result.document.mime_type}, not {EXPECTED_MIME[kind]}")
        self.documents[kind] = result.document

    def preview(self, kind: str) -> None:
        self._ensure_qt()
        try:
            from desktop.ui.documents.preview import load_preview
        except ImportError as exc:
            raise StepFailed(f"the preview module is not in this build ({exc})") from None
        doc = self.documents[kind]
        stored = self.ws.stored_bytes(doc)
        if stored is None:
            raise StepFailed("the stored file is missing from the blob store")
        result = load_preview(stored, doc.mime_type)
        image = result.image
        if image is None or image.isNull():
            raise StepFailed(f"no image ({result.note or 'no reason given'})")
        if _is_blank(image):
            raise StepFailed(f"the {image.width()}x{image.height()} image is blank")

    def view_pdf(self) -> None:
        """The window's PDF viewer (QtPdf's view and search model) draws the stored PDF and
        finds a word in it: a build without QtPdfWidgets fails here."""
        self._ensure_qt()
        import time

        try:
            from desktop.ui.documents.pdf_viewer import PdfViewer
        except ImportError as exc:
            raise StepFailed(f"the PDF viewer is not in this build ({exc})") from None
        stored = self.ws.stored_bytes(self.documents["PDF"])
        if stored is None:
            raise StepFailed("the stored PDF is missing from the blob store")
        viewer = PdfViewer()
        try:
            viewer.resize(600, 800)  # drawn by grab(), never shown
            problem = viewer.open(stored.read())
            if problem:
                raise StepFailed(problem)
            viewer.find_box.setText("self-test")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.qt_app.processEvents()
                image = viewer.view.viewport().grab().toImage()
                if viewer.matches() and not _is_blank(image):
                    return
                time.sleep(0.02)
            raise StepFailed(f"the page was not drawn or the word not found "
                             f"({viewer.matches()} matches)")
        finally:
            viewer.close_document()
            viewer.deleteLater()

    def sign_in(self) -> None:
        result = _case_server().begin_sign_in(self.ws, self.server, self.user_id, self.token,
                                              verify=True)
        if not result.verified:
            raise StepFailed(f"the server at {self.server} could not be reached")
        if not result.stored_in_keychain:
            raise StepFailed("the token was not stored in the (in-memory) keychain")

    def sync(self) -> None:
        runner = _sync_module("runner")
        report = runner.run_sync(self.ws)
        if not report.ok:
            raise StepFailed(sync_summary(report))
        record = self.ws.get_case(self.case_id)
        if not record.server_id:
            raise StepFailed("the case has no server id after syncing")
        left = self.ws.pending_count()
        if left:
            raise StepFailed(f"{left} change(s) still wait for the server: "
                             f"{sync_summary(report)}")
        not_sent = [d.name for d in self.ws.documents(self.case_id) if d.state == "local_only"]
        if not_sent:
            raise StepFailed(f"{len(not_sent)} document(s) were not uploaded")

    def pull_back(self) -> None:
        """A second computer's view: the case, its edit and its files come back intact."""
        from desktop.workspace import Workspace

        runner = _sync_module("runner")
        server_id = self.ws.get_case(self.case_id).server_id
        with Workspace(datafolder.prepare(self.root / "second")) as other:
            _case_server().begin_sign_in(other, self.server, self.user_id, self.token,
                                         verify=False)
            report = runner.run_sync(other)
            if not report.ok:
                raise StepFailed(sync_summary(report))
            mine, theirs = self.ws.get_case(self.case_id), other.get_case(server_id)
            if (theirs.case_summary, theirs.status) != (mine.case_summary, mine.status):
                raise StepFailed("the pulled case differs from the one sent")
            docs = {d.name: d for d in other.documents(theirs.id)}
            sent = self.documents["DICOM"]
            if len(docs) != len(SAMPLE_KINDS) or sent.name not in docs:
                raise StepFailed(f"{len(docs)} of {len(SAMPLE_KINDS)} documents came back")
            stored = runner.download(other, docs[sent.name].id)
            if hashlib.sha256(stored.read()).hexdigest() != sent.sha256:
                raise StepFailed("the downloaded DICOM file differs from the one uploaded")

    # ------------------------------------------------------------ sample files

    def _ensure_qt(self) -> None:
        """One offscreen QApplication for the whole run (QPdfWriter and previews need it)."""
        if self.qt_app is not None:
            return
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication

        self.qt_app = QApplication.instance() or QApplication(["casedesk-self-test"])

    def _make_sample(self, kind: str, path: Path) -> None:
        """The product's own sample writers: a build missing QPdfWriter, Qt's image plugins,
        pydicom's pixel handlers or Pillow's JPEG encoder fails here, in words."""
        self._ensure_qt()
        try:
            from desktop.ui.sample_files import write_dicom, write_pdf, write_png
        except ImportError as exc:
            raise StepFailed(f"the sample writers are not in this build ({exc})") from None
        if kind == "PDF":
            write_pdf(path, pages=1, title="Case Desk self-test")
        elif kind == "PNG":
            write_png(path, text="Case Desk self-test", size=320)
        else:
            write_dicom(path, rows=128, cols=128,
                        encoding="jpeg" if kind == "JPEG DICOM" else "raw")
        if not path.is_file() or path.stat().st_size < 200:
            raise StepFailed(f"the {kind} sample was not written (an image plugin missing?)")
        if kind == "DICOM":
            from pydicom import dcmread

            if dcmread(path).pixel_array.shape != (128, 128):  # pydicom's native handler
                raise StepFailed("pydicom could not decode the DICOM it wrote")


def _sync_module(name: str) -> Any:
    """Import desktop.sync.<name>, turning a build without sync into one clear failure line."""
    import importlib

    try:
        return importlib.import_module(f"desktop.sync.{name}")
    except ImportError as exc:
        raise StepFailed(f"sync not available in this build ({exc})") from None


def _case_server() -> Any:
    """The self-test's server speaks the case-server kind (the registry's default)."""
    registry = _sync_module("registry")
    return registry.kind(registry.DEFAULT)


def _is_blank(image: Any) -> bool:
    """True when every sampled pixel has the same colour (a white page, a black frame)."""
    from PySide6.QtCore import Qt

    small = image.scaled(48, 48, Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.FastTransformation)
    colours = {small.pixel(x, y) for y in range(small.height()) for x in range(small.width())}
    return len(colours) < 2


# ------------------------------------------------------------------ entry point


def run(server: str | None = None, out: TextIO | None = None, err: TextIO | None = None,
        token: str | None = None, user_id: str = DEFAULT_USER) -> int:
    """Run every step in a temporary data folder; 0 only if all of them worked."""
    out = out or sys.stdout
    err = err or sys.stderr
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless, even on a desktop session
    token = token or os.environ.get(ENV_TOKEN) or DEFAULT_TOKEN
    previous_keyring = keyring.get_keyring()
    keyring.set_keyring(credentials.MemoryKeyring())
    started = time.perf_counter()
    failed: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="casedesk-selftest-") as tmp:
            test = SelfTest(Path(tmp), server=server, token=token, user_id=user_id)
            applogs.configure(Path(tmp) / "logs")
            steps = test.steps()
            try:
                for step in steps:
                    _run_step(step, failed, out, err)
            finally:
                if test.ws is not None:
                    test.ws.close()
    finally:
        keyring.set_keyring(previous_keyring)
    total = time.perf_counter() - started
    tail = "" if server else " (sync not tested: no --self-test-server given)"
    if failed:
        out.write(f"self-test FAILED: {len(failed)} of {len(steps)} steps ({total:.1f} s){tail}\n")
        return 1
    out.write(f"self-test passed: {len(steps)} steps ({total:.1f} s){tail}\n")
    return 0


def _run_step(step: Step, failed: set[str], out: TextIO, err: TextIO) -> None:
    missing = [n for n in step.needs if n in failed]
    if missing:
        failed.add(step.name)
        out.write(f"FAIL {step.name}: not run, needs '{missing[0]}'\n")
        out.flush()
        return
    t0 = time.perf_counter()
    try:
        step.run()
    except StepFailed as exc:
        failed.add(step.name)
        out.write(f"FAIL {step.name}: {exc}\n")
    except CaseDeskError as exc:
        failed.add(step.name)
        out.write(f"FAIL {step.name}: {exc}\n")
    except Exception as exc:  # noqa: BLE001 - a self-test reports every failure and goes on
        failed.add(step.name)
        log.exception("self-test step failed: %s", step.name)
        out.write(f"FAIL {step.name}: {type(exc).__name__}: {exc}\n")
        out.flush()
        traceback.print_exc(file=err)  # a packaging fault needs the traceback to be found
    else:
        out.write(f"ok   {step.name} ({time.perf_counter() - t0:.2f} s)\n")
    out.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="casedesk --self-test",
        description="Check this build end to end in a temporary data folder (headless).",
    )
    p.add_argument("--self-test", action="store_true", help="run the self-test")
    p.add_argument("--self-test-server", metavar="URL",
                   help="also sign in and sync with this (test) server; token from "
                        f"${ENV_TOKEN} (default {DEFAULT_TOKEN!r}), user {DEFAULT_USER!r}")
    return p


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # usage error or --help
        return int(exc.code or 0)
    if not args.self_test:
        sys.stderr.write("casedesk: usage error: --self-test-server needs --self-test\n")
        return 2
    server = args.self_test_server
    if server is not None:
        parts = urlsplit(server.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            sys.stderr.write(f"casedesk: usage error: --self-test-server {server!r} is not "
                             "a web address like http://127.0.0.1:8000\n")
            return 2
        server = server.strip().rstrip("/")
    return run(server=server)
