"""A server that asks to be left alone for an hour (Retry-After) is: the window's periodic
and after-save syncs wait until then; a person pressing Sync still may."""

from __future__ import annotations

from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tests.signin import sign_in

from ..conftest import settle


def test_periodic_sync_waits_as_long_as_the_server_asked(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    sign_in(ws, reference_server.url, verify=False)
    controller = window.sync_panel.controller
    controller.load_profile()
    qtbot.waitUntil(lambda: controller.configured, timeout=5000)
    reference_server.fail_next(n=50, status=503, retry_after=3600, path="/cases/all_cases")
    with qtbot.waitSignal(controller.finished, timeout=20000) as done:
        controller.sync(manual=True)
    assert done.args[0].retry_after == 3600
    assert "asked to be left alone for 60 min" in window.statusBar().currentMessage()
    reference_server.clear_requests()
    controller.sync(manual=False)  # the minute timer, or a save's push
    assert not controller.running
    settle(qtbot, window)
    assert reference_server.requests() == []
    with qtbot.waitSignal(controller.finished, timeout=20000):
        controller.sync(manual=True)  # a person may always ask
    assert reference_server.requests()
