"""Every focusable control has an accessible name that says what it is, not its value: walked
through the main window (each tab, each kind of document) and every dialog.

Names are read the way a screen reader gets them, through Qt's accessibility interface. On
Linux Qt names a combo box by its current value, so there the name must come from a label
tied to it (a buddy: the "labelled by" relation screen readers use)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget

from desktop.models.tables import Case, Conflict
from desktop.ui.cases.new_case_dialog import NewCaseDialog
from desktop.ui.dialogs import ask_discard
from desktop.ui.documents.attach_results import AttachResultsDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_dicom, write_pdf, write_png
from desktop.ui.shortcuts import ShortcutsDialog
from desktop.ui.sync.conflicts_dialog import ConflictsDialog
from desktop.ui.sync.merge_dialog import MergeDialog
from desktop.ui.sync.sign_in_dialog import SignInDialog
from desktop.workspace import Workspace
from tools.sample_data import INSIGHTS

from .conftest import select_case, settle


def what_it_is(widget: QWidget) -> str:
    """The name a screen reader announces for the widget, or "" if it has none worth it."""
    iface = QAccessible.queryAccessibleInterface(widget)
    assert iface is not None and iface.isValid()
    name = iface.text(QAccessible.Text.Name).strip()
    value = iface.text(QAccessible.Text.Value).strip()
    labels = [other.text(QAccessible.Text.Name).strip().rstrip(":")
              for other, _flag in iface.relations(QAccessible.RelationFlag.Label)]
    labels = [text.replace("&", "") for text in labels if text and text != value]
    if name and (name != value or not value):
        return name
    return labels[0] if labels else ""


def unnamed(top: QWidget) -> list[str]:
    """Focusable, visible controls with no name, or only their value for a name."""
    QApplication.processEvents()
    found = []
    for widget in [top, *top.findChildren(QWidget)]:
        if widget.focusPolicy() == widget.focusPolicy().NoFocus or not widget.isVisible():
            continue
        if widget.focusProxy() is not None:
            continue  # its proxy is the control (a tab widget's tab bar, say)
        if widget.isWindow() and isinstance(widget, QDialog | MainWindow):
            continue  # the window itself: named by its title
        if not what_it_is(widget):
            found.append(f"{type(widget).__name__} {widget.objectName()!r} in "
                         f"{type(widget.parentWidget()).__name__}")
    return found


def test_every_control_of_the_main_window_is_named(qtbot, window: MainWindow, ws: Workspace,
                                                   tmp_path: Path) -> None:
    assert unnamed(window) == []  # no case open
    case = ws.create_case("Amara Okafor", 47, "female", "cough")
    ws.attach(case.id, [write_pdf(tmp_path / "labs.pdf"), write_dicom(tmp_path / "ct.dcm",
                                                                        frames=3),
                        write_png(tmp_path / "hand.png")])
    with ws.transaction() as session:
        row = session.get(Case, case.id)
        assert row is not None
        row.ai_insights = INSIGHTS
    window.model.refresh()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    view = window.case_view
    for tab in range(view.tabs.count()):
        view.tabs.setCurrentIndex(tab)
        assert unnamed(window) == [], view.tabs.tabText(tab)
    view.tabs.setCurrentWidget(view.documents)
    qtbot.waitUntil(lambda: view.documents.model.rowCount() == 3, timeout=5000)
    for row_number, kind in ((0, "pdf"), (1, "dicom"), (2, "image")):
        with qtbot.waitSignal(window.preview.rendered, timeout=10000):
            view.documents.table.selectRow(row_number)
        assert window.preview.kind == kind
        assert unnamed(window) == [], kind
    window.preview.window_action.trigger()
    [own] = window.preview.windows
    assert unnamed(own) == []
    own.close()
    settle(qtbot, window)


def test_the_status_filter_is_named_by_its_label_not_its_value(window: MainWindow) -> None:
    combo = window.list_panel.status_filter
    assert what_it_is(combo) == "Show"
    assert QAccessible.queryAccessibleInterface(combo).text(QAccessible.Text.Value) == \
        "All active"


def test_every_dialog_is_named(qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    new_case = NewCaseDialog(window, "No case is open.")
    sign_in = SignInDialog(ws, window.runner, window)
    shortcuts = ShortcutsDialog(window.menuBar(), window)
    case = ws.create_case("Amara Okafor", 47, "female", "cough")
    results = AttachResultsDialog(ws.attach(case.id, [write_png(tmp_path / "a.png"),
                                                      tmp_path / "missing.pdf"]),
                                  "Amara Okafor", parent=window)
    with ws.transaction() as session:
        session.add(Conflict(case_id=case.id, field="case_summary", base_value="cough",
                             local_value="cough, fever", server_value="cough resolving",
                             server_changed_at="2026-11-20T14:05:00Z"))
    conflicts = ConflictsDialog(ws, window.runner, window)
    qtbot.waitUntil(lambda: conflicts.model.rowCount() == 1, timeout=5000)
    merge = MergeDialog(ws.conflicts()[0], window)
    for dialog in (new_case, sign_in, shortcuts, results, conflicts, merge):
        dialog.show()
        assert unnamed(dialog) == [], type(dialog).__name__
        dialog.done(0)  # closed as it is, without asking about anything typed
    for kind in range(sign_in.kind.count()):  # each server kind's fields
        sign_in.kind.setCurrentIndex(kind)
        sign_in.show()
        assert unnamed(sign_in) == []
        sign_in.hide()
    settle(qtbot, window)


def test_the_question_boxes_are_named(qtbot, window: MainWindow, ws: Workspace) -> None:
    seen: list[list[str]] = []

    def inspect_and_close() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(unnamed(box))
        box.reject()

    case = ws.create_case("Amara Okafor", 47, "female")
    window.model.refresh()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    for ask in (lambda: MainWindow.ask_unsaved(window), lambda: MainWindow.ask_archive(
            window, "Amara Okafor"), lambda: ask_discard(window, "this new case")):
        QTimer.singleShot(0, inspect_and_close)
        ask()
    assert seen == [[], [], []]
