"""The verdict of one intake batch: each file attached, already attached, or refused (why)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.wording import WARNING, patient_warning
from desktop.workspace import AttachResult

VERDICTS = {"attached": "Attached", "duplicate": "Already attached", "refused": "Refused"}
_ICON = {
    "attached": QStyle.StandardPixmap.SP_DialogApplyButton,
    "duplicate": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "refused": QStyle.StandardPixmap.SP_MessageBoxWarning,
}


def summary(results: Sequence[AttachResult], cancelled: bool = False) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in VERDICTS}
    parts = [f"{counts['attached']} attached"]
    if counts["duplicate"]:
        parts.append(f"{counts['duplicate']} already attached")
    if counts["refused"]:
        parts.append(f"{counts['refused']} refused")
    text = ", ".join(parts)
    if not results:
        text = "No files found to attach"
    return text + (" (stopped before the end)" if cancelled else "")


class AttachResultsDialog(QDialog):
    """Non-modal: the clinician can keep working while reading it."""

    def __init__(
        self,
        results: Sequence[AttachResult],
        case_name: str,
        cancelled: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files added")
        self.results = list(results)
        self.summary = QLabel(f"<b>{case_name}</b>: {summary(results, cancelled)}", self)
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Result per file")
        self.tree.setHeaderLabels(["File", "Result", "Why"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        for result in results:
            verdict, why = VERDICTS.get(result.outcome, result.outcome), result.reason or ""
            warned = result.document is not None and bool(result.document.patient_mismatch)
            if warned and result.document is not None:
                verdict = "Attached — check the patient"
                said = patient_warning(result.document, case_name)
                why = said[:1].upper() + said[1:] + "."  # not capitalize(): it lowers names
            item = QTreeWidgetItem([result.path.name or str(result.path), verdict, why])
            item.setIcon(1, self.style().standardIcon(
                QStyle.StandardPixmap.SP_MessageBoxWarning if warned else
                _ICON.get(result.outcome, QStyle.StandardPixmap.SP_MessageBoxWarning)))
            if warned:
                for column in (1, 2):
                    item.setForeground(column, QColor(WARNING))
            item.setToolTip(0, str(result.path))
            item.setToolTip(2, why)
            self.tree.addTopLevelItem(item)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.resize(720, 360)

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            (self.tree.topLevelItem(i).text(0), self.tree.topLevelItem(i).text(1),
             self.tree.topLevelItem(i).text(2))
            for i in range(self.tree.topLevelItemCount())
        ]
