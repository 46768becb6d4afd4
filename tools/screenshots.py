"""Render the window with made-up data to PNG files: `python -m tools.screenshots OUTDIR`.

Runs offscreen (no display needed). Writes the main window (and its menu bar with the View
menu open), drop highlights, the PDF zoomed to the page width and found words, DICOM with the
lung window, an image, AI insights, a case's history of conflicts, the new-case dialog with a
refused age, an intake result list, the conflicts dialog, the merge editor and the sign-in
dialog; the removal and deletion confirmations, the duplicate-patient warning and a DICOM file
naming another patient.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _wait(app: object, done: Callable[[], bool], timeout: float = 20.0) -> None:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    assert isinstance(app, QApplication)
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the window did not settle in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
    app.processEvents()


def drag(widget: object, pos: object, mime: object, enter: bool = False,
         leave: bool = False) -> None:
    """Simulate a file drag the way Qt delivers one: enter once, then moves, then leave."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent
    from PySide6.QtWidgets import QApplication

    args = (pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    if enter:
        QApplication.sendEvent(widget, QDragEnterEvent(*args))  # type: ignore[arg-type]
    if leave:
        QApplication.sendEvent(widget, QDragLeaveEvent())  # type: ignore[arg-type]
        return
    QApplication.sendEvent(widget, QDragMoveEvent(*args))  # type: ignore[arg-type]


def with_popups(window: object, popups: list[object]) -> object:
    """The window's picture with open menus drawn where they are (menus are windows of their
    own, so grabbing the main window alone leaves them out)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    picture = window.grab()  # type: ignore[attr-defined]
    painter = QPainter(picture)
    for popup in popups:
        where = window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0)))  # type: ignore[attr-defined]
        painter.drawPixmap(where, popup.grab())  # type: ignore[attr-defined]
    painter.end()
    return picture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots")
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out: Path = args.outdir
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, QUrl
    from PySide6.QtWidgets import QApplication

    from desktop.models.tables import Case
    from desktop.ui.app import make_application
    from desktop.ui.cases.new_case_dialog import NewCaseDialog
    from desktop.ui.documents.attach_results import AttachResultsDialog
    from desktop.ui.main_window import MainWindow
    from desktop.ui.sample_files import write_dicom, write_pdf, write_png
    from desktop.workspace import Workspace
    from tools.sample_data import INSIGHTS, bulk_insert

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
        app = make_application([sys.argv[0]])
        assert isinstance(app, QApplication)
        ws = Workspace.open(tmp / "data")
        bulk_insert(ws, 40)
        files = tmp / "files"
        files.mkdir()
        pdf = write_pdf(files / "blood-panel.pdf", pages=3)
        dcm = write_dicom(files / "chest-ct.dcm", rows=512, cols=512, frames=5)
        png = write_png(files / "hand-xray.png", "Left hand, PA")
        case = ws.create_case("Amara Okafor", 47, "female",
                              "Productive cough for three weeks, mild breathlessness.", "completed")
        ws.attach(case.id, [pdf, dcm, png])
        with ws.transaction() as session:
            row = session.get(Case, case.id)
            assert row is not None
            row.ai_insights = INSIGHTS
        window = MainWindow(ws)
        window.resize(1360, 820)
        window.show()
        _wait(app, lambda: window.model.rowCount() > 0 and not window.model.loading)
        shots: list[Path] = []

        def shot(widget: object, name: str, picture: object = None) -> None:
            _wait(app, lambda: window.runner.running == 0)
            path = out / name
            (picture or widget.grab()).save(str(path))  # type: ignore[attr-defined]
            shots.append(path)

        shot(window, "01-main-window.png")
        first_pdf = QMimeData()
        first_pdf.setUrls([QUrl.fromLocalFile(str(pdf))])
        drag(window, QPointF(900, 400), first_pdf, enter=True)
        shot(window, "11-drop-no-case-open.png")
        drag(window, QPointF(900, 400), first_pdf, leave=True)

        # The menu bar, with View › Sort by open: every action and sort order by keyboard.
        view_menu = window.menus["&View"]
        window.menuBar().setActiveAction(view_menu.menuAction())
        _wait(app, view_menu.isVisible)
        sort_menu = next(a.menu() for a in view_menu.actions() if a.menu() is not None)
        view_menu.setActiveAction(sort_menu.menuAction())
        sort_menu.popup(view_menu.mapToGlobal(view_menu.actionGeometry(
            sort_menu.menuAction()).topRight()))
        _wait(app, sort_menu.isVisible)
        shot(window, "15-menu-bar.png", with_popups(window, [view_menu, sort_menu]))
        sort_menu.hide()
        view_menu.hide()

        row = window.model.row_of(case.id)
        assert row is not None
        window.table.selectRow(row)
        _wait(app, lambda: window.case_view.case_id == case.id)
        window.case_view.form.notes.appendPlainText("Seen again today.")  # shows the unsaved mark
        shot(window, "02-case-unsaved.png")
        window.case_view.discard()

        docs = window.case_view.documents
        window.case_view.tabs.setCurrentWidget(docs)
        _wait(app, lambda: docs.model.rowCount() == 3)
        window.splitter.setSizes([520, 840])  # room for the document
        preview = window.preview
        docs.table.selectRow(0)
        _wait(app, lambda: preview.kind == "pdf")
        preview.pdf.fit_width()
        preview.pdf.find_box.setText("Potassium")
        _wait(app, lambda: preview.pdf.matches() == 3)
        preview.pdf.find_next()
        preview.pdf.view.verticalScrollBar().setValue(0)
        time.sleep(0.3)  # pages render on QtPdf's threads
        _wait(app, lambda: True)
        shot(window, "03-pdf-preview.png")

        docs.table.selectRow(1)
        _wait(app, lambda: preview.kind == "dicom")
        preview.dicom.apply_preset("Lung")
        preview.dicom.show_frame(2)
        shot(window, "04-dicom-preview.png")

        docs.table.selectRow(2)
        _wait(app, lambda: preview.kind == "image")
        shot(window, "05-png-preview.png")

        window.case_view.tabs.setCurrentWidget(window.case_view.insights)
        shot(window, "06-ai-insights.png")
        window.splitter.setSizes([640, 720])

        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(pdf))])
        viewport = window.table.viewport()
        target = QPointF(40, window.table.rowViewportPosition(3) + 5)
        drag(viewport, target, mime, enter=True)
        shot(window, "07-drop-on-row.png")
        drag(window, QPointF(window.case_view.mapTo(window, QPoint(300, 300))), mime)
        shot(window, "08-drop-on-open-case.png")
        drag(window, QPointF(5, 5), mime, leave=True)
        window.drops.clear()

        dialog = NewCaseDialog(window)
        dialog.name.setText("Nadia Novak")
        dialog.age.setText("200")  # refused, never cut to 20
        dialog.gender.setCurrentText("female")
        dialog.show()
        shot(dialog, "09-new-case-dialog.png")
        dialog.done(0)

        results = ws.attach(case.id, [pdf, files / "missing.pdf", files])
        rd = AttachResultsDialog(results, case.patient_name, parent=window)
        rd.show()
        shot(rd, "10-attach-results.png")
        rd.close()

        # Conflicts as a pull records them (no server needed to show the dialog).
        from desktop.models.tables import Conflict
        from desktop.ui.sync.conflicts_dialog import ConflictsDialog
        from desktop.ui.sync.merge_dialog import MergeDialog
        from desktop.ui.sync.sign_in_dialog import SignInDialog

        with ws.transaction() as session:
            session.add(Conflict(case_id=case.id, field="case_summary",
                                 base_value="Productive cough for three weeks.",
                                 local_value="Productive cough for three weeks, mild "
                                             "breathlessness.",
                                 server_value="Cough resolving; chest X-ray clear.",
                                 server_changed_at="2026-11-20T14:05:00Z"))
            session.add(Conflict(case_id=case.id, field="status", base_value="processing",
                                 local_value="completed", server_value="analyzing",
                                 server_changed_at="2026-11-20T14:05:00Z"))
        conflicts = ConflictsDialog(ws, window.runner, window)
        conflicts.show()
        _wait(app, lambda: conflicts.model.rowCount() == 2)
        shot(conflicts, "12-conflicts-dialog.png")
        merge = MergeDialog(ws.conflicts()[0], window)
        merge.show()
        shot(merge, "14-merge-editor.png")
        merge.done(0)
        conflicts.close()
        ws.resolve_conflict(case.id, "case_summary", "merged",
                            "Productive cough for three weeks, mild breathlessness.\n"
                            "Cough resolving; chest X-ray clear.")
        ws.resolve_conflict(case.id, "status", "theirs")
        window.history.reload()
        window.case_view.tabs.setCurrentWidget(window.case_view.history)
        _wait(app, lambda: "Not kept" in window.case_view.history.text())
        shot(window, "16-history.png")

        sign_in = SignInDialog(ws, window.runner, window)
        sign_in.server.setText("https://cases.example.org")
        sign_in.user.setText("doctor-1")
        sign_in.token.setText("example-token")
        sign_in.show()
        shot(sign_in, "13-sign-in-dialog.png")
        sign_in.done(0)

        # Before the mistake: the confirmations, a patient already here, a DICOM file naming
        # someone else (in its verdict and in the documents list).
        from desktop.ui.confirm import deletion_box, removal_box

        removal = removal_box(window, case.patient_name, "blood-panel.pdf")
        removal.show()
        shot(removal, "17-remove-confirmation.png")
        removal.done(0)
        deletion = deletion_box(window, case.patient_name, 3)
        deletion.show()
        shot(deletion, "18-delete-case-confirmation.png")
        deletion.done(0)
        duplicate = NewCaseDialog(window, runner=window.runner, find_matches=lambda v: (
            ws.similar_patients(v.patient_name, v.patient_age, v.patient_gender)))
        duplicate.name.setText("amara okafor")
        duplicate.age.setText("48")
        duplicate.gender.setCurrentText("female")
        duplicate.show()
        duplicate.accept()
        _wait(app, lambda: duplicate.matches_box.isVisibleTo(duplicate))
        shot(duplicate, "19-duplicate-patient.png")
        duplicate.done(0)
        maria = ws.create_case("Maria Lopez", 46, "female", "Follow-up CT.")
        mismatch = ws.attach(maria.id, [write_dicom(files / "ct-from-the-scanner.dcm"),
                                        write_pdf(files / "referral.pdf")])
        verdicts = AttachResultsDialog(mismatch, maria.patient_name, parent=window)
        verdicts.show()
        shot(verdicts, "20-dicom-patient-mismatch.png")
        verdicts.close()
        window.model.refresh()
        _wait(app, lambda: window.model.row_of(maria.id) is not None)
        maria_row = window.model.row_of(maria.id)
        assert maria_row is not None
        window.table.selectRow(maria_row)
        _wait(app, lambda: window.case_view.case_id == maria.id)
        window.case_view.tabs.setCurrentWidget(docs)
        _wait(app, lambda: docs.model.rowCount() == 2)
        shot(window, "21-dicom-mismatch-in-list.png")

        window.case_view.show_case(None)
        window._close_confirmed = True
        window.close()
        window.runner.shutdown()
        ws.close()
    for path in shots:
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
