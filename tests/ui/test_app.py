"""The app entry point's safety nets: a calm message for unexpected errors, an unusable data
folder in words, and the window opening after its placeholder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktop.ui import app as app_module
from desktop.ui.main_window import MainWindow


def test_excepthook_logs_and_shows_a_calm_message(qtbot, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    previous = sys.excepthook
    try:
        app_module.install_excepthook()
        try:
            raise RuntimeError("internal detail")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = previous
    assert shown == [app_module.CALM_MESSAGE]
    assert "internal detail" not in shown[0]


def test_run_reports_an_unusable_data_folder(qtbot, monkeypatch, tmp_path: Path) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    previous = sys.excepthook
    try:
        assert app_module.run(data_dir=not_a_folder) == 1
    finally:
        sys.excepthook = previous
    assert shown and "is a file, not a folder" in shown[0]


@pytest.mark.parametrize("argv", [[], ["gui"]])
def test_casedesk_opens_the_window(monkeypatch, tmp_path: Path, argv: list[str]) -> None:
    import desktop.__main__ as entry

    calls: list[dict] = []
    monkeypatch.setattr(app_module, "run", lambda **kw: calls.append(kw) or 0)
    monkeypatch.setattr(sys, "argv", ["casedesk", "--data-dir", str(tmp_path / "d"), *argv])
    assert entry.main() == 0
    assert calls and calls[0]["data_dir"] == str(tmp_path / "d")


def test_start_shows_the_window_after_a_placeholder(qtbot, tmp_path: Path) -> None:
    window, workspace = app_module.start(tmp_path / "data")
    try:
        assert isinstance(window, MainWindow) and window.isVisible()
        qtbot.waitUntil(lambda: window.runner.running == 0 and not window.model.loading)
        assert window.list_panel.count_label.text() == "0 cases"
        # No PIN yet: the one who opened it chooses one before anything else.
        assert window.lock.locked and window.lock.screen.choosing
        # Choosing it unlocks the window as any unlock does: nothing the lock hid at start
        # (the start window is gone by then) is shown again, and the idle lock runs.
        errors: list[BaseException] = []
        previous = sys.excepthook
        sys.excepthook = lambda kind, error, tb: errors.append(error)
        try:
            screen = window.lock.screen
            screen.secret.setText("482913")
            screen.again.setText("482913")
            screen.button.click()
            qtbot.waitUntil(lambda: not window.lock.locked, timeout=10000)
            qtbot.wait(50)
        finally:
            sys.excepthook = previous
        assert errors == []
        assert window.lock.timer.isActive()
    finally:
        window._close_confirmed = True
        window.close()
        window.runner.shutdown()
        window.deleteLater()
        workspace.close()


def test_run_refuses_an_emptied_cache_in_the_windows_own_words(qtbot, monkeypatch,
                                                               tmp_path: Path) -> None:
    """A cache emptied under a folder that was in use: the window says which file and what
    to do (no command line), and leaves the file and its write-ahead log as they are."""
    from desktop.workspace import Workspace

    with Workspace.open(tmp_path / "data") as ws:
        ws.create_case("Jane", 3, "female")
    cache = tmp_path / "data" / "casedesk.sqlite3"
    cache.write_bytes(b"")
    wal = Path(f"{cache}-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + b"\1" * 4000)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    previous = sys.excepthook
    try:
        assert app_module.run(data_dir=tmp_path / "data") == 1
    finally:
        sys.excepthook = previous
    assert shown and str(cache) in shown[0] and "is empty" in shown[0]
    assert "repair" in shown[0] and "casedesk repair" not in shown[0]
    assert cache.stat().st_size == 0 and wal.stat().st_size > 0


def test_the_application_skips_pysides_source_scan_of_later_imports(qtbot) -> None:
    # PySide6 reads the source of each module imported after it to look for "PySide6" (its
    # opt-in __feature__ switches); the data layer's imports paid ~70 ms of the window's start.
    app_module.make_application()
    feature = sys.modules["PySide6.support.feature"]
    assert "PySide6" in Path(app_module.__file__).read_text(encoding="utf-8")
    assert feature._mod_uses_pyside(app_module) is False
    assert feature.feature_imported  # the hook itself stays: only the scan is skipped


def test_the_window_loads_without_the_sync_client_libraries() -> None:
    # httpx and filelock load with the first sync, not with the window (~60 ms of its start);
    # keyring with the first question to the keychain (the folder's key comes from the start-
    # up's helper process: ~30-65 ms of the window's start).
    import subprocess

    code = ("import sys, desktop.ui.main_window; "
            "print(sorted(m for m in ('httpx', 'filelock', 'keyring') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ,
                                           "QT_QPA_PLATFORM": "offscreen"})
    assert done.stdout.strip() == "[]"
