"""The case list panel in the window: it fits its panel, keeps the name in sight, and stays
where the person left it (a refresh keeps the scroll position; a new search or sort shows the
top of its results with the open case still selected)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.ui.cases.case_columns import COL_NAME, COL_STATUS, COL_SYNC
from desktop.ui.changes import Changes
from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tools.sample_data import bulk_insert

from ..conftest import select_case, settle


def at_1024(qtbot, window: MainWindow) -> None:
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5000)
    QApplication.processEvents()


def test_the_list_fits_its_panel_at_1024(qtbot, window: MainWindow, ws: Workspace) -> None:
    """Empty and full: no sideways scroll bar, every column on screen, the name readable."""
    at_1024(qtbot, window)
    table = window.table
    header = table.horizontalHeader()
    for filled in (False, True):
        if filled:
            bulk_insert(ws, 300)
            with qtbot.waitSignal(window.model.refreshed, timeout=10000):
                window.model.refresh()
            QApplication.processEvents()
        assert table.horizontalScrollBar().maximum() == 0, filled
        assert not table.horizontalScrollBar().isVisible()
        assert header.length() <= table.viewport().width()
        assert header.sectionSize(COL_NAME) >= 120
        last = header.sectionViewportPosition(COL_SYNC) + header.sectionSize(COL_SYNC)
        assert last <= table.viewport().width()  # the sync column is on screen
    # The sync column's short words fit whole: never "Waiting to s…".
    metrics = table.fontMetrics()
    for row in range(min(50, window.model.rowCount())):
        text = window.model.index(row, COL_SYNC).data()
        assert metrics.horizontalAdvance(text) + 16 + 12 <= header.sectionSize(COL_SYNC), text


def test_ctrl_end_and_end_keep_the_names_in_sight(qtbot, window: MainWindow,
                                                 ws: Workspace) -> None:
    at_1024(qtbot, window)
    window.splitter.setSizes([100, 924])  # as narrow as it goes: still every column
    assert window.table.horizontalScrollBar().maximum() == 0
    assert window.table.horizontalHeader().sectionSize(COL_NAME) >= 120
    window.table.horizontalHeader().resizeSection(COL_STATUS, 500)  # widened by hand
    qtbot.waitUntil(lambda: window.table.horizontalScrollBar().maximum() > 0, timeout=5000)
    bulk_insert(ws, 200)
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.case_view.case_id is not None, timeout=5000)
    assert window.table.horizontalScrollBar().value() == 0
    assert window.table.currentIndex().row() == window.model.rowCount() - 1
    qtbot.keyClick(window.table, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: window.table.currentIndex().row() == 0, timeout=5000)
    qtbot.keyClick(window.table, Qt.Key.Key_Right)
    qtbot.keyClick(window.table, Qt.Key.Key_End)
    assert window.table.horizontalScrollBar().value() == 0
    assert window.table.currentIndex().column() == COL_NAME
    settle(qtbot, window)


def scrolled(qtbot, window: MainWindow, ws: Workspace) -> list[str]:
    bulk_insert(ws, 400)
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    ids = list(window.model.ids)
    select_case(qtbot, window, ids[5])  # the open case, near the top
    window.table.verticalScrollBar().setValue(200)  # the person reads further down
    return ids


def test_a_refresh_keeps_the_list_where_it_was(qtbot, window: MainWindow, ws: Workspace) -> None:
    ids = scrolled(qtbot, window, ws)
    top = window.model.case_id(window.table.rowAt(0))
    # A save elsewhere moves a case to the top (newest first): the rows on screen stay put.
    ws.edit_case(ids[300], case_summary="edited on another tab")
    window.runner.changed.emit(Changes.everything(), None)  # as a finished sync announces
    settle(qtbot, window)
    assert window.model.ids[0] == ids[300]
    assert window.model.case_id(window.table.rowAt(0)) == top
    assert window.case_view.case_id == ids[5]
    assert window.table.currentIndex().row() == window.model.row_of(ids[5])


def test_a_new_search_or_sort_shows_the_top(qtbot, window: MainWindow, ws: Workspace) -> None:
    ids = scrolled(qtbot, window, ws)
    open_name = window.case_view.record.patient_name
    window.list_panel.search.setText(open_name.split()[0])  # the open case is among them
    qtbot.waitUntil(lambda: window.model.query.search is not None, timeout=5000)
    settle(qtbot, window)
    assert window.table.verticalScrollBar().value() == 0
    assert window.table.currentIndex().row() == window.model.row_of(ids[5])
    window.list_panel.search.clear()
    qtbot.waitUntil(lambda: window.model.query.search is None, timeout=5000)
    settle(qtbot, window)
    window.table.verticalScrollBar().setValue(150)
    window.table.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)  # a header click
    qtbot.waitUntil(lambda: window.model.query.sort == "name", timeout=5000)
    settle(qtbot, window)
    assert window.table.verticalScrollBar().value() == 0  # the top, not the open case's row
    assert window.case_view.case_id == ids[5]
    assert window.table.currentIndex().row() == window.model.row_of(ids[5])
