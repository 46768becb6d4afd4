"""One honest status vocabulary, the same in the toolbar and the status bar: a test per state
(no server, offline, online, syncing, sign-in needed, signed in for this session only), the
words around them (saved, pending), Sign out, and no command lines anywhere in the window."""

from __future__ import annotations

import re

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from desktop.sync import credentials
from desktop.ui.main_window import MainWindow
from desktop.ui.sync.sign_in_dialog import SignInDialog
from desktop.ui.wording import CONNECTION_TEXT
from desktop.workspace import Workspace
from tests.signin import sign_in

from ..conftest import select_case, settle

COMMAND = re.compile(r"casedesk (login|logout|sync|pending|conflicts|resolve|retry|discard|"
                     r"cases|attach)\b|(^|\s)--[a-z]|CASEDESK_")


def words(window: MainWindow) -> tuple[str, str]:
    panel = window.sync_panel
    return panel.online_label.text(), panel.last_label.text()


def assert_state(window: MainWindow, state: str) -> None:
    toolbar, status_bar = words(window)
    assert toolbar == CONNECTION_TEXT[state], (toolbar, status_bar)
    assert status_bar.split(" · ")[0].split(" — ")[0] == CONNECTION_TEXT[state], status_bar
    assert_no_command_lines(window)


def assert_no_command_lines(*widgets: QWidget) -> None:
    texts = []
    for top in widgets:
        for label in top.findChildren(QLabel):
            texts += [label.text(), label.toolTip()]
    texts += [w.windowTitle() for w in widgets]
    offenders = [t for t in texts if COMMAND.search(t)]
    assert offenders == []


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.sync_panel.controller.running, timeout=20000)
    settle(qtbot, window)


def dialogs(kind: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


@pytest.fixture
def no_keychain(monkeypatch):
    """A computer without a keychain (the keychain is the one thing tests may replace)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.delenv(credentials.ENV_TOKEN, raising=False)
    yield
    keyring.set_keyring(previous)


def test_no_server(qtbot, window: MainWindow, ws: Workspace) -> None:
    assert_state(window, "no-server")
    assert window.sync_panel.pending_label.isHidden()  # nothing "synced", nothing "waiting"
    case = ws.create_case("Amara Okafor", 47, "female")
    window.model.refresh()
    window.sync_panel.refresh_counts()
    settle(qtbot, window)
    assert window.sync_panel.pending_label.text() == "1 change on this computer only"
    select_case(qtbot, window, case.id)
    window.case_view.form.notes.setPlainText("seen")
    window.save()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Saved on this computer.",
                    timeout=5000)
    settle(qtbot, window)
    assert not window.sync_panel.sign_out_action.isEnabled()


def test_online(qtbot, make_window, ws: Workspace, reference_server, memory_keyring) -> None:
    sign_in(ws, reference_server.url)
    window = make_window()
    wait_idle(qtbot, window)  # signed in: it syncs at start, not a minute later
    assert_state(window, "online")
    assert words(window)[1].startswith("Online · last synced")
    assert window.sync_panel.pending_label.text() == "All changes synced"
    case = ws.create_case("Amara Okafor", 47, "female")
    window.model.refresh()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    window.case_view.form.notes.setPlainText("seen")
    window.save()
    qtbot.waitUntil(lambda: "goes to the server in a few seconds"
                    in window.statusBar().currentMessage(), timeout=5000)
    window.sync_panel.controller._push.stop()
    wait_idle(qtbot, window)


def test_offline(qtbot, make_window, ws: Workspace, memory_keyring) -> None:
    sign_in(ws, "http://127.0.0.1:9", verify=False)  # nothing listens there
    window = make_window()
    wait_idle(qtbot, window)
    assert_state(window, "offline")
    assert words(window)[1] == "Offline · not synced yet"
    assert window.sync_panel.pending_label.text() == "Nothing waiting to sync"


def test_syncing(qtbot, make_window, ws: Workspace, reference_server, memory_keyring) -> None:
    sign_in(ws, reference_server.url)
    reference_server.delay(1.5, path="/cases/all_cases", n=1)
    window = make_window(wait=False)
    qtbot.waitUntil(lambda: window.sync_panel.controller.state == "syncing", timeout=10000)
    assert_state(window, "syncing")
    assert window.sync_panel.progress.isVisible()
    wait_idle(qtbot, window)
    assert_state(window, "online")


def test_sign_in_needed_after_a_restart_without_a_keychain(
        qtbot, make_window, ws: Workspace, reference_server, no_keychain) -> None:
    """Never a green "Online" that F5 then contradicts: no sign-in kept, so it says so."""
    sign_in(ws, reference_server.url)  # no keychain: the token was not kept
    reference_server.clear_requests()
    window = make_window()
    assert_state(window, "sign-in")
    assert reference_server.requests() == []  # it did not try to sync without a sign-in
    window.sync_panel.sync_action.trigger()  # F5 offers the sign-in, in the window's words
    qtbot.waitUntil(lambda: len(dialogs(SignInDialog)) == 1, timeout=5000)
    dialog = dialogs(SignInDialog)[0]
    assert "keychain" in dialog.note.text()
    assert_no_command_lines(window, dialog)
    dialog.reject()


def test_signed_in_for_this_session_only(qtbot, make_window, ws: Workspace, reference_server,
                                         no_keychain) -> None:
    sign_in(ws, reference_server.url)
    window = make_window(wait=False)
    qtbot.waitUntil(lambda: window.sync_panel.controller.state == "sign-in", timeout=5000)
    window.sync_panel.sync_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs(SignInDialog)) == 1, timeout=5000)
    dialog = dialogs(SignInDialog)[0]
    dialog.token.setText("token-doctor-1")
    dialog.submit()
    qtbot.waitUntil(lambda: not dialogs(SignInDialog), timeout=10000)
    wait_idle(qtbot, window)
    assert_state(window, "session")
    assert words(window)[1].startswith("Signed in for this session only · last synced")
    window.sync_panel.ask_sign_out = lambda _unsent: "keep"
    window.sync_panel.sign_out_action.trigger()
    qtbot.waitUntil(lambda: window.sync_panel.controller.state == "sign-in", timeout=5000)
    assert credentials.ENV_TOKEN not in __import__("os").environ


def test_sign_out_keeps_the_work(qtbot, make_window, ws: Workspace, reference_server,
                                 memory_keyring) -> None:
    sign_in(ws, reference_server.url)
    window = make_window()
    wait_idle(qtbot, window)
    ws.create_case("Queued Patient", 30, "male")
    assert "token-doctor-1" in memory_keyring.sign_ins().values()
    menu = window.menus["&Sync"]
    assert window.sync_panel.sign_out_action in menu.actions()
    window.sync_panel.ask_sign_out = lambda _unsent: "keep"
    window.sync_panel.sign_out_action.trigger()
    qtbot.waitUntil(lambda: window.sync_panel.controller.state == "sign-in", timeout=5000)
    settle(qtbot, window)
    assert_state(window, "sign-in")
    assert "token-doctor-1" not in memory_keyring.sign_ins().values()
    assert ws.pending_count() == 1 and reference_server.cases("doctor-1") == []
    assert "Signed out" in window.statusBar().currentMessage()
    assert not window.sync_panel.sign_out_action.isEnabled()


def test_the_conflicts_action_warns_only_when_there_are_some(qtbot, window: MainWindow) -> None:
    action = window.sync_panel.conflicts_action
    assert action.icon().isNull() and action.text() == "&Conflicts…"
    window.sync_panel._show_counts((0, 2))
    assert not action.icon().isNull() and action.text() == "&Conflicts (2)…"


def test_escape_on_the_sign_in_dialog_asks_before_losing_what_was_typed(
        qtbot, window: MainWindow, ws: Workspace) -> None:
    from PySide6.QtCore import Qt

    dialog = SignInDialog(ws, window.runner, window)
    qtbot.addWidget(dialog)
    dialog.show()
    asked: list[int] = []
    dialog.ask_discard = lambda: asked.append(1) or False  # type: ignore[method-assign]
    qtbot.keyClicks(dialog.server, "https://cases.example.org")
    qtbot.keyClick(dialog.server, Qt.Key.Key_Escape)
    assert asked == [1] and dialog.isVisible()
    dialog.ask_discard = lambda: True  # type: ignore[method-assign]
    qtbot.keyClick(dialog.server, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    title = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
    assert dialog.minimumWidth() >= title + 160  # a title bar never cuts it short


def test_sign_out_can_remove_this_computers_copy_after_listing_unsent_work(
        qtbot, make_window, ws: Workspace, reference_server, memory_keyring) -> None:
    from desktop import local_copy

    sign_in(ws, reference_server.url)
    window = make_window()
    wait_idle(qtbot, window)
    ws.create_case("Queued Patient", 30, "male")
    asked: list[list[str]] = []
    window.sync_panel.ask_sign_out = lambda unsent: asked.append(unsent) or "remove"
    window.sync_panel.sign_out_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10000)
    assert asked == [["New case: Queued Patient"]]
    assert window.remove_copy_on_close
    assert "token-doctor-1" not in memory_keyring.sign_ins().values()
    ws.close()
    local_copy.remove(ws.folder)  # what the app does once the workspace is closed
    assert not ws.folder.cache.exists() and not (ws.folder.root / "keys.json").exists()
