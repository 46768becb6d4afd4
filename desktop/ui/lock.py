"""Locking the window on a shared workstation: Ctrl+L, or no input for a while (10 minutes
unless set otherwise), hides every patient detail behind a lock screen until the profile's PIN
or passphrase is given.

What locking does, and what it leaves alone:

- The lock screen covers the whole main window (list, open case, previews, menus, status
  bar); the title becomes plain "Case Desk — locked"; every other window of the app (document
  windows, dialogs) is hidden and shown again on unlock, as it was.
- Input to anything but the lock screen is swallowed (keys, shortcuts, clicks, wheel, drops),
  so no menu or shortcut reaches patient data behind it.
- Nothing is closed or reset: unsaved edits stay in their fields, a sync in progress goes on
  (its status shows after unlock).
- The PIN or passphrase is checked with Argon2id in a worker (``folder_key``); after three
  wrong tries each further one waits twice as long as the last, counted on disk so a restart
  does not reset it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QWindow
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.settings import app_settings
from desktop.workspace import Workspace

log = logging.getLogger(__name__)

IDLE_KEY = "security/idleLockMinutes"
DEFAULT_IDLE_MINUTES = 10
LOCKED_TITLE = "Case Desk — locked"
LOCK_KEYS = "Ctrl+L"

_INPUT = {
    QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride,
    QEvent.Type.Shortcut, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick, QEvent.Type.Wheel, QEvent.Type.ContextMenu,
    QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop, QEvent.Type.TabletPress,
    QEvent.Type.TouchBegin,
}
_ACTIVITY = _INPUT | {QEvent.Type.MouseMove}


def idle_minutes() -> float:
    """The setting (``security/idleLockMinutes``); 0 turns the idle lock off."""
    value = app_settings().value(IDLE_KEY, DEFAULT_IDLE_MINUTES)
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return float(DEFAULT_IDLE_MINUTES)


class LockScreen(QWidget):
    """What shows while locked: no patient detail, one field for the PIN or passphrase."""

    unlock_requested = Signal(str)
    choose_requested = Signal(str, str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self.setAutoFillBackground(True)
        self.setAccessibleName("Case Desk is locked")
        self.title = QLabel("<h2>Case Desk is locked</h2>", self)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel(self)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.secret = QLineEdit(self)
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setAccessibleName("PIN or passphrase")
        self.again = QLineEdit(self)
        self.again.setEchoMode(QLineEdit.EchoMode.Password)
        self.again.setAccessibleName("The same again")
        self.button = QPushButton("&Unlock", self)
        self.button.setDefault(True)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Unlock message")
        form = QFormLayout()
        form.addRow("PIN or passphrase:", self.secret)
        self.again_label = QLabel("The same again:", self)
        form.addRow(self.again_label, self.again)
        box = QWidget(self)
        inner = QVBoxLayout(box)
        inner.addWidget(self.title)
        inner.addWidget(self.hint)
        inner.addLayout(form)
        inner.addWidget(self.button)
        inner.addWidget(self.note)
        # A fixed width: the wrapped labels are given the height their text needs at it.
        box.setFixedWidth(420)
        row = QHBoxLayout()  # centred by stretches: an aligned item loses height-for-width
        row.addStretch(1)
        row.addWidget(box)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        self.choosing = False
        self.button.clicked.connect(self._submit)
        self.secret.returnPressed.connect(self._submit)
        self.again.returnPressed.connect(self._submit)

    def prepare(self, choosing: bool) -> None:
        """*choosing*: no PIN or passphrase is set yet; the person sets one now."""
        self.choosing = choosing
        self.secret.clear()
        self.again.clear()
        self.note.clear()
        self.again.setVisible(choosing)
        self.again_label.setVisible(choosing)
        self.button.setText("&Set and unlock" if choosing else "&Unlock")
        self.title.setText("<h2>Protect Case Desk</h2>" if choosing
                           else "<h2>Case Desk is locked</h2>")
        self.hint.setText(
            "Choose a PIN (4 digits or more) or a passphrase (8 characters or more); it "
            "unlocks Case Desk from now on." if choosing else
            "Type this profile's PIN or passphrase. Your unsaved edits and any sync in "
            "progress are kept.")
        self.secret.setFocus()

    def busy(self, working: bool) -> None:
        self.button.setEnabled(not working)
        self.secret.setEnabled(not working)
        if not working:
            self.secret.setFocus()

    def _submit(self) -> None:
        if not self.button.isEnabled():
            return
        if self.choosing:
            self.choose_requested.emit(self.secret.text(), self.again.text())
        else:
            self.unlock_requested.emit(self.secret.text())


class LockController(QObject):
    """Locks and unlocks *window*; watches the whole application's input for idleness."""

    locked_changed = Signal(bool)

    def __init__(self, window: QMainWindow, workspace: Workspace,
                 runner: OperationRunner) -> None:
        super().__init__(window)
        self.window, self.ws, self.runner = window, workspace, runner
        self.locked = False
        self.screen = LockScreen(window)
        self.screen.hide()
        self.screen.unlock_requested.connect(self._try_unlock)
        self.screen.choose_requested.connect(self._choose)
        self._hidden: list[QWidget] = []
        self._title = ""
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.lock)
        self.restart_timer()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    # ------------------------------------------------------------ idleness

    def restart_timer(self) -> None:
        minutes = idle_minutes()
        if minutes <= 0:
            self.timer.stop()
            return
        self.timer.start(int(minutes * 60_000))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if not self.locked:
            if kind in _ACTIVITY and self.timer.isActive():
                self.timer.start()  # idle counts from the last input
            return False
        if kind == QEvent.Type.Resize and obj is self.window:
            self._cover()
        if kind not in _INPUT or isinstance(obj, QWindow):
            # A display's input reaches the window (its QWindow) first, and only then the
            # widget it is for, where it is judged: stopped here, nothing typed would reach
            # even the lock screen's own field.
            return False
        return not self._on_lock_screen(obj)

    def _on_lock_screen(self, obj: QObject) -> bool:
        while obj is not None:
            if obj is self.screen:
                return True
            obj = obj.parent()
        return False

    # ------------------------------------------------------------ locking

    def lock(self) -> None:
        if self.locked:
            return
        self.locked = True
        self.timer.stop()
        self._title = self.window.windowTitle()
        self.window.setWindowTitle(LOCKED_TITLE)
        self._hidden = [w for w in QApplication.topLevelWidgets()
                        if w is not self.window and w.isVisible()
                        and not w.inherits("QMenu")]
        for widget in self._hidden:
            widget.hide()
        for menu in self.window.findChildren(QWidget):
            if menu.inherits("QMenu") and menu.isVisible():
                menu.close()
        self.screen.prepare(choosing=not self.ws.unlock_secret_set())
        self._cover()
        self.screen.show()
        self.screen.raise_()
        self.screen.secret.setFocus()
        log.info("window locked")
        self.locked_changed.emit(True)

    def _cover(self) -> None:
        self.screen.setGeometry(self.window.rect())
        self.screen.raise_()

    def title_on_unlock(self, title: str) -> None:
        """The window's title changed while locked: kept for the unlock, not shown."""
        self._title = title

    def unlock(self) -> None:
        """Called once the PIN or passphrase was accepted."""
        if not self.locked:
            return
        self.locked = False
        self.screen.hide()
        self.screen.secret.clear()
        self.window.setWindowTitle(self._title)
        for widget in self._hidden:
            if shiboken6.isValid(widget):  # a window deleted while locked stays gone
                widget.show()
        self._hidden = []
        self.restart_timer()
        log.info("window unlocked")
        self.locked_changed.emit(False)

    def _try_unlock(self, secret: str) -> None:
        self._check(lambda: self.ws.check_unlock(secret))

    def _choose(self, secret: str, again: str) -> None:
        if secret != again:
            self.screen.note.setText("The two differ; type the same PIN or passphrase twice.")
            return
        self._check(lambda: self.ws.set_unlock_secret(secret))

    def _check(self, work: Callable[[], Any]) -> None:
        self.screen.busy(True)

        def done(_result: object) -> None:
            self.screen.busy(False)
            self.unlock()

        def failed(exc: BaseException) -> None:
            self.screen.busy(False)
            self.screen.secret.clear()
            self.screen.note.setText(user_message(exc))

        self.runner.run(work, success=done, failure=failed, lane="read")


def lock_shortcut() -> QKeySequence:
    return QKeySequence(LOCK_KEYS)
