"""Documents you can read: PDF zoom, fit width/page, continuous pages, text selection and
copy, find; images zoomed and panned; DICOM window/level by dragging, presets, zoom, pan and
frames; any document in a window of its own; labels never cut; six rows of documents; and
"Open with system viewer" says when nothing could open the file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QApplication

from desktop.ui.documents.document_window import DocumentWindow
from desktop.ui.documents.pdf_viewer import PdfViewer, pdf_page_rect_in_viewport
from desktop.ui.documents.preview import NOTHING_OPENED, OPENED, PreviewWidget
from desktop.ui.main_window import MainWindow
from desktop.ui.operations import OperationRunner
from desktop.ui.sample_files import write_dicom, write_pdf, write_png
from desktop.workspace import Workspace

from ..conftest import settle
from .test_preview import show_documents


@pytest.fixture
def runner(qapp):
    lanes = OperationRunner()
    yield lanes
    lanes.shutdown()


@pytest.fixture
def pdf_viewer(qtbot, tmp_path: Path) -> PdfViewer:
    viewer = PdfViewer()
    qtbot.addWidget(viewer)
    viewer.resize(700, 600)
    viewer.show()
    assert viewer.open(write_pdf(tmp_path / "labs.pdf", pages=3)) is None
    QApplication.processEvents()
    return viewer


def painted(viewer: PdfViewer) -> object:
    QApplication.processEvents()
    return viewer.view.viewport().grab().toImage()


@pytest.mark.parametrize("mode", ["width", "page", "zoom"])
def test_where_pages_are_drawn_matches_qpdfview(qtbot, pdf_viewer: PdfViewer, mode: str) -> None:
    """Selection maps the mouse to the page through this layout: it must match the pixels."""
    {"width": pdf_viewer.fit_width, "page": pdf_viewer.fit_page,
     "zoom": lambda: pdf_viewer.set_zoom(1.6)}[mode]()
    qtbot.waitUntil(lambda: painted(pdf_viewer).pixelColor(30, 30).lightness() > 250
                    or mode == "page", timeout=5000)
    image = painted(pdf_viewer)
    rect = pdf_page_rect_in_viewport(pdf_viewer.view, 0)
    top, left = int(rect.top()), int(rect.left())
    y = top + 5
    assert image.pixelColor(left + 1, y).lightness() == 255  # paper
    assert image.pixelColor(left - 2, y).lightness() < 200  # the view's dark background
    x = int(rect.center().x())
    assert image.pixelColor(x, top + 1).lightness() == 255
    assert image.pixelColor(x, top - 2).lightness() < 200


def test_pdf_zoom_and_fit(qtbot, pdf_viewer: PdfViewer) -> None:
    view = pdf_viewer.view
    assert view.pageMode() == QPdfView.PageMode.MultiPage  # continuous pages
    assert view.zoomMode() == QPdfView.ZoomMode.FitToWidth  # readable from the start
    fitted = pdf_page_rect_in_viewport(view, 0)
    assert fitted.width() == view.viewport().width() - 12  # the width, less the margins
    before = pdf_viewer.effective_zoom()
    pdf_viewer.zoom_in()
    assert pdf_viewer.effective_zoom() == pytest.approx(before * 1.25, rel=0.01)
    assert pdf_viewer.zoom_label.text() == f"{before * 125:.0f}%"
    assert view.horizontalScrollBar().maximum() > 0  # wider than the view: scroll sideways
    pdf_viewer.zoom_out()
    pdf_viewer.zoom_out()
    assert pdf_viewer.effective_zoom() == pytest.approx(before / 1.25, rel=0.01)
    pdf_viewer.fit_page()
    whole = pdf_page_rect_in_viewport(view, 0)
    assert whole.height() <= view.viewport().height() and pdf_viewer.fit_page_button.isChecked()
    pdf_viewer.fit_width()
    assert pdf_viewer.fit_width_button.isChecked()


def test_pdf_pages_scroll_continuously_and_the_page_box_follows(qtbot,
                                                                pdf_viewer: PdfViewer) -> None:
    bar = pdf_viewer.view.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: pdf_viewer.page == 2, timeout=5000)
    assert pdf_viewer.page_box.value() == 3
    pdf_viewer.page_box.setValue(2)
    qtbot.waitUntil(lambda: pdf_viewer.page == 1, timeout=5000)
    assert bar.value() == int(pdf_page_rect_in_viewport(pdf_viewer.view, 1).top()) + bar.value()


def test_pdf_text_is_selected_with_the_mouse_and_copied(qtbot, pdf_viewer: PdfViewer) -> None:
    view = pdf_viewer.view
    doc = pdf_viewer.document
    rect = pdf_page_rect_in_viewport(view, 0)
    scale = rect.width() / doc.pagePointSize(0).width()
    # Where "Haemoglobin 13.2" is on the page (points), to drag along it as a person would.
    first = doc.getAllText(0).text().index("Haemoglobin")
    words = doc.getSelectionAtIndex(0, first, len("Haemoglobin 13.2")).boundingRectangle()
    row = QPoint(int(rect.left() + (words.left() + 1) * scale),
                 int(rect.top() + words.center().y() * scale))
    end = QPoint(int(rect.left() + (words.right() - 1) * scale), row.y())
    from PySide6.QtTest import QTest

    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     row)
    QTest.mouseMove(view.viewport(), end)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, end)
    text = view.selected_text()
    assert text.startswith("Haemoglobin") and "13.2" in text, repr(text)
    QApplication.clipboard().clear()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == text
    qtbot.keyClick(view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # the whole page
    assert "Creatinine" in view.selected_text() and "Haemoglobin" in view.selected_text()


def test_find_in_the_pdf(qtbot, pdf_viewer: PdfViewer) -> None:
    pdf_viewer.focus_find()
    qtbot.keyClicks(pdf_viewer.find_box, "Potassium")
    qtbot.keyClick(pdf_viewer.find_box, Qt.Key.Key_Return)  # at once: goes there when found
    qtbot.waitUntil(lambda: pdf_viewer.find_count.text() == "1 of 3", timeout=10000)
    pdf_viewer.find_box.setText("")
    pdf_viewer.find_box.setText("Potassium")
    qtbot.waitUntil(lambda: pdf_viewer.matches() == 3, timeout=10000)  # once per page
    assert pdf_viewer.search.rowCount(QModelIndex()) == 3
    for expected in (0, 1, 2):
        qtbot.keyClick(pdf_viewer.find_box, Qt.Key.Key_Return)  # the next match
        qtbot.waitUntil(lambda e=expected: pdf_viewer.page == e, timeout=5000)
        assert pdf_viewer.find_count.text() == f"{expected + 1} of 3"
    pdf_viewer.find_box.setText("no such word")
    qtbot.waitUntil(lambda: pdf_viewer.find_count.text() == "no matches", timeout=5000)


def test_images_zoom_and_pan(qtbot, runner, tmp_path: Path) -> None:
    preview = PreviewWidget(runner)
    qtbot.addWidget(preview)
    preview.resize(600, 500)
    preview.show()
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        preview.show_document("scan.png", "image/png", write_png(tmp_path / "s.png", size=2400))
    view = preview.image.view
    assert preview.kind == "image" and view.fitted and view.zoom < 0.3  # all of it at first
    assert view.item.pixmap().width() == 2400  # every pixel, for zooming in
    preview.zoom_in_action.trigger()
    preview.zoom_in_action.trigger()
    assert view.zoom == pytest.approx(view.zoom, rel=0.01) and not view.fitted
    view.actual_size()
    assert view.zoom == 1.0
    bar = view.horizontalScrollBar()
    start = bar.value()
    from PySide6.QtTest import QTest

    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(300, 200))
    QTest.mouseMove(view.viewport(), QPoint(200, 200))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    assert bar.value() != start  # dragged sideways
    preview.fit_page_action.trigger()
    assert view.fitted


def dicom_preview(qtbot, runner, path: Path) -> PreviewWidget:
    preview = PreviewWidget(runner)
    qtbot.addWidget(preview)
    preview.resize(700, 560)
    preview.show()
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        preview.show_document(path.name, "application/dicom", path)
    assert preview.kind == "dicom"
    return preview


def centre_grey(preview: PreviewWidget) -> int:
    return preview.dicom.view.item.pixmap().toImage().pixelColor(128, 128).value()


def test_dicom_window_and_level_by_dragging(qtbot, runner, tmp_path: Path) -> None:
    from PySide6.QtTest import QTest

    preview = dicom_preview(qtbot, runner, write_dicom(tmp_path / "ct.dcm"))
    dicom = preview.dicom
    assert dicom.view.window == (40.0, 400.0)  # the file's own window first
    assert dicom.window_label.text() == "W 400  L 40"
    before = centre_grey(preview)
    port = dicom.view.viewport()
    QTest.mousePress(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(100, 100))
    QTest.mouseMove(port, QPoint(160, 60))  # wider, and the level down
    QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(160, 60))
    centre, width = dicom.view.window
    assert width > 400 and centre < 40
    assert dicom.preset.currentText() == "Custom (dragged)"
    assert centre_grey(preview) != before
    assert dicom.window_label.text() == f"W {width:.0f}  L {centre:.0f}"


@pytest.mark.parametrize(("preset", "window"), [("Lung", (-600, 1500)), ("Bone", (400, 1800)),
                                                ("Soft tissue", (40, 400)),
                                                ("Brain", (40, 80))])
def test_dicom_presets(qtbot, runner, tmp_path: Path, preset: str, window) -> None:
    preview = dicom_preview(qtbot, runner, write_dicom(tmp_path / "ct.dcm"))
    dicom = preview.dicom
    dicom.preset.setCurrentText(preset)
    dicom.preset.activated.emit(dicom.preset.currentIndex())  # chosen as a person does
    assert dicom.view.window == window
    dicom.apply_preset("Full range")
    full = centre_grey(preview)
    dicom.apply_preset(preset)
    assert centre_grey(preview) != full or preset == "Soft tissue"


def test_dicom_zoom_pan_and_frames(qtbot, runner, tmp_path: Path) -> None:
    from PySide6.QtTest import QTest

    preview = dicom_preview(qtbot, runner, write_dicom(tmp_path / "series.dcm", frames=6))
    dicom = preview.dicom
    assert dicom.frames_row.isVisible() and dicom.slider.maximum() == 5
    assert dicom.frame_label.text() == "Frame 1 of 6"
    first = dicom.view.item.pixmap().toImage()
    dicom.slider.setValue(4)
    assert dicom.frame == 4 and dicom.frame_label.text() == "Frame 5 of 6"
    assert dicom.view.item.pixmap().toImage() != first
    for _ in range(4):
        preview.zoom_in_action.trigger()
    view = dicom.view
    assert view.zoom > 1.0
    bar = view.verticalScrollBar()
    start = bar.value()
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ShiftModifier, QPoint(200, 200))
    QTest.mouseMove(view.viewport(), QPoint(200, 120))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.ShiftModifier, QPoint(200, 120))
    assert bar.value() != start and dicom.view.window == (40.0, 400.0)  # panned, not windowed
    assert preview.page == 4


def test_dicom_details_are_never_cut_short(qtbot, runner, tmp_path: Path) -> None:
    preview = dicom_preview(qtbot, runner, write_dicom(tmp_path / "ct.dcm", encoding="jpeg2000"))
    preview.resize(560, 500)  # narrow
    QApplication.processEvents()
    labels = preview.meta.labels
    assert any(label.text() == "Transfer syntax:" for label in labels)
    for label in labels:
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), label.text()


def test_any_document_opens_in_a_window_of_its_own(qtbot, window: MainWindow, ws: Workspace,
                                                   tmp_path: Path) -> None:
    case = ws.create_case("Amara Okafor", 47, "female")
    ws.attach(case.id, [write_pdf(tmp_path / "labs.pdf", pages=3)])
    docs = show_documents(qtbot, window, case.id, 1)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    window.preview.window_action.trigger()  # Case › Open document in a new window
    [own] = window.preview.windows
    assert isinstance(own, DocumentWindow) and own.isVisible()
    assert own.windowTitle() == "labs.pdf — Case Desk"
    # Its bytes are decrypted in a worker, then shown.
    qtbot.waitUntil(lambda: own.preview.kind == "pdf", timeout=10000)
    assert own.preview.pdf.document.pageCount() == 3
    own.preview.pdf.go_to_page(2)
    qtbot.waitUntil(lambda: own.preview.page == 2, timeout=5000)
    assert window.preview.page == 0  # each window has its own place
    own.close()
    qtbot.waitUntil(lambda: window.preview.windows == [], timeout=5000)
    settle(qtbot, window)


def test_the_documents_list_shows_six_rows_and_its_splitter_is_kept(
        qtbot, make_window, ws: Workspace, tmp_path: Path) -> None:
    case = ws.create_case("Amara Okafor", 47, "female")
    ws.attach(case.id, [write_png(tmp_path / f"scan-{n}.png", f"scan {n}") for n in range(8)])
    window = make_window()
    window.resize(1024, 768)
    docs = show_documents(qtbot, window, case.id, 8)
    QApplication.processEvents()
    table = docs.table
    rows = table.viewport().height() // table.rowHeight(0)
    assert rows >= 6, rows
    docs.splitter.setSizes([400, 300])
    sizes = docs.splitter.sizes()
    window.close()
    again = make_window()
    again.resize(1024, 768)
    show_documents(qtbot, again, case.id, 8)
    QApplication.processEvents()
    assert again.case_view.documents.splitter.sizes() == sizes


def test_system_viewer_says_when_nothing_could_open_the_file(qtbot, window: MainWindow,
                                                            ws: Workspace,
                                                            tmp_path: Path) -> None:
    """The platform's opener exits with a failure when no program takes the file (xdg-open:
    3 or 4): the note says so. One that succeeds, or is still running, opened it."""
    case = ws.create_case("Amara Okafor", 47, "female")
    ws.attach(case.id, [write_pdf(tmp_path / "labs.pdf")])
    docs = show_documents(qtbot, window, case.id, 1)
    preview = window.preview
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    preview.viewer_command = [sys.executable, "-c", "raise SystemExit(3)"]
    preview.open_button.click()
    qtbot.waitUntil(lambda: preview.note.text() == NOTHING_OPENED, timeout=5000)
    assert preview.note.isVisible()
    seen = tmp_path / "opened"
    preview.viewer_command = [sys.executable, "-c",
                              "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", str(seen)]
    preview.external_action.trigger()
    qtbot.waitUntil(lambda: preview.note.text() == OPENED, timeout=5000)
    assert Path(seen.read_text()).name == "labs.pdf"
    settle(qtbot, window)


def test_the_pdf_toolbar_mapping_of_a_point(qtbot, pdf_viewer: PdfViewer) -> None:
    rect = pdf_page_rect_in_viewport(pdf_viewer.view, 0)
    hit = pdf_viewer.view.page_at(QPointF(rect.left() + rect.width() / 2, rect.top() + 10))
    assert hit is not None and hit[0] == 0
    assert hit[1].x() == pytest.approx(595 / 2, abs=2)


def test_a_picture_with_its_details_fits_a_1024_screen(qtbot, make_window, ws: Workspace,
                                                       tmp_path: Path) -> None:
    case = ws.create_case("Amara Okafor", 47, "female")
    ws.attach(case.id, [write_dicom(tmp_path / "ct.dcm", frames=3, encoding="raw")])
    window = make_window()
    window.resize(1024, 740)
    docs = show_documents(qtbot, window, case.id, 1)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= 1024 and window.width() == 1024
    meta = window.preview.meta
    assert meta.isVisible() and not meta.beside  # under the picture in this narrow view
    for label in meta.labels:
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), label.text()
    window.resize(1600, 900)  # wide: the details go beside the picture
    qtbot.waitUntil(lambda: meta.beside, timeout=5000)
