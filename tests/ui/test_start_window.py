"""The start window: the first rows of the list, read straight from the cache before the data
layer loads, exactly as the full list will show them; and nothing shown, never an error, when
the cache is missing, older or damaged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from desktop.first_glance import PREVIEW_ROWS, SORT_COLUMNS
from desktop.ui.cases.case_list_model import CaseListModel
from desktop.ui.operations import OperationRunner
from desktop.ui.start_window import StartWindow, first_rows
from desktop.workspace import SORT_KEYS, CaseQuery, Workspace
from tests import cachefile

ROOT = Path(__file__).resolve().parents[2]


def cache_of(ws: Workspace) -> Path:
    return ws.folder.cache


def texts(model, rows: int) -> list[list[str]]:
    return [[model.data(model.index(r, c)) for c in range(model.columnCount(QModelIndex()))]
            for r in range(rows)]


def _keyed_folder(root: Path, cases: int = 1) -> Path:
    """A data folder whose key is in the (test) keychain, with *cases* cases and the PIN set
    (else the window opens asking for one)."""
    with Workspace.open(root) as ws:
        for n in range(cases):
            ws.create_case(f"Patient {n:02d}", 30 + n % 50, "female")
        ws.set_unlock_secret("482913")
    return root


@pytest.fixture
def cases(ws: Workspace) -> Workspace:
    for n in range(80):
        case = ws.create_case(f"Patient {n:02d}", 20 + n % 50, ["female", "male", "other"][n % 3])
        if n % 10 == 0:
            ws.archive_case(case.id)
    ws.edit_case(ws.case_ids()[-1], case_summary="edited last, so first in the list")
    return ws


def test_the_first_rows_match_the_full_list(qtbot, cases: Workspace) -> None:
    window = StartWindow(cache_of(cases))
    qtbot.addWidget(window)
    assert window.show_cases()
    preview = window.model
    assert preview is not None and preview.rowCount(QModelIndex()) == PREVIEW_ROWS

    runner = OperationRunner()
    model = CaseListModel(cases, runner)
    with qtbot.waitSignal(model.refreshed, timeout=10000):
        model.refresh()
    assert model.rowCount() == 72  # archived hidden, as in the preview
    assert texts(preview, PREVIEW_ROWS) == texts(model, PREVIEW_ROWS)
    assert preview.data(preview.index(0, 0)) == cases.get_case(cases.case_ids()[0]).patient_name
    runner.shutdown()


def test_the_preview_follows_the_saved_sort(qtbot, cases: Workspace) -> None:
    rows = first_rows(cache_of(cases), "name", descending=False, limit=5)
    expected = [cases.get_case(i).patient_name
                for i in cases.case_ids(CaseQuery(sort="name", descending=False), limit=5)]
    assert rows is not None and [r[0][0] for r in rows] == expected


def test_sort_columns_name_the_same_columns_as_the_workspace() -> None:
    assert {k: v.key for k, v in SORT_KEYS.items()} == SORT_COLUMNS


def test_no_cache_yet_shows_only_the_opening_line(qtbot, tmp_path: Path) -> None:
    window = StartWindow(tmp_path / "data" / "casedesk.sqlite3")
    qtbot.addWidget(window)
    assert not window.show_cases()
    assert window.table is None
    assert not (tmp_path / "data").exists()  # nothing created


def test_an_older_schema_is_left_to_the_upgrade(qtbot, cases: Workspace) -> None:
    path = cache_of(cases)
    cases.close()
    conn = cachefile.connect(path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0002'")
    conn.close()
    assert first_rows(path) is None


def test_a_damaged_file_shows_no_preview_and_no_error(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "casedesk.sqlite3"
    path.write_bytes(os.urandom(8192))
    before = path.read_bytes()
    window = StartWindow(path)
    qtbot.addWidget(window)
    assert not window.show_cases()
    assert path.read_bytes() == before


def test_reading_the_preview_writes_nothing(cases: Workspace) -> None:
    path = cache_of(cases)
    cases.close()  # a clean close folds the WAL back into the file
    listing = sorted(p.name for p in path.parent.iterdir())
    stamp = path.stat().st_mtime_ns
    assert first_rows(path)
    assert sorted(p.name for p in path.parent.iterdir()) == listing
    assert path.stat().st_mtime_ns == stamp


def test_the_first_paint_loads_neither_the_data_layer_nor_the_network_client(tmp_path) -> None:
    """What the start window imports decides how soon the list is on screen."""
    code = (
        "import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "from desktop.ui import app as a; a.make_application();"
        f"w = a.startup_window({str(tmp_path)!r}); w.show(); w.show_cases();"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy','httpx','alembic','keyring'}))"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def _saved_header(column: int, order: Qt.SortOrder) -> None:
    """The header state a full window of the release before saved: sorted by *column*."""
    from desktop.ui.cases.case_columns import HEADER_KEY
    from desktop.ui.cases.case_table import CaseTable
    from desktop.ui.settings import app_settings
    from desktop.ui.start_window import preview_model

    table = CaseTable()
    table.setModel(preview_model([], table))
    table.apply_list_look()
    table.horizontalHeader().setSortIndicator(column, order)
    app_settings().setValue(HEADER_KEY, table.horizontalHeader().saveState())
    table.deleteLater()


def _preview_names(qtbot, cases: Workspace) -> list[str]:
    from desktop.ui.cases.case_columns import COL_NAME

    window = StartWindow(cache_of(cases))
    qtbot.addWidget(window)
    assert window.show_cases() and window.model is not None
    return [window.model.data(window.model.index(r, COL_NAME)) for r in range(3)]


def test_the_start_window_sorts_like_the_saved_header(qtbot, cases: Workspace) -> None:
    """A header saved before the sort had a setting of its own (the first start after an
    upgrade): its order is asked of the header."""
    from desktop.ui.cases.case_columns import COL_NAME

    _saved_header(COL_NAME, Qt.SortOrder.AscendingOrder)
    assert _preview_names(qtbot, cases) == ["Patient 01", "Patient 02", "Patient 03"]


def test_the_start_window_reads_the_sort_the_window_saved(qtbot, cases: Workspace,
                                                          make_window) -> None:
    """The full window saves its sort as text beside the header; the start window takes it
    from there (not from the header, whose order is a Qt enum: see start_window)."""
    from desktop.ui.cases.case_columns import COL_NAME, SORT_KEY
    from desktop.ui.settings import app_settings

    window = make_window()
    window.list_panel.sort_by(COL_NAME)
    window.list_panel.sort_order(Qt.SortOrder.DescendingOrder)
    window.save_settings()
    assert app_settings().value(SORT_KEY) == "name desc"
    assert _preview_names(qtbot, cases) == ["Patient 79", "Patient 78", "Patient 77"]


def test_a_sort_setting_for_another_column_than_the_headers_is_not_trusted(
        qtbot, cases: Workspace) -> None:
    """A setting left by a newer release over an older one's header: the header decides."""
    from desktop.ui.cases.case_columns import COL_NAME, SORT_KEY
    from desktop.ui.settings import app_settings

    _saved_header(COL_NAME, Qt.SortOrder.AscendingOrder)
    app_settings().setValue(SORT_KEY, "age desc")
    assert _preview_names(qtbot, cases) == ["Patient 01", "Patient 02", "Patient 03"]
    app_settings().setValue(SORT_KEY, "name sideways")  # not a sort: the header decides
    assert _preview_names(qtbot, cases) == ["Patient 01", "Patient 02", "Patient 03"]


def test_the_previews_numbers_are_the_qt_enums_they_stand_for() -> None:
    from desktop.ui.start_window import ALIGNMENT_ROLE, RIGHT_ALIGNED

    assert ALIGNMENT_ROLE == Qt.ItemDataRole.TextAlignmentRole.value
    assert RIGHT_ALIGNED == (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value


def test_the_first_paint_never_makes_the_qt_enum_namespace(tmp_path: Path) -> None:
    """Making PySide6's ``Qt`` namespace (~90 enum classes) costs about a seventh of a bare
    window's start; the start window paints its list without it, and with the window's
    saved sort and header, as on every start after the first. The rows come with the key
    from the key helper, so this process does not even load SQLCipher before it paints."""
    root = _keyed_folder(tmp_path / "data", cases=70)
    settings = tmp_path / "settings"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from PySide6 import QtCore\n"
        "from PySide6.QtCore import QSettings\n"
        f"QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {str(settings)!r})\n"
        "from desktop import key_prefetch\n"
        f"prefetch = key_prefetch.start(Path({str(root)!r}))\n"
        "from desktop.ui import app as a\n"
        "from desktop.ui.settings import app_settings\n"
        "qapp = a.make_application()\n"
        "if sys.argv[1] == 'save':\n"
        "    window, ws = a.start(" + repr(str(root)) + ", prefetch=prefetch)\n"
        "    window.save_settings(); window._close_confirmed = True; window.close(); ws.close()\n"
        "    print('saved', app_settings().value('window/caseListSort')); raise SystemExit\n"
        f"w = a.startup_window({str(root)!r}, None, prefetch)\n"
        "assert w.list_at_hand(60)\n"
        "print('listed', w.show_cases())\n"
        "w.show(); qapp.processEvents(); w.repaint(); qapp.processEvents()\n"
        "print('Qt made', 'Qt' in vars(QtCore))\n"
        "print('SQLCipher loaded', 'sqlcipher3' in sys.modules)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}

    def run(step: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", code, step], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env=env, check=False)
        return done.stdout.splitlines() + done.stderr.splitlines()[-5:]

    assert "saved updated desc" in run("save")
    out = run("first paint")
    assert "listed True" in out and "Qt made False" in out, out
    assert "SQLCipher loaded False" in out, out


def test_while_the_app_has_the_cache_open_the_newest_commits_show(cases: Workspace) -> None:
    """An open cache has its newest commits in the write-ahead log, not yet in the file."""
    newest = cases.create_case("Zoe Newest", 33, "female")
    assert cases.folder.cache.with_name("casedesk.sqlite3-wal").exists()
    rows = first_rows(cache_of(cases), limit=1)
    assert rows is not None and rows[0][0][0] == newest.patient_name


def test_the_preview_has_the_lists_column_widths(qtbot, cases: Workspace) -> None:
    from desktop.ui.cases.case_columns import COL_NAME, COLUMNS
    from desktop.ui.cases.case_table import CaseTable
    from desktop.ui.start_window import preview_model

    window = StartWindow(cache_of(cases))
    qtbot.addWidget(window)
    assert window.show_cases() and window.table is not None
    header = window.table.horizontalHeader()
    reference = CaseTable()
    qtbot.addWidget(reference)
    reference.setModel(preview_model([], reference))
    reference.apply_list_look()
    for column in range(len(COLUMNS)):
        if column != COL_NAME:  # the name takes the rest of the panel
            assert header.sectionSize(column) == reference.horizontalHeader().sectionSize(column)


def test_nothing_moves_when_the_full_window_takes_its_place(qtbot, cases: Workspace,
                                                          make_window) -> None:
    """The start window has the full window's menus and toolbar: the list does not jump."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QLineEdit

    window = make_window()
    window.resize(1200, 760)
    QApplication.processEvents()
    window.save_settings()
    start = StartWindow(cache_of(cases))
    qtbot.addWidget(start)
    start.show()
    assert start.show_cases() and start.table is not None
    qtbot.waitUntil(lambda: start.isVisible(), timeout=5000)
    QApplication.processEvents()
    assert start.size() == window.size()
    where = start.table.mapTo(start, QPoint(0, 0))
    assert where == window.table.mapTo(window, QPoint(0, 0))
    assert start.table.size() == window.table.size()
    assert start.table.horizontalHeader().sectionSize(0) == \
        window.table.horizontalHeader().sectionSize(0)
    # The filter row above it too: the search field keeps its width.
    search = start.findChild(QLineEdit)
    assert search is not None and search.geometry() == window.list_panel.search.geometry()
    start.close()


def _first_paints(monkeypatch, log: list[bool]) -> None:
    """Record, at each paint of the start window, whether the list was in it."""
    from PySide6.QtCore import QEvent, QObject

    import desktop.ui.start_window as start_window

    class Watch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                log.append(obj.table is not None and obj.model is not None)
            return False

    watcher = Watch()

    class Watched(start_window.StartWindow):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.installEventFilter(watcher)

    monkeypatch.setattr(start_window, "StartWindow", Watched)


def _start_and_close(root: Path, prefetch=None) -> None:
    import desktop.ui.app as app_module

    window, workspace = app_module.start(root, prefetch=prefetch)
    window._close_confirmed = True
    window.close()
    window.runner.shutdown()
    window.deleteLater()
    workspace.close()


def test_with_the_key_at_hand_the_first_paint_is_the_list(qtbot, monkeypatch,
                                                           tmp_path: Path) -> None:
    """The key helper has answered: one paint with the person's list in it, not an empty
    frame first and the list a paint later."""
    from desktop import key_prefetch

    root = _keyed_folder(tmp_path / "data")
    prefetch = key_prefetch.start(root)
    assert prefetch is not None and prefetch.wait(60)
    paints: list[bool] = []
    _first_paints(monkeypatch, paints)
    _start_and_close(root, prefetch)
    assert paints and paints[0] is True


def test_a_slow_keychain_gets_the_frame_first_then_the_list(qtbot, monkeypatch,
                                                             tmp_path: Path) -> None:
    """A keychain that takes its time (asking the person, say): the frame is painted at once
    and the list follows when the key comes."""
    import time

    import keyring

    from tests.keychain import SharedKeyring

    root = _keyed_folder(tmp_path / "data")

    class SlowKeychain(SharedKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            time.sleep(0.6)
            return super().get_password(service, username)

    keyring.set_keyring(SlowKeychain(Path(os.environ["TEST_KEYCHAIN_FILE"])))
    paints: list[bool] = []
    _first_paints(monkeypatch, paints)
    _start_and_close(root)
    assert paints[0] is False and True in paints
