"""Keyboard all the way: Tab moves between the window's controls and leaves the lists, the menu
bar lists every action with its shortcut, and every sort order is reachable from the keys."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from desktop.ui.main_window import MainWindow
from desktop.ui.menus import MENU_TITLES
from desktop.ui.sample_files import write_pdf
from desktop.ui.shortcuts import menu_actions, plain
from desktop.workspace import Workspace

from .conftest import select_case, settle


def name_of(widget: QWidget | None) -> str:
    if widget is None:
        return "<none>"
    return widget.accessibleName() or type(widget).__name__


def cases(qtbot, window: MainWindow, ws: Workspace, n: int = 3) -> list[str]:
    ids = [ws.create_case(f"Patient {i:02}", 30 + i, "female", f"note {i}").id for i in range(n)]
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    return ids


def focus_walk(qtbot, start: QWidget, steps: int, key: Qt.Key = Qt.Key.Key_Tab) -> list[QWidget]:
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=5000)
    seen = [start]
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), key)
        seen.append(QApplication.focusWidget())
    return seen


def test_tab_order_of_the_main_window(qtbot, window: MainWindow, ws: Workspace) -> None:
    ids = cases(qtbot, window, ws)
    window.activateWindow()
    # No case open: search, filter, list, and round again.
    seen = focus_walk(qtbot, window.list_panel.search, 3)
    assert [name_of(w) for w in seen] == ["Search cases", "Status filter", "Cases",
                                          "Search cases"]
    select_case(qtbot, window, ids[1])
    window.case_view.form.notes.setPlainText("edited")  # Save and Discard are enabled now
    expected = window.tab_chain()
    assert [name_of(w) for w in expected] == [
        "Search cases", "Status filter", "Cases", "Case sections", "Patient name", "Age",
        "Status", "Notes", "Save case", "Discard changes", "Archive case"]
    seen = focus_walk(qtbot, window.list_panel.search, len(expected))
    assert [name_of(w) for w in seen] == [name_of(w) for w in expected + [expected[0]]]
    back = focus_walk(qtbot, window.list_panel.search, 2, Qt.Key.Key_Backtab)
    assert [name_of(w) for w in back] == ["Search cases", "Archive case", "Discard changes"]
    window.case_view.discard()
    clean = [name_of(w) for w in window.tab_chain()]
    assert "Save case" not in clean  # disabled until something changes: Tab passes it by
    seen = focus_walk(qtbot, window.list_panel.search, len(clean))
    assert [name_of(w) for w in seen] == clean + ["Search cases"]


def test_tab_leaves_the_case_list_and_never_opens_the_next_case(
        qtbot, window: MainWindow, ws: Workspace) -> None:
    ids = cases(qtbot, window, ws)
    select_case(qtbot, window, ids[1])  # the middle row
    window.activateWindow()
    window.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.table, timeout=5000)
    opened = window.case_view.case_id
    for _ in range(8):  # once walked cell by cell, then into the next patient
        if QApplication.focusWidget() is not window.table:
            break
        qtbot.keyClick(window.table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not window.table
    assert window.case_view.case_id == opened
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Down)  # arrows still move inside the list
    qtbot.waitUntil(lambda: window.case_view.case_id != opened, timeout=5000)
    settle(qtbot, window)


def test_tab_leaves_the_documents_table(qtbot, window: MainWindow, ws: Workspace,
                                        tmp_path: Path) -> None:
    [case_id] = cases(qtbot, window, ws, 1)
    ws.attach(case_id, [write_pdf(tmp_path / "a.pdf"), write_pdf(tmp_path / "b.pdf", pages=1)])
    select_case(qtbot, window, case_id)
    docs = window.case_view.documents
    window.case_view.tabs.setCurrentWidget(docs)
    qtbot.waitUntil(lambda: docs.model.rowCount() == 2, timeout=5000)
    window.activateWindow()
    docs.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is docs.table, timeout=5000)
    qtbot.keyClick(docs.table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not docs.table
    settle(qtbot, window)


def all_window_actions(window: MainWindow) -> list[QAction]:
    return [a for a in window.actions() if not a.isSeparator() and a.text()]


def test_the_menu_bar_lists_every_action_with_its_shortcut(qtbot, window: MainWindow) -> None:
    titles = [plain(a.text()) for a in window.menuBar().actions()]
    assert titles == [plain(t) for t in MENU_TITLES] == ["File", "Edit", "View", "Case",
                                                         "Sync", "Help"]
    in_menus = {id(act) for _path, act in menu_actions(window.menuBar())}
    missing = [a.text() for a in all_window_actions(window) if id(a) not in in_menus]
    assert missing == []
    toolbar = [a for a in window.toolbar.actions() if a.text() and not a.isSeparator()]
    assert toolbar and all(id(a) in in_menus for a in toolbar)  # the toolbar, by keyboard
    # Every action a shortcut calls is shown with it in its menu; letters are unique per menu.
    for title_action in window.menuBar().actions():
        menu = title_action.menu()
        assert isinstance(menu, QMenu)
        letters = [plain_letter(a.text()) for a in menu.actions() if a.text()]
        assert len(letters) == len(set(letters)), (title_action.text(), letters)
    paths = {plain(act.text()): (path, act.shortcut().toString())
             for path, act in menu_actions(window.menuBar())}
    assert paths["New case…"] == ("File", "Ctrl+N")
    assert paths["Save"] == ("File", "Ctrl+S")
    assert paths["Sync now"] == ("Sync", "F5")
    assert paths["Conflicts…"] == ("Sync", "Ctrl+Shift+K")
    assert paths["Find cases"] == ("Edit", "Ctrl+F")
    assert paths["Keyboard shortcuts"][0] == "Help"
    assert paths["Age"][0] == "View › Sort by"


def plain_letter(text: str) -> str:
    index = text.replace("&&", "").find("&")
    return text.replace("&&", "")[index + 1].lower() if index >= 0 else f"<none:{text}>"


def test_every_sort_order_is_reachable_from_the_keys(qtbot, window: MainWindow,
                                                     ws: Workspace) -> None:
    cases(qtbot, window, ws)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    view_menu = window.menus["&View"]

    def choose(*keys: Qt.Key) -> None:
        """Alt+V, then the underlined letters: as a person would, menu by menu."""
        qtbot.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)
        qtbot.waitUntil(view_menu.isVisible, timeout=5000)
        for key in keys:
            popup = QApplication.activePopupWidget()
            assert popup is not None
            qtbot.keyClick(popup, key)
        qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None, timeout=5000)

    for letter, key in ((Qt.Key.Key_A, "age"), (Qt.Key.Key_P, "name"), (Qt.Key.Key_G, "gender"),
                        (Qt.Key.Key_S, "status"), (Qt.Key.Key_Y, "sync"),
                        (Qt.Key.Key_U, "updated")):
        choose(Qt.Key.Key_B, letter)  # View › Sort by › …
        qtbot.waitUntil(lambda k=key: window.model.query.sort == k, timeout=5000)
    choose(Qt.Key.Key_R, Qt.Key.Key_A)  # View › Sort order › Ascending
    qtbot.waitUntil(lambda: not window.model.query.descending, timeout=5000)
    assert window.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    choose(Qt.Key.Key_R, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: window.model.query.descending, timeout=5000)
    settle(qtbot, window)


def test_shortcuts_dialog_lists_the_menus(qtbot, window: MainWindow) -> None:
    window.shortcuts_action.trigger()
    from desktop.ui.shortcuts import ShortcutsDialog

    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, ShortcutsDialog) and w.isVisible())
    text = dialog.browser.toPlainText()
    assert "Sync now" in text and "F5" in text and "Sort by" in text
    dialog.reject()


def test_tab_into_the_list_then_down_opens_the_first_case(qtbot, window: MainWindow,
                                                          ws: Workspace) -> None:
    cases(qtbot, window, ws)
    window.activateWindow()
    window.list_panel.status_filter.setFocus()
    qtbot.keyClick(window.list_panel.status_filter, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.table
    assert window.case_view.case_id is None  # arriving in the list opens nobody
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    first = window.model.case_id(0)
    qtbot.waitUntil(lambda: window.case_view.case_id == first, timeout=5000)
    settle(qtbot, window)


def test_ctrl_1_to_4_show_each_section_with_the_focus_in_it(qtbot, window: MainWindow,
                                                           ws: Workspace) -> None:
    [case_id] = cases(qtbot, window, ws, 1)
    window.activateWindow()
    select_case(qtbot, window, case_id)
    expected = ["Patient name", "Documents of this case", "AI insights",
                "Values not kept in conflicts"]
    for n, name in enumerate(expected, start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + n), Qt.KeyboardModifier.ControlModifier)
        assert window.case_view.tabs.currentIndex() == n - 1
        assert name_of(QApplication.focusWidget()) == name
