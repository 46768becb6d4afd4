"""`casedesk` with no command: the window on the Workspace of the chosen data folder."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from desktop.errors import CaseDeskError

if TYPE_CHECKING:
    from desktop.key_prefetch import KeyPrefetch

log = logging.getLogger(__name__)

CALM_MESSAGE = (
    "Something unexpected went wrong. "
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


def skip_feature_scan() -> None:
    """PySide6 reads the source of every module imported after it, looking for the word
    "PySide6", to scope its opt-in ``__feature__`` switches (snake_case, true_property) that
    Case Desk never turns on. For the data layer's hundreds of modules that scan was ~70 ms of
    the full window's start. Telling it no module uses them skips the scan and changes nothing
    else: with no feature switched on, "no feature" and "ignore this module" read alike."""
    feature = sys.modules.get("PySide6.support.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = lambda _module: False


def make_application(argv: list[str] | None = None) -> object:
    from PySide6.QtWidgets import QApplication

    skip_feature_scan()

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


def startup_window(data_dir: str | Path | None = None, profile: str | None = None,
                   prefetch: KeyPrefetch | None = None) -> object:
    """An immediate, honest first window: the case list's first rows, read straight from the
    cache, beside "Opening your cases…" (see start_window). Loading the data layer takes most
    of a second on a slow machine; this paints in a few milliseconds."""
    from desktop import datafolder
    from desktop.errors import DataFolderError
    from desktop.ui.start_window import StartWindow

    try:
        cache: Path | None = datafolder.DataFolder(datafolder.resolve(data_dir, profile)).cache
    except DataFolderError:
        cache = None  # the full start-up explains what is wrong with the folder
    return StartWindow(cache, prefetch)


# How long the first paint may wait for the cache's key to have the list in it; longer (a
# keychain asking the person, a slow disk) and the empty frame is painted first.
LIST_WAIT_S = 0.15
# How long the start-up waits for the key helper's answer before reading the keychain itself:
# long enough for a person to answer a keychain's prompt, which would otherwise come twice.
HELPER_WAIT_S = 120.0


def start(data_dir: str | Path | None = None, profile: str | None = None,
          prefetch: KeyPrefetch | None = None) -> tuple[object, object]:
    """Show the placeholder, open the Workspace, show the main window: (window, workspace).

    *prefetch*: the folder's key, being read by a helper process (``key_prefetch``).
    Raises CaseDeskError if the data folder or cache cannot be opened (placeholder closed).
    """
    from PySide6.QtWidgets import QApplication, QMainWindow

    placeholder = startup_window(data_dir, profile, prefetch)
    assert isinstance(placeholder, QMainWindow)
    if placeholder.list_at_hand(LIST_WAIT_S):  # type: ignore[attr-defined]
        # The key came at once (or none is needed): one first paint with the list in it,
        # not an empty frame and the list a paint later.
        placeholder.show_cases()  # type: ignore[attr-defined]
        placeholder.show()
        QApplication.processEvents()
        placeholder.repaint()
    else:
        placeholder.show()
        QApplication.processEvents()
        placeholder.repaint()  # the frame, while the keychain answers
        if placeholder.show_cases():  # type: ignore[attr-defined]
            QApplication.processEvents()
            placeholder.repaint()  # the first rows, before the data layer loads
    try:
        from desktop.ui.main_window import MainWindow  # the heavy imports happen here
        from desktop.workspace import Workspace

        fetched = prefetch.result(HELPER_WAIT_S)[1] if prefetch is not None else None
        workspace = open_with_passphrase(lambda phrase: Workspace.open(
            data_dir, profile, passphrase=phrase,
            known_key=fetched.data if fetched is not None else None))
        try:
            window = MainWindow(workspace)
        except BaseException:
            workspace.close()
            raise
        window.show()
        placeholder.close()  # gone before the lock takes stock of the windows it hides
        if workspace.keys is not None and not workspace.unlock_secret_set():
            # The person who just opened it chooses the PIN or passphrase that unlocks it,
            # before the window first locks for want of input.
            window.lock.lock()
        return window, workspace
    finally:
        placeholder.close()
        placeholder.deleteLater()


def open_with_passphrase(opening: Any, ask: Any = None) -> Any:
    """Open the data folder, asking for its passphrase where no keychain holds its key (or
    for a new one, the first time); three wrong tries end it."""
    from desktop.folder_key import FolderKeyError, KeyProblem

    ask = ask or ask_passphrase
    phrase: str | None = None
    for attempt in range(4):
        try:
            return opening(phrase)
        except FolderKeyError as exc:
            if exc.problem not in (KeyProblem.PASSPHRASE_NEEDED, KeyProblem.WRONG_PASSPHRASE,
                                   KeyProblem.NEW_PASSPHRASE_NEEDED) or attempt == 3:
                raise
            phrase = ask(exc.problem)
            if phrase is None:
                raise
    raise AssertionError("unreachable")


def ask_passphrase(problem: str) -> str | None:
    from PySide6.QtWidgets import QInputDialog, QLineEdit

    from desktop.folder_key import KeyProblem

    new = problem == KeyProblem.NEW_PASSPHRASE_NEEDED
    text = ("This computer has no keychain, so Case Desk's data is protected by a passphrase "
            "you choose now (8 characters or more). Without it the data cannot be opened."
            if new else "The passphrase of this Case Desk profile:")
    if problem == KeyProblem.WRONG_PASSPHRASE:
        text = "That was not the passphrase. " + text
    phrase, ok = QInputDialog.getText(None, "Case Desk — passphrase", text,
                                      QLineEdit.EchoMode.Password)
    if not ok:
        return None
    if new:
        again, ok = QInputDialog.getText(None, "Case Desk — passphrase",
                                         "The same passphrase again:", QLineEdit.EchoMode.Password)
        if not ok or again != phrase:
            return None
    return phrase


def run(data_dir: str | Path | None = None, profile: str | None = None,
        prefetch: KeyPrefetch | None = None) -> int:
    """Open the window; returns the exit code of the event loop (1 if the cache cannot open)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = make_application()
    assert isinstance(app, QApplication)
    install_excepthook()
    try:
        window, workspace = start(data_dir, profile, prefetch)
    except CaseDeskError as exc:
        from desktop.ui.operations import user_message

        QMessageBox.critical(None, "Case Desk", user_message(exc))
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
        if window.remove_copy_on_close:
            from desktop import local_copy

            local_copy.remove(workspace.folder)  # type: ignore[attr-defined]
