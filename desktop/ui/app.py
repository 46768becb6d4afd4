"""`casedesk` with no command: the window on the Workspace of the chosen data folder."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType

from desktop.errors import CaseDeskError

log = logging.getLogger(__name__)

CALM_MESSAGE = (
    "Something unexpected went wrong. Your saved work is safe on this computer. "
    "Details are in the log file (logs/casedesk.log in the data folder)."
)


def install_excepthook() -> None:
    """Log unexpected errors and show one calm message; never a traceback in front of a user."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    showing = False

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        nonlocal showing
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unexpected error", exc_info=(kind, error, tb))
        message = str(error) if isinstance(error, CaseDeskError) else CALM_MESSAGE
        if showing or QApplication.instance() is None:
            return
        showing = True
        try:
            QMessageBox.warning(QApplication.activeWindow(), "Case Desk", message)
        finally:
            showing = False

    sys.excepthook = hook


def make_application(argv: list[str] | None = None) -> object:
    from PySide6.QtWidgets import QApplication

    from desktop import __version__
    from desktop.ui.icons import app_icon
    from desktop.ui.settings import APPLICATION, ORGANIZATION

    # Workers (sync, intake) run Python too; a 1 ms GIL switch interval (default 5 ms) lets the
    # GUI thread get the interpreter back promptly: the longest event-loop stall during a sync
    # plus a 1 GiB intake went from 60-90 ms to 30-40 ms in bench.gui.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(argv if argv is not None else [sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Case Desk")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())  # type: ignore[attr-defined]
    return app


def startup_window() -> object:
    """An immediate, honest placeholder: the window frame says it is opening the cases.

    The data layer (SQLAlchemy, Alembic, the migration check) takes most of a second to load on
    a slow machine; painting this first means a double-click gets an answer at once. It takes
    the saved window geometry so the real window replaces it in place.
    """
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtWidgets import QLabel, QMainWindow

    from desktop.ui.settings import app_settings

    window = QMainWindow()
    window.setWindowTitle("Case Desk")
    label = QLabel("Opening your cases…", window)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: #616161; font-size: 13pt;")
    window.setCentralWidget(label)
    window.resize(1280, 800)
    geometry = app_settings().value("window/geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
    return window


def start(data_dir: str | Path | None = None, profile: str | None = None) -> tuple[object, object]:
    """Show the placeholder, open the Workspace, show the main window: (window, workspace).

    Raises CaseDeskError if the data folder or cache cannot be opened (placeholder closed).
    """
    from PySide6.QtWidgets import QApplication, QMainWindow

    placeholder = startup_window()
    assert isinstance(placeholder, QMainWindow)
    placeholder.show()
    QApplication.processEvents()
    placeholder.repaint()
    try:
        from desktop.ui.main_window import MainWindow  # the heavy imports happen here
        from desktop.workspace import Workspace

        workspace = Workspace.open(data_dir, profile)
        try:
            window = MainWindow(workspace)
        except BaseException:
            workspace.close()
            raise
        window.show()
        return window, workspace
    finally:
        placeholder.close()
        placeholder.deleteLater()


def run(data_dir: str | Path | None = None, profile: str | None = None) -> int:
    """Open the window; returns the exit code of the event loop (1 if the cache cannot open)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = make_application()
    assert isinstance(app, QApplication)
    install_excepthook()
    try:
        window, workspace = start(data_dir, profile)
    except CaseDeskError as exc:
        QMessageBox.critical(None, "Case Desk", str(exc))
        return 1
    from desktop.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    try:
        code = app.exec()
        window.hide()
        window.runner.shutdown()
        window.deleteLater()
        return int(code)
    finally:
        workspace.close()  # type: ignore[attr-defined]
