"""GUI test fixtures: a Workspace in tmp_path, the window on it, settings redirected to tmp_path,
and a guard that fails any test leaving running workers or visible windows behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from desktop.ui.main_window import MainWindow
from desktop.ui.operations import all_pools
from desktop.workspace import Workspace

# Qt's offscreen screen is 800 × 600 unless told otherwise; the window is made for desktops of
# 1024 px and more, so the tests draw on a 1280 × 800 one (read when the QApplication starts).
if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = (
        f"offscreen:configfile={Path(__file__).with_name('screen.json')}")


@pytest.fixture(autouse=True)
def qt_settings(tmp_path: Path, qapp: QApplication) -> Path:
    """Never touch the real user's settings."""
    folder = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialog asking whether to throw typed text away would wait for a click forever in a
    test; a test that expects the question answers it on the dialog (``ask_discard``)."""
    from desktop.ui.dialogs import GuardedDialog

    def unexpected_question(self: GuardedDialog) -> bool:
        raise AssertionError(f"{type(self).__name__} asked to discard typed text")

    monkeypatch.setattr(GuardedDialog, "ask_discard", unexpected_question)


@pytest.fixture(autouse=True)
def no_leaks(qapp: QApplication) -> Iterator[None]:
    """Fail on workers still running or windows left open (a running QThread at exit segfaults)."""
    before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
    yield
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible() and id(w) not in before]
    for widget in leaked:
        widget.close()
    busy = [p.objectName() or "global" for p in all_pools() if not p.waitForDone(20000)]
    QApplication.processEvents()
    assert not busy, f"worker threads still running after the test: {busy}"
    assert not leaked, f"windows left open: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.open(tmp_path / "data")
    yield workspace
    workspace.close()


def unexpected(*_args: object) -> None:
    raise AssertionError("unexpected dialog in a test")


@pytest.fixture
def make_window(ws: Workspace, qtbot) -> Iterator:
    """Build MainWindows on ``ws``; each is closed and its workers joined at teardown."""
    windows: list[MainWindow] = []

    def make(wait: bool = True) -> MainWindow:
        window = MainWindow(ws)
        window.ask_unsaved = unexpected  # type: ignore[method-assign]
        window.ask_new_case = unexpected  # type: ignore[method-assign]
        window.ask_files = unexpected  # type: ignore[method-assign]
        window.ask_archive = unexpected  # type: ignore[method-assign]
        window.sync_panel.ask_sign_out = unexpected  # type: ignore[method-assign]
        window.show()
        windows.append(window)
        if wait:
            settle(qtbot, window)
        return window

    yield make
    for window in windows:
        window._close_confirmed = True
        window.close()
        window.runner.shutdown()
        QApplication.processEvents()
        window.deleteLater()
    QApplication.processEvents()


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


def settle(qtbot, window: MainWindow) -> None:
    """Wait until no operation is running and the list has its rows."""
    qtbot.waitUntil(lambda: window.runner.running == 0 and not window.model.loading, timeout=10000)


def select_case(qtbot, window: MainWindow, case_id: str) -> None:
    row = window.model.row_of(case_id)
    assert row is not None, "case not in the list"
    window.table.selectRow(row)
    qtbot.waitUntil(lambda: window.case_view.case_id == case_id, timeout=5000)
    settle(qtbot, window)


# ------------------------------------------------------------------ drag and drop, as Qt delivers it


def file_mime(paths: list[Path]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _args(pos: QPointF, mime: QMimeData) -> tuple:
    return (pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)


def drag_enter(widget: QWidget, pos: QPointF, mime: QMimeData) -> QDragEnterEvent:
    event = QDragEnterEvent(*_args(pos, mime))
    QApplication.sendEvent(widget, event)
    return event


def drag_move(widget: QWidget, pos: QPointF, mime: QMimeData) -> QDragMoveEvent:
    event = QDragMoveEvent(*_args(pos, mime))
    QApplication.sendEvent(widget, event)
    return event


def drag_leave(widget: QWidget) -> None:
    QApplication.sendEvent(widget, QDragLeaveEvent())


def drop(widget: QWidget, pos: QPointF, mime: QMimeData) -> QDropEvent:
    """Enter, move, then drop at ``pos`` in ``widget`` coordinates."""
    drag_enter(widget, pos, mime)
    drag_move(widget, pos, mime)
    event = QDropEvent(*_args(pos, mime))
    QApplication.sendEvent(widget, event)
    return event
