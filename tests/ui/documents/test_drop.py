"""Files dropped on the window: on a row, on the open case, with no case open; folders,
refused files, the highlight while dragging, Add files…, and the document category editor."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl

from desktop.ui.cases.new_case_dialog import NewCase
from desktop.ui.documents.documents_view import COL_CATEGORY
from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_pdf, write_png
from desktop.workspace import Workspace

from ..conftest import drag_enter, drag_leave, drag_move, drop, file_mime, select_case, settle


def cases(qtbot, window: MainWindow, ws: Workspace) -> tuple[str, str]:
    a = ws.create_case("Amara Okafor", 47, "female")
    b = ws.create_case("Bruno Berger", 60, "male")
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    return a.id, b.id


def row_point(window: MainWindow, case_id: str) -> QPointF:
    row = window.model.row_of(case_id)
    assert row is not None
    return QPointF(30, window.table.rowViewportPosition(row) + 4)


def case_view_point(window: MainWindow) -> QPointF:
    return QPointF(window.case_view.mapTo(window, QPoint(200, 200)))


def wait_results(qtbot, window: MainWindow, count: int = 1):
    qtbot.waitUntil(lambda: window.attacher.batches_done >= count, timeout=10000)
    settle(qtbot, window)
    return window.attacher.result_dialogs[-1]


def test_drop_on_a_row_attaches_to_that_case(qtbot, window: MainWindow, ws: Workspace,
                                             tmp_path: Path) -> None:
    a, b = cases(qtbot, window, ws)
    select_case(qtbot, window, a)  # the open case is A; the drop goes to B's row
    png = write_png(tmp_path / "xray.png")
    mime = file_mime([png])
    viewport = window.table.viewport()
    enter = drag_enter(viewport, row_point(window, b), mime)
    assert enter.isAccepted()
    drag_move(viewport, row_point(window, b), mime)
    assert window.table.drop_row == window.model.row_of(b)  # highlighted while dragging
    assert window.drops.target is not None and window.drops.target.case_id == b
    event = drop(viewport, row_point(window, b), mime)
    assert event.isAccepted()
    assert window.table.drop_row == -1
    dialog = wait_results(qtbot, window)
    assert dialog.rows() == [("xray.png", "Attached", "")]
    assert [d.name for d in ws.documents(b)] == ["xray.png"]
    assert ws.documents(a) == []
    dialog.close()


def test_drop_elsewhere_goes_to_the_open_case(qtbot, window: MainWindow, ws: Workspace,
                                              tmp_path: Path) -> None:
    a, _b = cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    pdf = write_pdf(tmp_path / "labs.pdf")
    mime = file_mime([pdf])
    # Over the notes field: a text widget must not swallow a file drop.
    notes = window.case_view.form.notes.viewport()
    drag_enter(notes, QPointF(10, 10), mime)
    drag_move(notes, QPointF(10, 10), mime)
    assert window.drops.case_overlay.isVisible()
    assert "Amara Okafor" in window.drops.case_overlay.text
    drag_leave(notes)
    assert not window.drops.case_overlay.isVisible()
    drop(window, case_view_point(window), mime)
    dialog = wait_results(qtbot, window)
    assert dialog.rows()[0][1] == "Attached"
    assert window.case_view.form.notes.toPlainText() == ""  # no path pasted into the notes
    qtbot.waitUntil(lambda: window.case_view.documents.model.rowCount() == 1, timeout=5000)
    assert [d.name for d in ws.documents(a)] == ["labs.pdf"]
    dialog.close()


def test_folder_with_a_refused_file_keeps_going(qtbot, window: MainWindow, ws: Workspace,
                                                tmp_path: Path) -> None:
    a, _b = cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    folder = tmp_path / "exam"
    (folder / "inner").mkdir(parents=True)
    write_png(folder / "a.png")
    (folder / "b.gif").write_bytes(b"GIF89a" + b"\x00" * 64)
    write_pdf(folder / "inner" / "c.pdf")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    drop(window, case_view_point(window), file_mime([folder, empty]))
    dialog = wait_results(qtbot, window)
    verdicts = {name: (result, why) for name, result, why in dialog.rows()}
    assert verdicts["a.png"][0] == "Attached"
    assert verdicts["c.pdf"][0] == "Attached"
    assert verdicts["b.gif"][0] == "Refused" and "GIF" in verdicts["b.gif"][1]
    assert verdicts["empty.pdf"][0] == "Refused" and "empty" in verdicts["empty.pdf"][1]
    assert "2 attached" in dialog.summary.text() and "2 refused" in dialog.summary.text()
    assert sorted(d.name for d in ws.documents(a)) == ["a.png", "c.pdf"]
    dialog.close()

    drop(window, case_view_point(window), file_mime([folder / "a.png"]))  # again: a duplicate
    dialog = wait_results(qtbot, window, 2)
    assert dialog.rows()[0][1] == "Already attached"
    dialog.close()


def test_drop_with_no_case_open_offers_a_new_case(qtbot, window: MainWindow, ws: Workspace,
                                                  tmp_path: Path) -> None:
    png = write_png(tmp_path / "scan.png")
    mime = file_mime([png])
    drag_enter(window, QPointF(700, 300), mime)
    drag_move(window, QPointF(700, 300), mime)
    assert window.drops.window_overlay.isVisible()
    assert "new case" in window.drops.window_overlay.text
    reasons: list[str | None] = []

    def ask(reason: str | None = None) -> NewCase:
        reasons.append(reason)
        return NewCase("Walk-in Patient", 35, "other", None, "pending")

    window.ask_new_case = ask  # type: ignore[method-assign]
    drop(window, QPointF(700, 300), mime)
    dialog = wait_results(qtbot, window)
    assert reasons and "1 dropped item" in (reasons[0] or "")
    created = [c for c in ws.list_cases() if c.patient_name == "Walk-in Patient"]
    assert len(created) == 1
    assert [d.name for d in ws.documents(created[0].id)] == ["scan.png"]
    assert window.case_view.case_id == created[0].id
    dialog.close()


def test_cancelled_new_case_attaches_nothing(qtbot, window: MainWindow, ws: Workspace,
                                             tmp_path: Path) -> None:
    window.ask_new_case = lambda reason=None: None  # type: ignore[method-assign]
    drop(window, QPointF(700, 300), file_mime([write_png(tmp_path / "x.png")]))
    qtbot.waitUntil(lambda: not window.drops.window_overlay.isVisible(), timeout=5000)
    settle(qtbot, window)
    assert ws.count_cases() == 0 and window.attacher.result_dialogs == []


def test_only_local_files_are_accepted(qtbot, window: MainWindow, ws: Workspace) -> None:
    cases(qtbot, window, ws)
    remote = QMimeData()
    remote.setUrls([QUrl("https://example.org/report.pdf")])
    assert not drag_enter(window, QPointF(700, 300), remote).isAccepted()
    text = QMimeData()
    text.setText("just text")
    assert not drag_enter(window, QPointF(700, 300), text).isAccepted()
    assert window.drops.target is None


def test_add_files_button(qtbot, window: MainWindow, ws: Workspace, tmp_path: Path) -> None:
    a, _b = cases(qtbot, window, ws)
    select_case(qtbot, window, a)
    png = write_png(tmp_path / "hand.png")
    window.ask_files = lambda: [png]  # type: ignore[method-assign]
    window.attach_action.trigger()  # Ctrl+O
    dialog = wait_results(qtbot, window)
    assert dialog.rows() == [("hand.png", "Attached", "")]
    dialog.close()


def test_category_combo_writes_through(qtbot, window: MainWindow, ws: Workspace,
                                       tmp_path: Path) -> None:
    a, _b = cases(qtbot, window, ws)
    ws.attach(a, [write_pdf(tmp_path / "labs.pdf")])
    select_case(qtbot, window, a)
    model = window.case_view.documents.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=5000)
    index = model.index(0, COL_CATEGORY)
    assert model.data(index) == "lab"
    assert model.flags(index) & Qt.ItemFlag.ItemIsEditable
    assert model.setData(index, "radiology")
    qtbot.waitUntil(lambda: model.data(index) == "radiology", timeout=5000)
    assert ws.documents(a)[0].category == "radiology"
    assert not model.setData(index, "x-ray")  # only the two known categories


def test_intake_progress_and_cancel(qtbot, window: MainWindow, ws: Workspace,
                                    tmp_path: Path) -> None:
    a, _b = cases(qtbot, window, ws)
    files = [write_png(tmp_path / f"img{i}.png", text=str(i), size=64) for i in range(30)]
    seen: list[tuple[int, int, str]] = []
    original = window.attacher._progress

    def progress(payload: tuple[int, int, str]) -> None:
        seen.append(payload)
        original(payload)

    window.attacher._progress = progress  # type: ignore[method-assign]
    window.attacher.attach(a, files[:3], "Amara Okafor")
    wait_results(qtbot, window).close()
    assert seen == [(1, 3, "img0.png"), (2, 3, "img1.png"), (3, 3, "img2.png")]
    assert window.attacher.progress.isHidden() and window.attacher.cancel_button.isHidden()

    window.attacher.attach(a, files[3:], "Amara Okafor")
    window.attacher.cancel_button.click()  # Cancel really cancels: the worker stops before the next file
    dialog = wait_results(qtbot, window, 2)
    assert len(ws.documents(a)) < 30
    assert "stopped before the end" in dialog.summary.text()
    dialog.close()



def test_the_drop_filter_sees_only_the_windows_drop_targets(qtbot) -> None:
    """Not an application-wide filter: that runs Python (and takes the GIL) for every event
    of every widget, which stalled the window while a sync worked. The window and the widgets
    that take drops of their own (text fields) are watched; nothing else."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QVBoxLayout, QWidget

    from desktop.ui.cases.case_table import CaseTable
    from desktop.ui.documents.drop import DropController

    seen: list[QObject] = []

    class Counting(DropController):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.User:
                seen.append(obj)
            return super().eventFilter(obj, event)

    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    table, field, label = CaseTable(), QLineEdit(), QLabel("static")
    for widget in (table, field, label):
        layout.addWidget(widget)
    Counting(window, table, field, window, open_case=lambda: None, row_label=lambda _: None)
    outside = QWidget()
    qtbot.addWidget(outside)
    for target in (outside, label, window, field):
        QApplication.sendEvent(target, QEvent(QEvent.Type.User))
    assert seen == [window, field]
