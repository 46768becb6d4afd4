"""Made-up cases and documents for screenshots, benchmarks and tests (no real person's data)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from desktop.models.tables import Case
from desktop.workspace import Workspace

FIRST = ["Amara", "Bruno", "Chen", "Dalia", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana",
         "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zora"]
LAST = ["Abara", "Berger", "Castillo", "Dubois", "Eriksen", "Fontaine", "Gallo", "Haddad",
        "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrova",
        "Quist", "Rossi", "Sato", "Tanaka", "Urban", "Varga", "Weber", "Xu", "Young", "Zeller"]
NOTES = ["Persistent cough for three weeks, no fever.", "Follow-up after fracture of the left radius.",
         "Chest pain on exertion; ECG normal.", "Routine check, elevated blood pressure.",
         "Headache and blurred vision since Monday.", "Abdominal pain, lower right quadrant.",
         "Shortness of breath, history of asthma.", "Rash on both forearms after new medication."]
STATUSES = ["pending", "processing", "analyzing", "completed", "completed", "failed", "archived"]
SYNC = ["synced"] * 6 + ["pending", "pending", "conflict", "error", "removed_remotely"]
SYNC_ERRORS = {"error": "The server refused the change: patient_age must be an integer.",
               "conflict": None, "removed_remotely": None}

INSIGHTS: dict[str, Any] = {
    "comprehensive_summary": "Adult patient with a three-week productive cough and mild "
                             "dyspnoea. Chest X-ray shows a right lower lobe opacity; "
                             "CRP is raised (48 mg/L).",
    "key_findings": ["Right lower lobe consolidation on chest X-ray",
                     "CRP 48 mg/L, leukocytes 12.1 × 10⁹/L", "SpO₂ 95% on room air"],
    "soap_subjective": "Cough with yellow sputum for 3 weeks, tired, mild breathlessness on stairs.",
    "soap_objective": "T 37.9 °C, RR 20, crackles right base. CXR: RLL opacity.",
    "soap_assessment": "Community-acquired pneumonia, right lower lobe, CURB-65 score 0.",
    "soap_plan": "Amoxicillin 1 g three times daily for 5 days; review in 48 hours; "
                 "repeat X-ray in 6 weeks.",
    "primary_diagnosis": "Community-acquired pneumonia",
    "icd_code": "J18.1",
    "diagnosis_confidence_score": 0.87,
    "overall_confidence_score": 0.82,
    "generated_at": "2026-11-20T14:05:00Z",
}


def fake_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        sync = rng.choice(SYNC)
        when = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        rows.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "server_id": None if sync == "pending" else f"srv-{i}",
            "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "patient_age": rng.randint(0, 99),
            "patient_gender": rng.choice(["female", "male", "female", "male", "other"]),
            "case_summary": rng.choice(NOTES),
            "status": rng.choice(STATUSES),
            "created_at": when,
            "updated_at": when,
            "sync_state": sync,
            "sync_error": SYNC_ERRORS.get(sync),
            "detail_stale": False,
        })
    return rows


def bulk_insert(ws: Workspace, count: int, seed: int = 7) -> None:
    """Insert many cases in one transaction, straight through the table (no outbox rows)."""
    rows = fake_rows(count, seed)
    with ws.transaction() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Case.__table__), rows[start : start + 5000])


# ------------------------------------------------------------------ sample files (need Qt)


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
                encoding: str = "raw") -> Path:
    """A synthetic CT-like slice. ``encoding``: "raw" (12 bits in 16), "jpeg" (JPEG baseline,
    8 bits), "jpeg2000" (lossless, 12 bits in 16), or "broken" (claims JPEG 2000 but holds a
    truncated stream that no decoder can read)."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        CTImageStorage,
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        generate_uid,
    )

    y, x = np.mgrid[0:rows, 0:cols]
    r = np.hypot(x - cols / 2, y - rows / 2)
    pixels = np.where(r < rows * 0.4, 1000 + (r * 3), 0).astype(np.uint16)
    pixels[rows // 3 : rows // 3 + 20, cols // 3 : cols // 3 + 20] = 2000
    syntax = {"raw": ExplicitVRLittleEndian, "jpeg": JPEGBaseline8Bit,
              "jpeg2000": JPEG2000Lossless, "broken": JPEG2000Lossless}[encoding]
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
    if encoding == "raw":
        ds.PixelData = pixels.tobytes()
    elif encoding == "broken":
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
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
