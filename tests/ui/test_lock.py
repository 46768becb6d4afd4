"""Ctrl+L and an idle timeout hide every patient detail behind a lock screen; unlocking needs
the profile's PIN or passphrase (slowed after wrong tries); a sync goes on while locked and
unsaved edits survive."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget

from desktop.ui.lock import IDLE_KEY, LOCKED_TITLE
from desktop.ui.main_window import MainWindow
from desktop.ui.settings import app_settings
from desktop.workspace import Workspace
from tests.signin import sign_in

from .conftest import select_case, settle

NAME = "Griselda Montgomery-Obi"
PIN = "482913"


def visible_texts(window: MainWindow) -> list[str]:
    """Every text a person could read: visible windows, labels, fields and the title."""
    texts = [w.windowTitle() for w in QApplication.topLevelWidgets() if w.isVisible()]
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or widget.visibleRegion().isEmpty():
            continue
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        elif isinstance(widget, QLineEdit):
            texts.append(widget.text())
    return texts


def lock_by_keys(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.keyClick(window.table, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.lock.locked, timeout=3000)


def unlock(qtbot, window: MainWindow, secret: str) -> None:
    screen = window.lock.screen
    screen.secret.setText(secret)
    screen.button.click()


def test_ctrl_l_hides_every_patient_detail_and_the_pin_unlocks(
        qtbot, make_window, ws: Workspace) -> None:
    case = ws.create_case(NAME, 58, "female", case_summary="seen on Tuesday")
    ws.set_unlock_secret(PIN)
    window: MainWindow = make_window()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    window.case_view.form.notes.setPlainText("typed, not saved yet")  # an unsaved edit
    assert NAME in window.windowTitle()
    lock_by_keys(qtbot, window)
    screen = window.lock.screen
    assert window.windowTitle() == LOCKED_TITLE
    assert screen.isVisible() and screen.geometry() == window.rect()
    assert not any(NAME in t for t in visible_texts(window))
    # Nothing behind it takes input: no shortcut, no key.
    qtbot.keyClick(window.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.case_view.form.notes, Qt.Key.Key_X)
    QApplication.processEvents()
    assert window.case_view.form.notes.toPlainText() == "typed, not saved yet"
    unlock(qtbot, window, "000000")
    qtbot.waitUntil(lambda: "not the PIN" in screen.note.text(), timeout=5000)
    assert window.lock.locked
    unlock(qtbot, window, PIN)
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    assert NAME in window.windowTitle() and not screen.isVisible()
    assert window.case_view.form.notes.toPlainText() == "typed, not saved yet"
    assert window.case_view.dirty
    window.case_view.discard()
    settle(qtbot, window)


def test_wrong_tries_are_slowed(qtbot, make_window, ws: Workspace) -> None:
    ws.set_unlock_secret(PIN)
    window: MainWindow = make_window()
    settle(qtbot, window)
    window.lock.lock()
    screen = window.lock.screen
    for n in range(3):
        unlock(qtbot, window, f"11111{n}")
        qtbot.waitUntil(lambda: screen.button.isEnabled() and bool(screen.note.text()),
                        timeout=5000)
        screen.note.clear()
    unlock(qtbot, window, "111119")
    qtbot.waitUntil(lambda: "wait" in screen.note.text(), timeout=5000)
    unlock(qtbot, window, PIN)  # even the right one waits its turn
    qtbot.waitUntil(lambda: "Too many wrong tries" in screen.note.text(), timeout=5000)
    assert window.lock.locked


def test_idle_timeout_locks_and_other_windows_are_hidden(qtbot, make_window,
                                                         ws: Workspace) -> None:
    ws.set_unlock_secret(PIN)
    app_settings().setValue(IDLE_KEY, 0.005)  # 0.3 s
    window: MainWindow = make_window()
    settle(qtbot, window)
    other = QWidget()
    other.setWindowTitle(f"{NAME} — lab.pdf")
    other.show()
    qtbot.waitUntil(lambda: window.lock.locked, timeout=5000)
    assert not other.isVisible() and window.windowTitle() == LOCKED_TITLE
    unlock(qtbot, window, PIN)
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    assert other.isVisible()
    other.close()
    app_settings().setValue(IDLE_KEY, 0)


def test_without_a_pin_yet_the_lock_screen_has_one_chosen(qtbot, make_window,
                                                          ws: Workspace) -> None:
    window: MainWindow = make_window()
    settle(qtbot, window)
    window.lock.lock()
    screen = window.lock.screen
    assert screen.choosing and screen.again.isVisible()
    screen.secret.setText("12")
    screen.again.setText("12")
    screen.button.click()
    qtbot.waitUntil(lambda: "4 digits" in screen.note.text() or "at least" in screen.note.text(),
                    timeout=5000)
    screen.secret.setText(PIN)
    screen.again.setText(PIN)
    screen.button.click()
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    assert ws.unlock_secret_set()


def test_a_sync_goes_on_while_locked(qtbot, make_window, ws: Workspace, reference_server,
                                     memory_keyring) -> None:
    ws.set_unlock_secret(PIN)
    sign_in(ws, reference_server.url, verify=False)
    ws.create_case(NAME, 58, "female")
    window: MainWindow = make_window()
    controller = window.sync_panel.controller
    controller.load_profile()
    qtbot.waitUntil(lambda: controller.configured, timeout=5000)
    settle(qtbot, window)
    window.lock.lock()
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.sync(manual=True)
    assert window.lock.locked
    assert [c["patient_name"] for c in reference_server.cases("doctor-1")] == [NAME]
    unlock(qtbot, window, PIN)
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    settle(qtbot, window)


def test_the_lock_screen_shows_its_whole_explanation(qtbot, make_window, ws: Workspace) -> None:
    """The wrapped hint under the title gets the height its text needs at its width (a
    centred box with only a maximum width gave it one line's height: the text overlapped
    and was cut off)."""
    ws.set_unlock_secret(PIN)
    window: MainWindow = make_window()
    window.resize(1280, 800)
    settle(qtbot, window)
    lock_by_keys(qtbot, window)
    screen = window.lock.screen
    QApplication.processEvents()
    for label in (screen.hint, screen.title):
        assert label.text()
        assert label.height() >= label.heightForWidth(label.width()), label.text()


def test_the_pin_typed_at_the_keyboard_reaches_the_lock_screen(
        qtbot, make_window, ws: Workspace) -> None:
    """Keys from a real display reach the window (its QWindow) before the focused field; the
    lock lets them through to the lock screen's own field (a filter that swallowed them locked
    the person out: nothing they typed appeared)."""
    from PySide6.QtTest import QTest

    ws.set_unlock_secret(PIN)
    window: MainWindow = make_window()
    settle(qtbot, window)
    lock_by_keys(qtbot, window)
    screen = window.lock.screen
    handle = window.windowHandle()
    assert handle is not None and screen.secret.hasFocus()
    for digit in PIN:
        QTest.keyClick(handle, Qt.Key(ord(digit)), Qt.KeyboardModifier.NoModifier)
    assert screen.secret.text() == PIN
    QTest.keyClick(handle, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    # Locked again, keys through the window still reach nothing behind the lock screen.
    lock_by_keys(qtbot, window)
    QTest.keyClick(handle, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    assert window.lock.locked and not any(
        w.isVisible() and w.windowTitle().startswith("New case")
        for w in QApplication.topLevelWidgets())


def test_a_window_deleted_while_locked_is_not_brought_back(qtbot, make_window,
                                                           ws: Workspace) -> None:
    """A window the lock hid and that went away meanwhile (a finished operation's dialog)
    is skipped at the unlock, which completes: the idle lock runs again."""
    import shiboken6
    from PySide6.QtWidgets import QDialog

    ws.set_unlock_secret(PIN)
    window: MainWindow = make_window()
    settle(qtbot, window)
    dialog = QDialog()
    dialog.setWindowTitle("A document window")
    dialog.show()
    lock_by_keys(qtbot, window)
    assert not dialog.isVisible()
    shiboken6.delete(dialog)
    unlock(qtbot, window, PIN)
    qtbot.waitUntil(lambda: not window.lock.locked, timeout=5000)
    assert window.lock.timer.isActive() and not window.lock.screen.isVisible()
