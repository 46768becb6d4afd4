"""Whole files of the types intake checks, of any size, written without holding them in
memory: a PDF with one page and one large stream, a PNG of many IDAT chunks, an uncompressed
multi-frame DICOM image. The bytes inside are incompressible noise (bench.measure.generate's
pool), framed as each format requires (lengths, CRCs, cross-references), so a structure check
walks the same amount of data a real file of that size would give it."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from bench.measure import MIB

KINDS = ("pdf", "png", "dicom")


def _noise(size: int) -> list[bytes]:
    """``size`` bytes of noise in 1 MiB blocks (the last one shorter), no two alike."""
    pool = os.urandom(16 * MIB)
    blocks = []
    done = 0
    index = 0
    while done < size:
        n = min(MIB, size - done)
        block = bytearray(pool[(index % 16) * MIB:(index % 16) * MIB + n])
        block[:8] = struct.pack("<Q", index)[:n]
        blocks.append(bytes(block))
        done += n
        index += 1
    return blocks


def write_pdf(path: Path, size: int) -> None:
    """One page whose content is an image XObject of ``size`` bytes (a scanned report)."""
    with open(path, "wb") as f:
        offsets: list[int] = []

        def obj(body: bytes) -> None:
            offsets.append(f.tell())
            f.write(f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n")

        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        obj(b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>")
        offsets.append(f.tell())
        f.write(f"4 0 obj\n<< /Type /XObject /Subtype /Image /Width 1 /Height 1 "
                f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length {size} >>\nstream\n".encode())
        for block in _noise(size):
            f.write(block)
        f.write(b"\nendstream\nendobj\n")
        obj(b"<< /Length 24 >>\nstream\nq 595 0 0 842 0 0 cm /Im0 Do Q\nendstream")
        xref = f.tell()
        f.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for offset in offsets:
            f.write(f"{offset:010d} 00000 n \n".encode())
        f.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
                "%%EOF\n".encode())


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF)


def write_png(path: Path, size: int) -> None:
    """A greyscale image whose IDAT chunks (1 MiB each) hold ``size`` bytes."""
    side = 1 << 15
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        for block in _noise(size):
            f.write(_chunk(b"IDAT", block))
        f.write(_chunk(b"IEND", b""))


def write_dicom(path: Path, size: int) -> None:
    """An uncompressed 16-bit CT series: frames of 512 × 512 up to ``size`` bytes of pixels."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    frame = 512 * 512 * 2
    frames = max(1, size // frame)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Bench^Patient"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = frames
    head = io.BytesIO()
    dcmwrite(head, ds, enforce_file_format=True)
    with open(path, "wb") as f:
        f.write(head.getvalue())
        # (7FE0,0010) OW, explicit VR little endian: tag, VR, two reserved bytes, length.
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, frames * frame))
        for block in _noise(frames * frame):
            f.write(block)


WRITERS = {"pdf": write_pdf, "png": write_png, "dicom": write_dicom}
