"""A case's documents: a table (category editable through a combo) beside the preview."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.intake import format_size
from desktop.ui.row_table import RowTable
from desktop.ui.wording import WARNING, patient_warning
from desktop.workspace import CATEGORIES, DocumentRecord

_ModelIndex = QModelIndex | QPersistentModelIndex

DOC_COLUMNS = ("Name", "Category", "Size", "Added", "State")
VISIBLE_ROWS = 6  # documents a case shows without scrolling
COL_DOC_NAME, COL_CATEGORY, COL_SIZE, COL_ADDED, COL_STATE = range(len(DOC_COLUMNS))

STATE_LABELS = {
    "local_only": "Local only",
    "uploading": "Uploading",
    "uploaded": "Uploaded",
    "remote_only": "On server only",
    "downloaded": "Uploaded",
    "failed": "Failed",
}


# What a document dragged from the list carries: its id (and its case's), to drop on a case.
DOCUMENT_MIME = "application/x-casedesk-document"


def state_text(doc: DocumentRecord) -> str:
    label = STATE_LABELS.get(doc.state, doc.state)
    if doc.state == "failed":
        label = f"{label}: {doc.error or 'unknown reason'}"
    if doc.patient_mismatch:
        label = "⚠ Check patient · " + label
    return label


class DocumentsModel(QAbstractTableModel):
    """The open case's documents; a category edit is a request the window runs as an operation."""

    category_change_requested = Signal(str, str)  # document id, category

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._docs: list[DocumentRecord] = []
        self.patient_name = ""  # the open case's, for the DICOM warning's words

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt API
        return [DOCUMENT_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:  # noqa: N802 - Qt API
        """A dragged document: dropped on a case row, it moves there."""
        mime = QMimeData()
        doc = self.document(indexes[0].row()) if indexes else None
        if doc is not None:
            mime.setData(DOCUMENT_MIME, f"{doc.id}\n{doc.case_id}".encode())
            mime.setText(doc.name)
        return mime

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt API
        return Qt.DropAction.MoveAction

    def set_documents(self, docs: Sequence[DocumentRecord]) -> None:
        """Show these documents. The same ones again leave the rows alone; changed values
        (a state after an upload) update their rows in place, and documents that came or went
        are inserted or removed: the selection, and so the document being read, stays."""
        new = list(docs)
        if new == self._docs:
            return
        old_ids = [d.id for d in self._docs]
        new_ids = [d.id for d in new]
        new_set, old_set = set(new_ids), set(old_ids)
        if [i for i in old_ids if i in new_set] != [i for i in new_ids if i in old_set]:
            self.beginResetModel()  # reordered: nothing to keep
            self._docs = new
            self.endResetModel()
            return
        for row in reversed(range(len(self._docs))):
            if self._docs[row].id not in new_set:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._docs[row]
                self.endRemoveRows()
        for row, doc in enumerate(new):
            if doc.id not in old_set:
                self.beginInsertRows(QModelIndex(), row, row)
                self._docs.insert(row, doc)
                self.endInsertRows()
        self._docs = new
        if new:
            self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(DOC_COLUMNS) - 1))

    def update_document(self, doc: DocumentRecord) -> None:
        for row, existing in enumerate(self._docs):
            if existing.id == doc.id:
                self._docs[row] = doc
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(DOC_COLUMNS) - 1))
                return

    def add_documents(self, docs: Sequence[DocumentRecord]) -> None:
        known = {d.id for d in self._docs}
        new = [d for d in docs if d.id not in known]
        if not new:
            return
        start = len(self._docs)
        self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
        self._docs.extend(new)
        self.endInsertRows()

    def document(self, row: int) -> DocumentRecord | None:
        return self._docs[row] if 0 <= row < len(self._docs) else None

    @property
    def documents(self) -> list[DocumentRecord]:
        return list(self._docs)

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._docs)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(DOC_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return DOC_COLUMNS[section]
        return None

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid():
            flags |= Qt.ItemFlag.ItemIsDragEnabled
        if index.isValid() and index.column() == COL_CATEGORY:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        doc = self.document(index.row()) if index.isValid() else None
        if doc is None:
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if column == COL_DOC_NAME:
                return doc.name
            if column == COL_CATEGORY:
                return doc.category
            if column == COL_SIZE:
                return format_size(doc.size)
            if column == COL_ADDED:
                return doc.added_at.astimezone().strftime("%Y-%m-%d %H:%M")
            if column == COL_STATE:
                return state_text(doc)
        if role == Qt.ItemDataRole.ToolTipRole:
            if doc.patient_mismatch and column in (COL_DOC_NAME, COL_STATE):
                return (f"{doc.name}: " + patient_warning(doc, self.patient_name or "this case's "
                                                          "patient") + ".")
            if column == COL_STATE:
                return state_text(doc)
            if column == COL_CATEGORY:
                return "Double-click to change: lab or radiology"
            if column == COL_DOC_NAME:
                return f"{doc.name} ({doc.mime_type})"
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATE and doc.state == "failed":
            return QColor("#c62828")
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATE and doc.patient_mismatch:
            return QColor(WARNING)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: _ModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        doc = self.document(index.row()) if index.isValid() else None
        if doc is None or index.column() != COL_CATEGORY or role != Qt.ItemDataRole.EditRole:
            return False
        if value not in CATEGORIES or value == doc.category:
            return False
        self.category_change_requested.emit(doc.id, str(value))
        return True  # the row updates when the write has committed


class CategoryDelegate(QStyledItemDelegate):
    """A combo of the two categories the server knows."""

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: _ModelIndex
    ) -> QWidget:
        combo = QComboBox(parent)
        combo.addItems(list(CATEGORIES))
        combo.setAccessibleName("Document category")
        combo.activated.connect(lambda _i: self.commitData.emit(combo))
        return combo

    def setEditorData(self, editor: QWidget, index: _ModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: Any, index: _ModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)


class DocumentsPanel(QWidget):
    """Table of documents on top, preview below, and the Add files… button."""

    add_files_requested = Signal()
    document_selected = Signal(object)  # DocumentRecord | None

    def __init__(self, preview: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = DocumentsModel(self)
        self.table = RowTable(self)
        self.table.setModel(self.model)
        self.table.setAccessibleName("Documents of this case")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.SelectedClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setItemDelegateForColumn(COL_CATEGORY, CategoryDelegate(self.table))
        # Drag a document onto a case in the list to move it there.
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.table.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_DOC_NAME, QHeaderView.ResizeMode.Stretch)
        for col in (COL_CATEGORY, COL_SIZE, COL_ADDED, COL_STATE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.modelReset.connect(lambda: self.document_selected.emit(None))

        self.add_button = QPushButton("Add files…", self)
        self.add_button.setAccessibleName("Add files to this case")
        self.add_button.setToolTip("Attach files (Ctrl+O) — or drop them anywhere on the window")
        self.add_button.clicked.connect(self.add_files_requested)
        self.count_label = QLabel(self)
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(self.add_button)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.table)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("documentsSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(preview)
        # At least six documents in sight, however the splitter is dragged (it is remembered).
        scrollbar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.table.setMinimumHeight(
            self.table.horizontalHeader().sizeHint().height() + VISIBLE_ROWS
            * self.table.verticalHeader().defaultSectionSize() + 2 * self.table.frameWidth()
            + scrollbar)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([top.minimumSizeHint().height(), 520])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._update_count()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(
            "No documents yet — drop files here or use Add files…" if n == 0
            else f"{n} document{'s' if n != 1 else ''}"
        )

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.document_selected.emit(self.model.document(current.row()))

    def selected_id(self) -> str | None:
        doc = self.model.document(self.table.currentIndex().row())
        return doc.id if doc is not None else None

    def select_document(self, document_id: str) -> None:
        for row, doc in enumerate(self.model.documents):
            if doc.id == document_id:
                self.table.selectRow(row)
                return
