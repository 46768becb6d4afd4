"""The first window a person sees: their cases, read straight from the cache file.

The data layer (SQLAlchemy, the schema check, the sync client) takes about half a second to
load; the first screenful of the case list needs only SQLCipher (the cache's key from the
keychain, read by ``key_prefetch``'s helper process while Qt loads) and a few milliseconds.
Where the key needs a passphrase, there is no preview. So a double-click answers at once with
the clinician's own list, in the layout the full window will have, and the full window
replaces this one in place when it is ready.

Nothing here writes: the file is opened read-only and only if it already exists at the schema
revision this release understands. A missing, older or unreadable cache shows the plain
"Opening your cases…" line instead, and the full start-up deals with it.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.models.schema_version import HEAD_REVISION
from desktop.ui.cases.case_columns import COL_AGE, COL_SYNC, COLUMNS, HEADER_KEY, row_texts
from desktop.ui.icons import sync_icon
from desktop.ui.menus import first_size, placeholder_chrome
from desktop.ui.settings import app_settings

if TYPE_CHECKING:
    from desktop.key_prefetch import KeyPrefetch
    from desktop.ui.cases.case_table import CaseTable

log = logging.getLogger(__name__)

PREVIEW_ROWS = 64  # more than a tall screen shows
# CaseQuery sort key → column of the cases table (tests keep it equal to Workspace's SORT_KEYS).
SORT_COLUMNS = {
    "name": "patient_name",
    "age": "patient_age",
    "gender": "patient_gender",
    "status": "status",
    "updated": "updated_at",
    "created": "created_at",
    "sync": "sync_state",
}

Row = tuple[tuple[str, ...], str]  # display texts, sync state


class KeyFetch(threading.Thread):
    """The cache's key from the keychain, read in a thread while the first frame paints:
    importing keyring and asking the keychain take most of 100 ms, which would otherwise
    come between the frame and the list."""

    def __init__(self, root: Path, prefetch: KeyPrefetch | None = None) -> None:
        super().__init__(name="casedesk-start-key", daemon=True)
        self.root = root
        self.prefetch = prefetch
        self.result: tuple[bool, bytes | None] = (True, None)
        self.start()

    def run(self) -> None:
        if self.prefetch is not None:  # read by the helper process, only waited for here
            encrypted, keys = self.prefetch.result(KEY_WAIT_S)
            self.result = (encrypted, keys.cache if keys is not None else None)
            return
        from desktop.folder_key import cache_key_at_hand

        try:
            self.result = cache_key_at_hand(self.root)
        except Exception as exc:  # noqa: BLE001 - no key: no preview, the full start says why
            log.info("start window: no key at hand (%s)", type(exc).__name__)

    def key(self) -> tuple[bool, bytes | None]:
        self.join(KEY_WAIT_S)
        return (True, None) if self.is_alive() else self.result

    def at_hand(self, within: float) -> bool:
        """Whether the answer (a key, or none needed) is in within *within* seconds."""
        self.join(within)
        return not self.is_alive()


KEY_WAIT_S = 2.0


def first_rows(cache: Path, sort: str = "updated", descending: bool = True,
               limit: int = PREVIEW_ROWS, key_fetch: KeyFetch | None = None
               ) -> list[Row] | None:
    """The first rows of the default list (archived hidden), or None if the cache cannot be
    read as it is: not there yet, at another schema revision, locked or damaged."""
    import sqlcipher3.dbapi2 as sqlite3

    from desktop.models.cache_file import apply_key

    if sort not in SORT_COLUMNS or not cache.is_file() or cache.stat().st_size == 0:
        # Zero bytes: SQLite would delete the write-ahead log beside it on opening, and the
        # full start-up must see it to refuse the cache (see models.cache_health).
        return None
    direction = "DESC" if descending else "ASC"
    # No write-ahead log beside the file (the app closed cleanly, nothing else has it open):
    # the file is all there is, and "immutable" reads it without creating -wal/-shm files.
    # Otherwise read-only through the log, which then holds the newest commits.
    wal = cache.with_name(cache.name + "-wal").exists()
    mode = "mode=ro" if wal else "mode=ro&immutable=1"
    encrypted, key = (key_fetch or KeyFetch(cache.parent)).key()
    if encrypted and key is None:
        return None  # a passphrase first: the full start-up asks for it
    try:
        conn = sqlite3.connect(f"{cache.absolute().as_uri()}?{mode}", uri=True, timeout=0.2)
    except sqlite3.Error:
        return None
    try:
        if key is not None:
            apply_key(conn, key)
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] != HEAD_REVISION:
            return None
        rows = conn.execute(
            "SELECT patient_name, patient_age, patient_gender, status, updated_at, sync_state "
            "FROM cases WHERE status != 'archived' AND removed_at IS NULL "
            f"ORDER BY {SORT_COLUMNS[sort]} {direction}, id {direction} LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            (row_texts(name, age, gender, status, _utc(updated), state), state)
            for name, age, gender, status, updated, state in rows
        ]
    except (sqlite3.Error, ValueError, TypeError) as exc:
        log.info("start window: no preview of the cache (%s)", type(exc).__name__)
        return None
    finally:
        conn.close()


def _utc(stored: str) -> datetime:
    """Cache timestamps are naive UTC text (see models.tables.UTCDateTime)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


class PreviewModel(QAbstractTableModel):
    """A fixed handful of rows, already formatted: nothing to fetch while painting."""

    def __init__(self, rows: list[Row], parent: Any = None) -> None:
        super().__init__(parent)
        self._rows = rows

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        texts, state = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return texts[index.column()]
        if role == Qt.ItemDataRole.DecorationRole and index.column() == COL_SYNC:
            return sync_icon(state)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == COL_AGE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class StartWindow(QMainWindow):
    """First a frame saying "Opening your cases…", painted before anything touches the disk;
    then (``show_cases``) the list pane as the full window will show it, beside that line."""

    def __init__(self, cache: Path | None, prefetch: KeyPrefetch | None = None) -> None:
        super().__init__()
        self.cache = cache
        self.key_fetch = KeyFetch(cache.parent, prefetch) if cache is not None else None
        self.setWindowTitle("Case Desk")
        self.resize(first_size(self))
        self.table: CaseTable | None = None
        self.model: PreviewModel | None = None
        self.opening = QLabel("Opening your cases…")
        self.opening.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.opening.font()  # a palette and a font, not a style sheet: ~5 ms less to show
        font.setPointSizeF(13)
        self.opening.setFont(font)
        palette = self.opening.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor("#616161"))
        self.opening.setPalette(palette)
        self.setCentralWidget(self.opening)
        placeholder_chrome(self)  # the full window's menus and toolbar: nothing moves at start
        self.statusBar().showMessage("Opening your cases…")
        geometry = app_settings().value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def list_at_hand(self, within: float) -> bool:
        """Whether the first rows can be read without waiting longer than *within* for the
        cache's key (a folder with no key needs none)."""
        return self.key_fetch is None or self.key_fetch.at_hand(within)

    def show_cases(self) -> bool:
        """Put the first rows of the list beside the "Opening" line; False if there are none
        to show (no cache yet, or one this release must upgrade first)."""
        if self.cache is None:
            return False
        from desktop.ui.cases.case_table import CaseTable

        settings = app_settings()
        # The table first: the saved header state says which column the list sorts by.
        table = CaseTable()
        table.setAccessibleName("Cases (opening)")
        table.setModel(PreviewModel([], table))  # the columns exist before they are sized
        table.apply_list_look()
        header = table.horizontalHeader()
        state = settings.value(HEADER_KEY)
        if isinstance(state, QByteArray) and not state.isEmpty():
            header.restoreState(state)
        section = header.sortIndicatorSection()
        sort = COLUMNS[section][1] if 0 <= section < len(COLUMNS) else "updated"
        descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        rows = first_rows(self.cache, sort, descending, key_fetch=self.key_fetch)
        if not rows:
            table.deleteLater()
            return False
        self.table, self.model = table, PreviewModel(rows, table)
        table.setModel(self.model)
        panel = QWidget()
        search = QLineEdit(panel)
        search.setPlaceholderText("Search names and notes (Ctrl+F)")
        search.setEnabled(False)
        shown = QComboBox(panel)  # the list panel's filter row, as the full window has it
        shown.addItem("All active")
        shown.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(search, 3)
        top.addWidget(QLabel("Show:", panel))
        top.addWidget(shown, 1)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(table, 1)
        layout.addWidget(QLabel("Loading…", panel))  # where the full list counts its cases
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(panel)
        splitter.addWidget(self.opening)
        splitter.setSizes([640, 720])
        state = settings.value("window/splitter")
        if isinstance(state, QByteArray) and not state.isEmpty():
            splitter.restoreState(state)
        self.setCentralWidget(splitter)
        return True
