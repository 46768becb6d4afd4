"""The case list model: counts, filter, sort, sync state, lazy rows and refresh without reset."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.models.tables import Case
from desktop.ui.case_list_model import (
    CACHE_LIMIT,
    COL_AGE,
    COL_NAME,
    COL_STATUS,
    COL_SYNC,
    CaseListModel,
)
from desktop.ui.operations import OperationRunner
from desktop.ui.sample_data import bulk_insert
from desktop.workspace import CaseQuery, Workspace

from .conftest import settle


def names(model: CaseListModel) -> list[str]:
    return [model.data(model.index(r, COL_NAME)) for r in range(model.rowCount())]


def make_model(qtbot, ws: Workspace) -> tuple[CaseListModel, OperationRunner]:
    runner = OperationRunner()
    model = CaseListModel(ws, runner)
    with qtbot.waitSignal(model.refreshed, timeout=10000):
        model.refresh(reset=True)
    return model, runner


def requery(qtbot, model: CaseListModel, change) -> None:
    with qtbot.waitSignal(model.refreshed, timeout=10000):
        change()


def test_counts_filter_and_archived(qtbot, ws: Workspace) -> None:
    ws.create_case("Amara Okafor", 47, "female", "persistent cough")
    ws.create_case("Bruno Berger", 60, "male", "knee pain; see Okafor's note")
    ws.create_case("Chen Xu", 33, "male", status="completed")
    archived = ws.create_case("Dalia Rossi", 51, "female")
    ws.archive_case(archived.id)
    model, runner = make_model(qtbot, ws)
    try:
        assert model.rowCount() == 3 == ws.count_cases(CaseQuery())
        assert "Dalia Rossi" not in names(model)  # archived hidden unless asked

        requery(qtbot, model, lambda: model.set_search("okafor"))  # name or notes, any case
        assert sorted(names(model)) == ["Amara Okafor", "Bruno Berger"]

        requery(qtbot, model, lambda: model.set_search(""))
        requery(qtbot, model, lambda: model.set_status_filter("completed"))
        assert names(model) == ["Chen Xu"]

        requery(qtbot, model, lambda: model.set_status_filter("archived", True))
        assert names(model) == ["Dalia Rossi"]
        requery(qtbot, model, lambda: model.set_status_filter(None, True))
        assert model.rowCount() == 4
    finally:
        runner.shutdown()


def test_sort_in_sql(qtbot, ws: Workspace) -> None:
    for name, age in (("B", 40), ("A", 70), ("C", 5)):
        ws.create_case(name, age, "other")
    model, runner = make_model(qtbot, ws)
    try:
        requery(qtbot, model, lambda: model.sort(COL_AGE, Qt.SortOrder.AscendingOrder))
        assert [model.data(model.index(r, COL_AGE)) for r in range(3)] == ["5", "40", "70"]
        requery(qtbot, model, lambda: model.sort(COL_NAME, Qt.SortOrder.DescendingOrder))
        assert names(model) == ["C", "B", "A"]
        assert model.query.sort == "name" and model.query.descending
    finally:
        runner.shutdown()


def test_sync_state_column_icon_and_tooltip(qtbot, ws: Workspace) -> None:
    case = ws.create_case("Error Case", 30, "female")
    with ws.transaction() as session:
        row = session.get(Case, case.id)
        assert row is not None
        row.sync_state, row.sync_error = "error", "The server refused it: age must be an integer."
    ws.create_case("Pending Case", 31, "male")
    model, runner = make_model(qtbot, ws)
    try:
        by_name = {model.data(model.index(r, COL_NAME)): r for r in range(model.rowCount())}
        err = model.index(by_name["Error Case"], COL_SYNC)
        assert model.data(err) == "Sync error"
        assert "age must be an integer" in model.data(err, Qt.ItemDataRole.ToolTipRole)
        assert not model.data(err, Qt.ItemDataRole.DecorationRole).isNull()
        pending = model.index(by_name["Pending Case"], COL_SYNC)
        assert model.data(pending) == "Waiting to sync"
        assert "until the next sync" in model.data(pending, Qt.ItemDataRole.ToolTipRole)
    finally:
        runner.shutdown()


def test_rows_are_fetched_lazily_in_blocks(qtbot, ws: Workspace) -> None:
    bulk_insert(ws, CACHE_LIMIT + 2000)
    model, runner = make_model(qtbot, ws)
    try:
        assert model.rowCount() == ws.count_cases(CaseQuery())
        assert len(model._cache) == 0  # ids only until a row is shown
        model.data(model.index(model.rowCount() - 1, COL_NAME))
        assert 0 < len(model._cache) <= 128
        for row in range(0, model.rowCount(), 100):
            model.data(model.index(row, COL_STATUS))
        assert len(model._cache) <= CACHE_LIMIT  # bounded
    finally:
        runner.shutdown()


def test_stale_query_results_are_discarded(qtbot, ws: Workspace) -> None:
    bulk_insert(ws, 300)
    ws.create_case("Zzyzx Unique", 40, "other")
    model, runner = make_model(qtbot, ws)
    try:
        model.set_search("a")
        model.set_search("e")
        requery(qtbot, model, lambda: model.set_search("Zzyzx"))
        qtbot.waitUntil(lambda: runner.running == 0)
        assert names(model) == ["Zzyzx Unique"]
    finally:
        runner.shutdown()


def test_refresh_after_edits_does_not_reset(qtbot, ws: Workspace) -> None:
    old = ws.create_case("Old", 40, "other")
    ws.create_case("Middle", 41, "other")
    model, runner = make_model(qtbot, ws)
    resets: list[int] = []
    inserts: list[int] = []
    removes: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda *_: inserts.append(1))
    model.rowsRemoved.connect(lambda *_: removes.append(1))
    try:
        edited = ws.edit_case(old.id, case_summary="new note")  # moves to the top (updated desc)
        model.update_record(edited)
        requery(qtbot, model, model.refresh)
        assert names(model) == ["Old", "Middle"]
        ws.create_case("Newest", 20, "female")
        requery(qtbot, model, model.refresh)
        assert names(model)[0] == "Newest" and inserts == [1]
        ws.archive_case(old.id)
        requery(qtbot, model, model.refresh)
        assert "Old" not in names(model) and removes == [1]
        assert resets == []
    finally:
        runner.shutdown()


def test_count_label_and_debounced_search(qtbot, window, ws: Workspace) -> None:
    ws.create_case("Amara Okafor", 47, "female")
    ws.create_case("Bruno Berger", 60, "male")
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    assert window.count_label.text() == "2 cases"
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        qtbot.keyClicks(window.search, "Bru")  # one query after the pause, not three
    settle(qtbot, window)
    assert window.model.query.search == "Bru"
    assert window.count_label.text() == "1 case"
    window.status_filter.setCurrentIndex(window.status_filter.findText("Archived"))
    qtbot.waitUntil(lambda: window.count_label.text() == "0 cases", timeout=5000)


def test_incremental_update_reaches_any_new_order(qtbot, ws: Workspace) -> None:
    """Removals, insertions and moves in any mix end in exactly the new order, and a
    persistent index (the selection) follows its case."""
    import random

    from PySide6.QtCore import QPersistentModelIndex

    rng = random.Random(5)
    model, runner = make_model(qtbot, ws)
    try:
        ids = [f"id-{i:03d}" for i in range(40)]
        model._generation += 1
        model._apply(model._generation, list(ids), True)
        for _ in range(200):
            new = [i for i in ids if rng.random() > 0.1]
            new += [f"new-{rng.randrange(10**6)}" for _ in range(rng.randrange(4))]
            if rng.random() < 0.5:
                rng.shuffle(new)
            keep = next((i for i in ids if i in new), None)
            persistent = QPersistentModelIndex(model.index(ids.index(keep), 0)) if keep else None
            model._generation += 1
            model._apply(model._generation, list(new), False)
            assert list(model.ids) == new
            if persistent is not None and persistent.isValid():
                assert model.case_id(persistent.row()) == keep
            ids = new
    finally:
        runner.shutdown()
