"""The window and plain http://: the sign-in dialog asks for an explicit allowance (with a
warning of what crosses the network in clear), and the toolbar shows an unencrypted profile."""

from __future__ import annotations

from desktop.sync.profile import ServerProfile, current_server, save_profile
from desktop.ui.main_window import MainWindow
from desktop.ui.sync.sign_in_dialog import SignInDialog
from desktop.workspace import Workspace
from tests.signin import sign_in

from ..conftest import settle
from .test_sync_panel import dialogs


def test_sign_in_dialog_asks_before_plain_http_to_another_computer(
    qtbot, window: MainWindow, ws: Workspace, memory_keyring
) -> None:
    window.sync_panel.open_sign_in()
    dialog = dialogs(SignInDialog)[0]
    dialog.server.setText("https://records.clinic.example")
    assert dialog.allow_http.isHidden() and dialog.http_warning.isHidden()
    dialog.server.setText("http://127.0.0.1:8765")
    assert dialog.allow_http.isHidden()
    dialog.server.setText("http://records.clinic.example")
    assert not dialog.allow_http.isHidden() and not dialog.allow_http.isChecked()
    assert "cross the network in clear" in dialog.http_warning.text()
    assert "token" in dialog.http_warning.text() and "notes" in dialog.http_warning.text()
    dialog.user.setText("doctor-1")
    dialog.token.setText("token-doctor-1")
    dialog.submit()
    qtbot.waitUntil(lambda: "unencrypted" in dialog.error.text(), timeout=10000)
    assert current_server(ws) is None and not memory_keyring.sign_ins()
    dialog.ask_discard = lambda: True  # type: ignore[method-assign]  # the person confirms
    dialog.reject()
    qtbot.waitUntil(lambda: not dialogs(SignInDialog), timeout=5000)


def test_toolbar_shows_when_the_profile_is_unencrypted(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    label = window.sync_panel.plain_http_label
    settle(qtbot, window)
    assert label.text() == ""
    sign_in(ws, reference_server.url, verify=False)  # http://127.0.0.1:…: plain, but local
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: label.text() != "", timeout=5000)
    assert "Not encrypted" in label.text() and "unencrypted" in label.toolTip()
    assert label.isVisible()
    save_profile(ws, ServerProfile("medmitra", "https://records.clinic.example", "doctor-1"))
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: label.text() == "", timeout=5000)
