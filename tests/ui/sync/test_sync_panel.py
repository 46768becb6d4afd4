"""Sync driven from the window against the reference server: sign-in, F5, push after save,
401 → sign-in, conflicts, Care360 sign-in."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from desktop.sync import runner
from desktop.sync.profile import current_server
from desktop.ui.changes import Changes
from desktop.ui.main_window import MainWindow
from desktop.ui.sync.conflicts_dialog import ConflictsDialog
from desktop.ui.sync.sign_in_dialog import SignInDialog
from desktop.workspace import Workspace
from tests import samples
from tests.server.care360_store import DEFAULT_API_KEY
from tests.signin import sign_in

from ..conftest import select_case, settle

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole


def dialogs(kind: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.sync_panel.controller.running, timeout=20000)
    settle(qtbot, window)


def test_no_server_is_a_calm_complete_mode(qtbot, window: MainWindow) -> None:
    settle(qtbot, window)
    assert window.sync_panel.online_label.text() == "No server"
    assert window.sync_panel.last_label.text().startswith("No server")
    window.sync_panel.sync_action.trigger()  # F5 without a server offers sign-in
    qtbot.waitUntil(lambda: len(dialogs(SignInDialog)) == 1, timeout=5000)
    dialogs(SignInDialog)[0].reject()
    qtbot.waitUntil(lambda: not dialogs(SignInDialog), timeout=5000)


def test_sign_in_dialog_then_sync_and_push_after_save(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    case = ws.create_case("Window Patient", 44, "female", "from the window")
    window.model.refresh()
    settle(qtbot, window)
    window.sync_panel.controller._push.setInterval(50)
    window.sync_panel.open_sign_in()
    dialog = dialogs(SignInDialog)[0]
    dialog.server.setText(reference_server.url)
    dialog.user.setText("doctor-1")
    dialog.token.setText("wrong-token")
    dialog.submit()
    qtbot.waitUntil(lambda: "did not accept" in dialog.error.text(), timeout=10000)
    dialog.token.setText("token-doctor-1")
    dialog.submit()
    qtbot.waitUntil(lambda: not dialogs(SignInDialog), timeout=10000)
    assert "token-doctor-1" in memory_keyring.sign_ins().values()
    # Signing in syncs at once; the worker reports back; the window shows the outcome.
    qtbot.waitUntil(lambda: len(reference_server.cases("doctor-1")) == 1, timeout=20000)
    wait_idle(qtbot, window)
    assert window.sync_panel.online_label.text() == "Online"
    assert window.sync_panel.last_label.text().startswith("Online · last synced")
    assert window.sync_panel.pending_label.text() == "All changes synced"
    # A save in the window is pushed shortly after, without pressing F5.
    select_case(qtbot, window, case.id)
    window.case_view.form.notes.setPlainText("edited in the window")
    window.save()
    server_id = ws.get_case(case.id).server_id
    qtbot.waitUntil(
        lambda: reference_server.case(server_id)["case"]["case_summary"] == "edited in the window",
        timeout=20000)
    wait_idle(qtbot, window)


def test_401_opens_sign_in_and_keeps_the_queue(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: window.sync_panel.controller.configured, timeout=5000)
    ws.create_case("Queued Patient", 30, "male")
    reference_server.unauthorized_next(1)
    window.sync_panel.sync_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs(SignInDialog)) == 1, timeout=20000)
    assert window.sync_panel.online_label.text() == "Sign-in needed"
    assert ws.pending_count() == 1 and reference_server.cases("doctor-1") == []
    dialogs(SignInDialog)[0].reject()
    wait_idle(qtbot, window)


def test_conflicts_dialog_keep_mine(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
    case = ws.create_case("Conflict Patient", 30, "male", "base")
    assert runner.run_sync(ws).ok
    server_id = ws.get_case(case.id).server_id
    reference_server.edit_case(server_id, case_summary="theirs")
    ws.edit_case(case.id, case_summary="mine")
    assert runner.run_sync(ws).conflicts == 1
    window.runner.changed.emit(Changes.everything(), None)  # as a finished sync announces
    settle(qtbot, window)
    assert "1 conflict" in window.sync_panel.pending_label.text()
    window.sync_panel.open_conflicts()
    dialog = dialogs(ConflictsDialog)[0]
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=5000)
    shown = [dialog.model.index(0, c).data() for c in range(5)]
    assert shown == ["Conflict Patient", "Notes", "base", "mine", "theirs"]
    assert dialog.model.index(0, 5).data() not in ("", "unknown")  # when the server wrote it
    dialog.mine.click()
    qtbot.waitUntil(lambda: "No conflicts left" in dialog.status.text(), timeout=5000)
    dialog.accept()
    qtbot.waitUntil(lambda: not dialogs(ConflictsDialog), timeout=5000)
    settle(qtbot, window)
    assert ws.conflicts() == []
    assert runner.run_sync(ws).ok
    assert reference_server.case(server_id)["case"]["case_summary"] == "mine"


def test_care360_sign_in_through_the_dialog(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    window.sync_panel.open_sign_in()
    dialog = dialogs(SignInDialog)[0]
    dialog.kind.setCurrentIndex(dialog.kind.findData("care360"))
    assert dialog.contact.isVisible() and not dialog.token.isVisible()
    dialog.server.setText(reference_server.url)
    dialog.contact.setText("dr@example.org")
    dialog.api_key.setText(DEFAULT_API_KEY)
    dialog.submit()  # no code requested yet
    assert "Send code" in dialog.error.text()
    dialog.request_code()
    qtbot.waitUntil(lambda: dialog.code.isEnabled(), timeout=10000)
    dialog.code.setText(reference_server.care360_otp("dr@example.org"))
    dialog.submit()
    qtbot.waitUntil(lambda: not dialogs(SignInDialog), timeout=10000)
    assert current_server(ws).kind == "care360"
    assert DEFAULT_API_KEY in memory_keyring.sign_ins().values()
    wait_idle(qtbot, window)


def test_the_open_case_says_when_its_file_list_was_last_checked(
    qtbot, make_window, ws: Workspace, reference_server, memory_keyring
) -> None:
    """Opening a case on the server reads its file list in the background; the case view
    then says when that was (before: that it was not checked yet)."""
    sign_in(ws, reference_server.url)
    case = ws.create_case("Checked Patient", 40, "female")
    assert runner.run_sync(ws).ok
    with ws.engine.begin() as conn:  # as a case pulled but not looked at yet
        conn.exec_driver_sql("UPDATE cases SET files_checked_at = NULL")
    unchecked = ws.get_case(case.id)  # read before the window's start-up sync checks it
    reference_server.add_file(unchecked.server_id, "elsewhere.pdf", PDF, "application/pdf")
    window = make_window()
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: window.sync_panel.controller.configured, timeout=5000)
    window.case_view.show_case(unchecked)
    assert "files not checked with the server yet" in window.case_view.sync_label.text()
    select_case(qtbot, window, case.id)
    qtbot.waitUntil(lambda: "files checked" in window.case_view.sync_label.text(),
                    timeout=10000)
    qtbot.waitUntil(lambda: window.case_view.documents.model.rowCount() == 1, timeout=10000)


def test_a_pull_counted_as_it_arrives_shows_a_busy_bar_and_the_count(
    qtbot, window: MainWindow
) -> None:
    from desktop.sync.report import Phase, SyncProgress

    messages: list[str] = []
    window.sync_panel.message.connect(lambda text, _timeout: messages.append(text))
    window.sync_panel._progress(SyncProgress(Phase.PULL, done=5000))
    bar = window.sync_panel.progress
    assert (bar.minimum(), bar.maximum()) == (0, 0)  # no end known: busy, not a stuck 0%
    assert messages[-1] == "Fetching the server's cases (5,000 read)"
