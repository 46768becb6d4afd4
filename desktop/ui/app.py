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

    app = QApplication.instance() or QApplication(argv if argv is not None else [sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Case Desk")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())  # type: ignore[attr-defined]
    return app


def run(data_dir: str | Path | None = None, profile: str | None = None) -> int:
    """Open the window; returns the exit code of the event loop (1 if the cache cannot open)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.ui.main_window import MainWindow
    from desktop.workspace import Workspace

    app = make_application()
    assert isinstance(app, QApplication)
    install_excepthook()
    try:
        workspace = Workspace.open(data_dir, profile)
    except CaseDeskError as exc:
        QMessageBox.critical(None, "Case Desk", str(exc))
        return 1
    try:
        window = MainWindow(workspace)
        window.show()
        code = app.exec()
        window.hide()
        window.runner.shutdown()
        window.deleteLater()
        return int(code)
    finally:
        workspace.close()
