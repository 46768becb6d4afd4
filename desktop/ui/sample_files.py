"""Sample documents drawn on the spot: a PDF lab report, a PNG image and DICOM slices
(uncompressed, JPEG, JPEG 2000, or damaged). The packaged self-test takes them in and previews
them; tests and the screenshot tool use them too. Made-up content, no real person's data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_png(path: Path, text: str = "X-ray", size: int = 640) -> Path:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter, QRadialGradient

    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QRadialGradient(size / 2, size / 2, size / 2)
    gradient.setColorAt(0, QColor(200, 200, 200))
    gradient.setColorAt(1, QColor(20, 20, 20))
    p.setBrush(gradient)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(QRectF(size * 0.15, size * 0.1, size * 0.7, size * 0.8))
    p.setPen(QColor("white"))
    p.drawText(QRectF(0, 0, size, 40), int(Qt.AlignmentFlag.AlignCenter), text)
    p.end()
    image.save(str(path), "PNG")
    return path


def write_pdf(path: Path, pages: int = 2, title: str = "Laboratory report") -> Path:
    from PySide6.QtCore import QMarginsF, QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter

    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait, QMarginsF(15, 15, 15, 15)))
    writer.setResolution(150)
    p = QPainter(writer)
    w = writer.width()
    rows = [("Haemoglobin", "13.2 g/dL", "12.0–15.5"), ("Leukocytes", "12.1 ×10⁹/L", "4.0–10.0"),
            ("CRP", "48 mg/L", "< 5"), ("Sodium", "139 mmol/L", "135–145"),
            ("Potassium", "4.1 mmol/L", "3.5–5.1"), ("Creatinine", "78 µmol/L", "45–90")]
    for page in range(pages):
        if page:
            writer.newPage()
        p.setPen(QColor("#1565c0"))
        p.setFont(QFont("Sans", 20, QFont.Weight.Bold))
        p.drawText(QRectF(0, 0, w, 80), int(Qt.AlignmentFlag.AlignLeft), f"{title} — page {page + 1}")
        p.setPen(QColor("black"))
        p.setFont(QFont("Sans", 11))
        y = 140
        for name, value, ref in rows:
            p.drawText(QRectF(0, y, w * 0.4, 40), int(Qt.AlignmentFlag.AlignLeft), name)
            p.drawText(QRectF(w * 0.4, y, w * 0.3, 40), int(Qt.AlignmentFlag.AlignLeft), value)
            p.drawText(QRectF(w * 0.7, y, w * 0.3, 40), int(Qt.AlignmentFlag.AlignLeft), ref)
            y += 50
        p.drawLine(0, y + 10, w, y + 10)
    p.end()
    return path


def write_dicom(path: Path, photometric: str = "MONOCHROME2", rows: int = 256, cols: int = 256,
                encoding: str = "raw", frames: int = 1) -> Path:
    """A synthetic CT-like chest slice (``frames`` > 1: a series of them, uncompressed, the
    heart moving). ``encoding``: "raw" (12 bits in 16), "jpeg" (JPEG baseline, 8 bits),
    "jpeg2000" (lossless, 12 bits in 16), "broken" (claims JPEG 2000 but holds a truncated
    stream: damaged), or "jpegls" (claims JPEG-LS, which nothing here decodes: unsupported)."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        CTImageStorage,
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        generate_uid,
    )

    def chest(level: int) -> Any:
        """An axial chest-like slice, stored values = HU + 1024: air around a body of soft
        tissue, two lungs, a heart, a spine, and vessels in the lungs; ``level`` moves the
        heart a little, slice to slice."""
        y, x = np.mgrid[0:rows, 0:cols] / np.array([rows, cols]).reshape(2, 1, 1)
        hu = np.full((rows, cols), -1000.0)
        hu[((x - 0.5) / 0.42) ** 2 + ((y - 0.52) / 0.34) ** 2 < 1] = 40  # soft tissue
        for side in (0.31, 0.69):  # lungs
            hu[((x - side) / 0.15) ** 2 + ((y - 0.47) / 0.22) ** 2 < 1] = -820
            for dx, dy in ((0.02, -0.05), (-0.03, 0.06), (0.04, 0.1)):  # vessels
                hu[(x - side - dx) ** 2 + (y - 0.47 - dy) ** 2 < 0.0002] = 30
        heart = 0.55 + 0.01 * level
        hu[((x - 0.45) / 0.12) ** 2 + ((y - heart) / 0.11) ** 2 < 1] = 55
        hu[(x - 0.5) ** 2 + (y - 0.78) ** 2 < 0.004] = 700  # a vertebra
        return (hu + 1024).clip(0, 4095).astype(np.uint16)

    pixels = chest(0)
    syntax = {"raw": ExplicitVRLittleEndian, "jpeg": JPEGBaseline8Bit,
              "jpeg2000": JPEG2000Lossless, "broken": JPEG2000Lossless,
              "jpegls": JPEGLSLossless}[encoding]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Test^Synthetic"
    ds.PatientID = "SYN-0001"
    ds.Modality = "CT"
    ds.BodyPartExamined = "CHEST"
    ds.StudyDate = "20261120"
    ds.SeriesDescription = "Axial chest (synthetic)"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    if encoding == "raw" and frames > 1:
        series = []
        for n in range(frames):
            series.append(chest(n))
        ds.NumberOfFrames = frames
        ds.PixelData = np.stack(series).tobytes()
    elif encoding == "raw":
        ds.PixelData = pixels.tobytes()
    elif encoding == "broken":
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
    elif encoding == "jpegls":
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\x00" * 64 + b"\xff\xd9"])
    else:
        from PIL import Image

        if encoding == "jpeg":  # baseline JPEG holds 8 bits: the slice scaled down
            pixels = (pixels >> 4).astype(np.uint8)
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            ds.RescaleSlope = 16
            image, options = Image.fromarray(pixels), {"format": "JPEG", "quality": 90}
        else:
            image = Image.fromarray(pixels)  # uint16: 16-bit greyscale ("I;16")
            options = {"format": "JPEG2000", "irreversible": False}
        encoded = io.BytesIO()
        image.save(encoded, **options)
        ds.PixelData = encapsulate([encoded.getvalue()])
    if encoding != "raw":
        ds["PixelData"].VR = "OB"
    ds.save_as(str(path), enforce_file_format=True)
    return path
