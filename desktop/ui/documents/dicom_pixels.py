"""DICOM pixels for viewing: read once off the GUI thread, then drawn at any window and level.

``read_dicom`` decodes the file (any thread; never raises: a note says what is wrong) into
stored values with the modality rescale applied (Hounsfield units for CT), and the window the
file suggests. ``render`` turns one frame into a grey QImage for a window centre and width, the
DICOM way (a linear VOI, MONOCHROME1 inverted), fast enough to follow a dragging mouse.

A file whose compression this computer can decode but whose image cannot be read is damaged,
and is called so; only a compression with no decoder here is "not supported".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage

from desktop.blob_seal import BlobDamaged
from desktop.errors import NotFoundError
from desktop.intake import StoredBytes

log = logging.getLogger(__name__)

MAX_DISPLAY_PX = 2048  # larger images are thinned for display (a dragged window stays smooth)

# Window presets (centre, width) in Hounsfield units, as radiology viewers name them.
PRESETS: dict[str, tuple[float, float]] = {
    "Soft tissue": (40, 400),
    "Lung": (-600, 1500),
    "Bone": (400, 1800),
    "Brain": (40, 80),
    "Abdomen": (60, 350),
}

# Technical fields only: these are safe to show and useful to a radiologist checking the study.
DICOM_FIELDS = (
    ("Modality", "Modality"),
    ("BodyPartExamined", "Body part"),
    ("StudyDate", "Study date"),
    ("SeriesDescription", "Series"),
    ("PhotometricInterpretation", "Photometric"),
    ("BitsStored", "Bits stored"),
    ("Manufacturer", "Manufacturer"),
)

DAMAGED = ("This DICOM file is damaged: its image could not be read, although this computer "
           "can decode its compression. The details it holds are shown.")
UNSUPPORTED = ("The image in this DICOM file is compressed in a way this computer cannot "
               "decode ({syntax}); the details are shown. Use “Open with system viewer” to view "
               "it in a DICOM viewer.")


@dataclass
class DicomImage:
    """What a DICOM viewer needs: frames of values, the file's window, metadata, a note."""

    frames: Any = None  # numpy array (frames, rows, cols) of float32, or (frames, r, c, 3) uint8
    colour: bool = False
    monochrome1: bool = False
    window: tuple[float, float] | None = None  # (centre, width) the file suggests
    value_range: tuple[float, float] = (0.0, 1.0)
    metadata: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    @property
    def frame_count(self) -> int:
        return 0 if self.frames is None else int(self.frames.shape[0])

    @property
    def full_range(self) -> tuple[float, float]:
        low, high = self.value_range
        return (low + high) / 2, max(1.0, high - low)

    @property
    def default_window(self) -> tuple[float, float]:
        return self.window or self.full_range


def read_dicom(path: Path | StoredBytes, max_px: int = MAX_DISPLAY_PX) -> DicomImage:
    """Decode a DICOM file for viewing; never raises (the note says why there is no image).

    A stored document is read through its store in pieces (decrypted and checked as pydicom
    asks for them), never through a file in clear."""
    import numpy as np
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        if isinstance(path, StoredBytes):
            with path.open() as stored:
                ds = pydicom.dcmread(stored)
        else:
            ds = pydicom.dcmread(str(path))
    except BlobDamaged as exc:
        return DicomImage(note=str(exc))
    except NotFoundError:
        return DicomImage(note="The file is missing from this computer.")
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, AttributeError) as exc:
        log.info("dicom unreadable: %s", type(exc).__name__)
        return DicomImage(note="This DICOM file is damaged: it could not be read.")
    result = DicomImage(metadata=_metadata(ds))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if "PixelData" not in ds:
        result.note = "This DICOM file holds no image (no pixel data)."
        return result
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many kinds; each is a note
        log.info("dicom pixel data not decodable: %s", type(exc).__name__)
        result.note = DAMAGED if decodable_here(ds) else UNSUPPORTED.format(
            syntax=result.metadata.get("Transfer syntax", "unknown"))
        return result
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if frames == 1:
        pixels = pixels[np.newaxis, ...]
    step = max(1, -(-max(pixels.shape[1], pixels.shape[2]) // max_px))
    if step > 1:
        pixels = pixels[:, ::step, ::step]
    if samples == 1:
        from pydicom.pixels import apply_modality_lut

        values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
        result.frames = np.ascontiguousarray(values)
        result.monochrome1 = photometric == "MONOCHROME1"
        result.value_range = (float(values.min()), float(values.max()))
        result.window = _file_window(ds, values)
    else:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        rgb = np.asarray(pixels)
        if rgb.dtype != np.uint8:
            top = float(rgb.max()) or 1.0
            rgb = (rgb.astype(np.float32) / top * 255).clip(0, 255).astype(np.uint8)
        result.frames = np.ascontiguousarray(rgb)
        result.colour = True
    return result


def decodable_here(ds: Any) -> bool:
    """Whether this computer has a decoder for the file's compression (and bit depth)."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000, JPEG2000Lossless, JPEGExtended12Bit

    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        return True  # no transfer syntax: read as uncompressed
    try:
        if not get_decoder(syntax).is_available:
            return False
    except (NotImplementedError, ValueError):
        return False
    bits = int(ds.get("BitsStored", 8) or 8)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if syntax == JPEGExtended12Bit and bits > 8:
        return False  # Pillow decodes 8-bit JPEG only
    return not (syntax in (JPEG2000, JPEG2000Lossless) and samples > 1 and bits > 8)


def _metadata(ds: Any) -> dict[str, str]:
    metadata: dict[str, str] = {}
    name = ds.get("PatientName")
    if name:
        metadata["Patient"] = str(name)  # shown to the clinician, never logged
    for keyword, label in DICOM_FIELDS:
        value = ds.get(keyword)
        if value not in (None, ""):
            metadata[label] = str(value)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows and cols:
        metadata["Size"] = f"{rows} × {cols}"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        metadata["Frames"] = str(frames)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        metadata["Transfer syntax"] = str(getattr(syntax, "name", syntax))
    return metadata


def _file_window(ds: Any, values: Any) -> tuple[float, float] | None:
    """The window the file suggests (its first, if several), or None."""
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return None
    try:
        c, w = _first(centre), _first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (c, w) if w >= 1 else None


def _first(value: Any) -> float:
    if isinstance(value, (str, bytes, int, float)):
        return float(value)
    return float(value[0])  # a multi-valued element


def render(image: DicomImage, frame: int, centre: float, width: float) -> QImage | None:
    """One frame as a grey (or colour) QImage at this window; None without pixels."""
    import numpy as np

    if image.frames is None or image.frame_count == 0:
        return None
    data = image.frames[max(0, min(frame, image.frame_count - 1))]
    if image.colour:
        h, w = data.shape[:2]
        return QImage(data.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    width = max(1.0, float(width))
    scale = 255.0 / max(1.0, width - 1)
    low = centre - 0.5 - (width - 1) / 2
    grey = np.clip((data - low) * scale, 0, 255).astype(np.uint8)
    if image.monochrome1:
        grey = 255 - grey  # MONOCHROME1: low values are white
    grey = np.ascontiguousarray(grey)
    h, w = grey.shape
    return QImage(grey.tobytes(), w, h, w, QImage.Format.Format_Grayscale8).copy()
