"""Whether a file is what it claims and whole, before intake accepts it.

The sniff (``intake.sniff``) names a type from the first bytes; a file that is only its
signature, a PDF cut off before its cross-reference, or a DICOM image whose compressed frame
stops half-way passes that. So each accepted type is parsed far enough to know it is whole:

- **PDF** (pypdf): the header, a cross-reference (or one rebuilt from the objects) with its
  trailer, and at least one page.
- **PNG**: every chunk to IEND, each CRC checked (Pillow reads the header).
- **JPEG**: the marker segments from SOI to the first scan (Pillow reads them), and an EOI.
- **DICOM** (pydicom): the dataset parses to its end, every value lies inside the file, and it
  has pixel data (native: as long as the image it describes; encapsulated: every fragment
  inside the file, each frame starting and ending with its codec's markers, the first frame
  decoded by Pillow when it can) or is a kind that holds none (a report, a document, a
  presentation state). A preamble holding a program (CVE-2019-11687) is refused.
- **TIFF** and **WebP**: every strip, tile or chunk inside the file. **Word**: the OLE2
  structure (olefile) or the zip with every member's CRC (zipfile). **Text**: no NUL byte.

Names and content: a name promising a binary format (``.pdf``, ``.dcm``, ``.png``, …) on text is
refused with both facts; HTML, SVG with scripts, and programs are refused whatever their name.

Memory stays flat: what can be checked on the way is checked as intake copies the bytes
(:meth:`Inspection.feed`: PNG CRCs, NULs, scripts); the rest is read by seeking (the PDF's
cross-reference at its end, a JPEG's markers, a DICOM element's header), never by loading the
file. Qt-free and database-free; reasons are worded for a clinician, as intake's are.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

# Content types, as intake records them (intake's FileKind.mime).
PDF, PNG, JPEG, DICOM = "application/pdf", "image/png", "image/jpeg", "application/dicom"
TIFF, WEBP, DOC = "image/tiff", "image/webp", "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT, CSV = "text/plain", "text/csv"

# Extensions that promise a binary format, and the format's name.
BINARY_NAMES = {".pdf": "a PDF document", ".dcm": "a DICOM image", ".dicom": "a DICOM image",
                ".png": "a PNG image", ".jpg": "a JPEG image", ".jpeg": "a JPEG image",
                ".tif": "a TIFF image", ".tiff": "a TIFF image", ".webp": "a WebP image",
                ".doc": "a Word document", ".docx": "a Word document"}

# The first bytes of programs (Windows, Linux, macOS, Java) and of scripts.
PROGRAMS = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
            b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_MARKUP_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"(?:<!doctype\s+html|<html|<head|<body|<script|<iframe|<\?php)", re.IGNORECASE | re.DOTALL)
_SVG_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
                        rb"(?:<!doctype\s+svg[^>]*>\s*)?<svg", re.IGNORECASE | re.DOTALL)
# What makes markup run code: a script element, an event handler, a javascript: address.
_ACTIVE = re.compile(rb"<script|<foreignobject|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
_OVERLAP = 64  # bytes kept between chunks so a pattern split by a chunk edge is still seen

MAX_READ = 64 << 20  # one read a parser may ask for (a PDF object stream, say)
MAX_DECODE = 64 << 20  # a compressed DICOM frame is decoded when it is at most this big
MAX_UNZIPPED = 4 << 30  # a Word document (.docx) may unpack to at most this

# DICOM objects that hold no image: structured reports, encapsulated documents, presentation
# states, key-object selections, waveforms, RT plans and structures, raw data, registrations.
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.104.",
    "1.2.840.10008.5.1.4.1.1.11.", "1.2.840.10008.5.1.4.1.1.9.",
    "1.2.840.10008.5.1.4.1.1.481.2", "1.2.840.10008.5.1.4.1.1.481.3",
    "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8",
    "1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.67",
)
# Encapsulated transfer syntaxes whose frames start with SOI (JPEG, JPEG-LS) or SOC (JPEG
# 2000, HTJ2K) and end with EOI/EOC (both FF D9); RLE frames start with their own header.
_JPEG_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                  "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
_J2K_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                 "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                 "1.2.840.10008.1.2.4.203"}
_DECODABLE = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
_RLE = "1.2.840.10008.1.2.5"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}


class Refused(Exception):
    """The file is not taken; ``str()`` is the reason, worded for a clinician."""


class Damaged(Refused):
    """The file claims a type but is not a whole, readable file of it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"damaged: {what}")


@dataclass(frozen=True)
class DicomPatient:
    """The patient a DICOM header names (either may be absent)."""

    name: str | None
    id: str | None


@dataclass
class Verdict:
    """What the check learnt besides "whole": the patient of a DICOM file."""

    dicom_patient: DicomPatient | None = None


# ------------------------------------------------------------------ before the copy


def judge(name: str, head: bytes, mime: str) -> None:
    """Checks on the name and the first bytes (:class:`Refused`): programs and scripts
    whatever their name, a program hidden in a DICOM preamble, text named as a binary format.
    """
    if mime == DICOM and head[:128].startswith((*PROGRAMS, b"#!")):
        raise Refused("refused: the DICOM file's preamble holds a program (a file that is "
                      "both a DICOM image and a program, CVE-2019-11687); ask for a clean "
                      "export of the image")
    if head.startswith(PROGRAMS) or head.startswith(b"#!"):
        raise Refused("refused: the content is a program or a script, whatever its name; "
                      "Case Desk does not keep programs with patient records")
    if mime in (TEXT, CSV):
        if _MARKUP_START.match(head):
            raise Refused("refused: the content is a web page (HTML), which can run scripts, "
                          "whatever its name; save it as PDF to attach it")
        extension = Path(name).suffix.lower()
        if extension in BINARY_NAMES:
            what = "a CSV table" if mime == CSV else "plain text"
            raise Refused(f"refused: the name ends in {extension}, which promises "
                          f"{BINARY_NAMES[extension]}, but the content is {what}; check that "
                          "this is the right file")


# ------------------------------------------------------------------ during and after the copy


@dataclass
class Inspection:
    """One file's check: ``feed`` sees the bytes as intake copies them, ``finish`` reads the
    copy by seeking and gives the :class:`Verdict` (or raises :class:`Refused`)."""

    mime: str
    head: bytes
    _png: _PngWalk | None = None
    _scan: bytes | None = None  # markup scanned for scripts: the tail of the last chunk
    _offset: int = 0
    _problem: Refused | None = None
    _nul_at: int | None = None

    def __post_init__(self) -> None:
        if self.mime == PNG:
            self._png = _PngWalk()
        if self.mime in (TEXT, CSV) and _SVG_START.match(self.head):
            self._scan = b""

    def feed(self, chunk: memoryview | bytes) -> None:
        """The next bytes of the file, in order (a problem is kept for ``finish``)."""
        if self._problem is not None:
            return
        try:
            if self._png is not None:
                self._png.feed(chunk)
            elif self.mime in (TEXT, CSV):
                data = bytes(chunk)
                if self._nul_at is None and b"\x00" in data:
                    self._nul_at = self._offset + data.index(b"\x00")
                if self._scan is not None:
                    window = self._scan + data
                    if _ACTIVE.search(window):
                        raise Refused("refused: the content is an SVG drawing with a script "
                                      "in it, which could run when it is opened; attach a "
                                      "PNG or PDF of it instead")
                    self._scan = window[-_OVERLAP:]
        except Refused as exc:
            self._problem = exc
        self._offset += len(chunk)

    def finish(self, open_content: Callable[[], BinaryIO], size: int) -> Verdict:
        """The structure check of the kept copy; *open_content* gives a seekable reader on
        its plaintext (the store's own reader: the copy on disk is sealed)."""
        if self._problem is not None:
            raise self._problem
        if self._png is not None:
            self._png.finish()
        if self.mime in (TEXT, CSV):
            if self._nul_at is not None:
                raise Damaged(f"the text holds a NUL byte at byte {self._nul_at:,} — it is "
                              "binary data or a damaged file, not text")
            return Verdict()
        check = _FINISHERS.get(self.mime)
        if check is None:
            return Verdict()
        try:
            with open_content() as f:
                return check(f, size)
        except Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - a parser's surprise is this file's verdict
            log.info("structure check of a %s failed unexpectedly: %s", self.mime,
                     type(exc).__name__)
            raise Damaged(f"its structure could not be read ({type(exc).__name__})") from None


# ------------------------------------------------------------------ PNG


class _PngWalk:
    """The chunk sequence of a PNG, fed piecewise: lengths, CRCs, IHDR first, IEND last."""

    def __init__(self) -> None:
        self.pending = bytearray()  # bytes of a chunk header or CRC not complete yet
        self.state = "signature"
        self.need = 8
        self.kind = b""
        self.crc = 0
        self.chunks = 0
        self.ended = False

    def feed(self, chunk: memoryview | bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self.ended:
                raise Damaged("the PNG has data after its end (IEND) — it was joined to "
                              "something else or damaged")
            if self.state == "data":
                take = min(self.need, len(view))
                self.crc = zlib.crc32(view[:take], self.crc)
                self.need -= take
                view = view[take:]
                if self.need == 0:
                    self.state, self.need = "crc", 4
                continue
            take = min(self.need - len(self.pending), len(view))
            self.pending += view[:take]
            view = view[take:]
            if len(self.pending) < self.need:
                return
            self._step(bytes(self.pending))
            self.pending.clear()

    def _step(self, data: bytes) -> None:
        if self.state == "signature":
            self.state, self.need = "header", 8
        elif self.state == "header":
            length, self.kind = struct.unpack(">I", data[:4])[0], data[4:8]
            if length > 0x7FFFFFFF or not self.kind.isalpha():
                raise Damaged(f"the PNG's chunk {self.chunks + 1} has an impossible header")
            if self.chunks == 0 and self.kind != b"IHDR":
                raise Damaged("the PNG does not start with its image header (IHDR)")
            self.crc = zlib.crc32(self.kind)
            self.state, self.need = ("data", length) if length else ("crc", 4)
        else:
            if struct.unpack(">I", data)[0] != self.crc & 0xFFFFFFFF:
                raise Damaged(f"the PNG's chunk {self.chunks + 1} "
                              f"({self.kind.decode('latin-1')}) fails its checksum (CRC)")
            self.chunks += 1
            self.ended = self.kind == b"IEND"
            self.state, self.need = "header", 8

    def finish(self) -> None:
        if not self.ended:
            raise Damaged("the PNG stops before its end (no IEND chunk) — it is truncated")


def _png_header(f: BinaryIO, size: int) -> Verdict:
    _pillow_open(f, "PNG")
    return Verdict()


# ------------------------------------------------------------------ JPEG


def _jpeg(f: BinaryIO, size: int) -> Verdict:
    """Marker segments from SOI to the first scan (SOS), a frame header before it, then an
    end-of-image marker near the end (after the scan: some cameras add bytes after EOI)."""
    position, frame = 2, False
    while True:
        f.seek(position)
        marker = f.read(4)
        if len(marker) < 4 or marker[0] != 0xFF:
            raise Damaged("the JPEG's structure breaks off before its image data — it is "
                          "truncated or damaged")
        code = marker[1]
        if code == 0xFF:  # fill byte
            position += 1
            continue
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            position += 2
            continue
        if code == 0xD9:
            raise Damaged("the JPEG ends before its image data")
        length = struct.unpack(">H", marker[2:4])[0]
        if length < 2 or position + 2 + length > size:
            raise Damaged("a JPEG segment runs past the end of the file — it is truncated")
        if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            frame = True
        if code == 0xDA:
            break
        position += 2 + length
    if not frame:
        raise Damaged("the JPEG has no frame header (it says nothing of the picture's size)")
    scan = position
    tail_from = max(scan, size - (64 << 10))
    f.seek(tail_from)
    if b"\xff\xd9" not in f.read(size - tail_from):
        raise Damaged("the JPEG stops before its end-of-image marker — it is truncated")
    _pillow_open(f, "JPEG")
    return Verdict()


def _pillow_open(f: BinaryIO, expected: str) -> None:
    """Pillow reads the header (lazily: no pixels are decoded here). The format's own reader,
    not ``Image.open``: that refuses a very large picture (a decompression bomb guard, about
    decoding it), which says nothing of whether the file is whole."""
    from PIL import JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

    reader = {"PNG": PngImagePlugin.PngImageFile, "JPEG": JpegImagePlugin.JpegImageFile}[expected]
    f.seek(0)
    try:
        with reader(f) as image:
            if image.format != expected or image.width < 1 or image.height < 1:
                raise Damaged(f"the {expected} image's header is not readable")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise Damaged(f"the {expected} image's header is not readable "
                      f"({type(exc).__name__})") from None


# ------------------------------------------------------------------ PDF


class _CappedReader(io.RawIOBase):
    """A file whose single reads are capped: a parser that asks for the whole file (pypdf
    rebuilding a broken cross-reference reads it all) is stopped instead of filling memory."""

    def __init__(self, f: BinaryIO, cap: int) -> None:
        self.f, self.cap = f, cap

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            here = self.f.tell()
            end = self.f.seek(0, io.SEEK_END)
            self.f.seek(here)
            n = end - here
        if n > self.cap:
            raise _TooBig(n)
        return self.f.read(n)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class _TooBig(Exception):
    pass


def _pdf(f: BinaryIO, size: int) -> Verdict:
    import pypdf
    from pypdf.errors import PyPdfError

    f.seek(0)
    if not f.read(1024).startswith(b"%PDF-"):
        raise Damaged("the PDF has no header")
    tail_from = max(0, size - 4096)
    f.seek(tail_from)
    tail = f.read(size - tail_from)
    if b"startxref" not in tail and b"trailer" not in tail:
        raise Damaged("the PDF stops before its cross-reference and trailer — it is "
                      "truncated")
    previous = logging.getLogger("pypdf").level
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings say nothing to us
    try:
        reader = pypdf.PdfReader(_CappedReader(f, MAX_READ), strict=False)
        pages = len(reader.pages)
    except _TooBig:
        raise Damaged("the PDF's cross-reference is broken, and the file is too large to "
                      "rebuild it") from None
    except RecursionError:
        raise Damaged("the PDF's page tree loops back on itself") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            OSError, struct.error, zlib.error, AssertionError) as exc:
        raise Damaged(f"the PDF's structure cannot be read ({type(exc).__name__})") from None
    finally:
        logging.getLogger("pypdf").setLevel(previous)
    if pages < 1:
        raise Damaged("the PDF has no pages")
    return Verdict()


# ------------------------------------------------------------------ DICOM


def _dicom(f: BinaryIO, size: int) -> Verdict:
    import pydicom
    from pydicom.errors import InvalidDicomError

    f.seek(0)
    try:
        ds = pydicom.dcmread(f, defer_size=256 << 10, stop_before_pixels=True)
        after = f.tell()
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
        _values_inside(ds, size)
        patient = DicomPatient(_text(ds.get("PatientName")), _text(ds.get("PatientID")))
        sop = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", "")
                  or "")
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(str(ds.get("NumberOfFrames", 1) or 1).strip() or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 0) or 0)
        has_document = "EncapsulatedDocument" in ds
    except Damaged:
        raise
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError,
            AttributeError, IndexError, OverflowError, NotImplementedError, struct.error,
            zlib.error) as exc:
        raise Damaged(f"the DICOM dataset cannot be read to its end ({type(exc).__name__}) "
                      "— it is truncated or damaged") from None
    if syntax == _DEFLATED:  # the reader inflated it; its layout on disk is not the dataset's
        return Verdict(patient)
    pixels = _pixel_element(f, after, size, syntax)
    if pixels is None:
        if has_document or sop.startswith(NON_IMAGE_SOP_PREFIXES):
            return Verdict(patient)
        raise Damaged("the DICOM file has no image data (pixel data) and is not a report or "
                      "document — it was cut short or exported without its image")
    start, length = pixels
    if length is not None:  # native pixels
        if start + length > size:
            raise Damaged("the DICOM image data runs past the end of the file — it is "
                          "truncated")
        expected = (rows * cols * frames * samples * bits + 7) // 8
        if rows and cols and bits and length < expected:
            raise Damaged(f"the DICOM image data holds {length:,} bytes where the image it "
                          f"describes needs {expected:,}")
        return Verdict(patient)
    _encapsulated(f, start, size, syntax, max(1, frames))
    return Verdict(patient)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _values_inside(ds: Any, size: int) -> None:
    """Every value the reader left on disk (deferred: large ones) lies inside the file."""
    from pydicom.dataelem import RawDataElement

    for element in ds._dict.values():
        if isinstance(element, RawDataElement):
            if element.value is None and element.length not in (0, 0xFFFFFFFF) and (
                    element.value_tell + element.length > size):
                raise Damaged("a DICOM value runs past the end of the file — it is truncated")
        elif getattr(element, "VR", None) == "SQ":
            for item in element.value or ():
                _values_inside(item, size)


def _pixel_element(f: BinaryIO, at: int, size: int, syntax: str
                   ) -> tuple[int, int | None] | None:
    """Where the (7FE0,0010) Pixel Data value starts and its length (None: encapsulated),
    read from its header where the dataset reader stopped; None when there is none."""
    if at + 8 > size:
        return None
    f.seek(at)
    head = f.read(12)
    order = ">" if syntax == _BIG_ENDIAN else "<"
    group, element = struct.unpack(order + "HH", head[:4])
    if (group, element) != (0x7FE0, 0x0010):
        return None
    if syntax == _IMPLICIT_LE:
        length, start = struct.unpack("<I", head[4:8])[0], at + 8
    elif head[4:6] in _LONG_VRS:
        if len(head) < 12:
            raise Damaged("the DICOM image data's header is cut off — it is truncated")
        length, start = struct.unpack(order + "I", head[8:12])[0], at + 12
    else:
        length, start = struct.unpack(order + "H", head[6:8])[0], at + 8
    return start, None if length == 0xFFFFFFFF else length


def _encapsulated(f: BinaryIO, start: int, size: int, syntax: str, frames: int) -> None:
    """Compressed frames: items to the sequence delimiter, all inside the file; each frame
    starts and ends with its codec's markers; the first frame decodes (when Pillow can)."""
    position = start
    offsets: list[int] = []  # the basic offset table: where each frame starts
    fragments: list[tuple[int, int]] = []
    first = True
    while True:
        f.seek(position)
        item = f.read(8)
        if len(item) < 8:
            raise Damaged("the DICOM image data stops before its end — it is truncated")
        group, element, length = struct.unpack("<HHI", item)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            raise Damaged("the DICOM image data's fragments are not in order — it is damaged")
        if position + 8 + length > size:
            raise Damaged("a DICOM image fragment runs past the end of the file — it is "
                          "truncated")
        if first:
            table = f.read(min(length, 4 * 100_000))
            offsets = list(struct.unpack(f"<{len(table) // 4}I", table[: len(table) // 4 * 4]))
            first = False
        else:
            fragments.append((position + 8, length))
        position += 8 + length
    if not fragments:
        raise Damaged("the DICOM file has no image data in its fragments")
    groups = _frames(fragments, offsets, frames, start)
    for index, parts in enumerate(groups):
        _frame_markers(f, parts, syntax, index + 1)
    if syntax in _DECODABLE and groups:
        _decode_first(f, groups[0], syntax)


def _frames(fragments: list[tuple[int, int]], offsets: list[int], frames: int,
            start: int) -> list[list[tuple[int, int]]]:
    """Fragments grouped by frame: by the offset table when it has one entry per frame, one
    fragment per frame when the counts agree, else all of them as one (checked at its ends)."""
    if frames == len(fragments):
        return [[fragment] for fragment in fragments]
    if offsets and len(offsets) == frames:
        first_item = fragments[0][0] - 8
        starts = [first_item + offset for offset in offsets]
        groups: list[list[tuple[int, int]]] = [[] for _ in starts]
        for fragment in fragments:
            index = max(i for i, s in enumerate(starts) if s <= fragment[0] - 8) if (
                starts[0] <= fragment[0] - 8) else 0
            groups[index].append(fragment)
        if all(groups):
            return groups
        raise Damaged("the DICOM image's offset table points outside its fragments")
    if frames > len(fragments):
        raise Damaged(f"the DICOM image has {len(fragments)} fragment(s) for {frames} frames "
                      "— frames are missing")
    return [fragments]


def _frame_markers(f: BinaryIO, parts: list[tuple[int, int]], syntax: str, number: int
                   ) -> None:
    (first_at, first_len), (last_at, last_len) = parts[0], parts[-1]
    f.seek(first_at)
    opening = f.read(min(first_len, 64))
    f.seek(last_at + max(0, last_len - 3))
    closing = f.read(min(last_len, 3))
    if syntax in _JPEG_SYNTAXES or syntax in _J2K_SYNTAXES:
        starts = opening.startswith(b"\xff\xd8") if syntax in _JPEG_SYNTAXES else (
            opening.startswith(b"\xff\x4f\xff\x51") or opening[4:8] == b"jP  ")
        if not starts:
            raise Damaged(f"frame {number} of the DICOM image does not start as its "
                          "compression says — the image data is damaged")
        if b"\xff\xd9" not in closing:
            raise Damaged(f"frame {number} of the DICOM image stops before its end marker — "
                          "the image data is truncated or damaged")
    elif syntax == _RLE:
        if len(opening) < 64:
            raise Damaged(f"frame {number} of the DICOM image is too short for its RLE header")
        count = struct.unpack("<I", opening[:4])[0]
        offsets = struct.unpack("<15I", opening[4:64])[:count]
        if not 1 <= count <= 15 or offsets[0] != 64 or list(offsets) != sorted(offsets) or (
                offsets[-1] >= first_len):
            raise Damaged(f"frame {number} of the DICOM image has a broken RLE header")


def _decode_first(f: BinaryIO, parts: list[tuple[int, int]], syntax: str) -> None:
    """Decode the first frame with Pillow (JPEG baseline, JPEG 2000): damage inside the
    compressed data shows here. Skipped for a frame too big to hold in memory."""
    total = sum(length for _, length in parts)
    if total > MAX_DECODE:
        return
    from PIL import Image, ImageFile

    data = bytearray()
    for at, length in parts:
        f.seek(at)
        data += f.read(length)
    if syntax in _J2K_SYNTAXES and data.startswith(b"\xff\x4f"):
        _j2k_codestream(bytes(data))
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(bytes(data))) as image:
            if image.width * image.height > MAX_DECODE:
                return
            image.load()
    except Image.DecompressionBombError:
        return
    except (OSError, SyntaxError, ValueError, struct.error, IndexError) as exc:
        raise Damaged("the first frame of the DICOM image cannot be decoded "
                      f"({type(exc).__name__}) — the image data is damaged") from None


def _j2k_codestream(data: bytes) -> None:
    """A JPEG 2000 codestream's own structure: the main header's marker segments up to the
    first tile-part, each tile-part (SOT) as long as it says, then the end marker (EOC). The
    coded data itself has no checksum; this is what can be known without one."""
    damaged = Damaged("the first frame of the DICOM image (JPEG 2000) is broken inside — "
                      "the image data is damaged")
    position = 2  # after SOC
    while True:
        if position + 4 > len(data) or data[position] != 0xFF:
            raise damaged
        marker = data[position + 1]
        if marker == 0x90:  # SOT: the tile-parts begin
            break
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if length < 2:
            raise damaged
        position += 2 + length
    while position + 2 <= len(data) and data[position:position + 2] == b"\xff\x90":
        if position + 12 > len(data):
            raise damaged
        psot = struct.unpack(">I", data[position + 6:position + 10])[0]
        if psot == 0:  # the last tile-part runs to the end marker
            return
        if psot < 14 or position + psot > len(data):
            raise damaged
        position += psot
    if data[position:position + 2] != b"\xff\xd9":
        raise damaged


# ------------------------------------------------------------------ TIFF, WebP, Word


def _tiff(f: BinaryIO, size: int) -> Verdict:
    """Every strip and tile of every page inside the file (Pillow reads the directories;
    its TIFF reader directly, so a very large picture is not taken for a damaged one)."""
    from PIL import TiffImagePlugin, UnidentifiedImageError

    f.seek(0)
    try:
        with TiffImagePlugin.TiffImageFile(f) as image:
            pages = getattr(image, "n_frames", 1)
            for page in range(min(pages, 10_000)):
                image.seek(page)
                tags = image.tag_v2
                for where, count in ((273, 279), (324, 325)):
                    offsets, counts = tags.get(where), tags.get(count)
                    if offsets is None or counts is None:
                        continue
                    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
                    counts = counts if isinstance(counts, tuple) else (counts,)
                    if any(o + c > size for o, c in zip(offsets, counts, strict=False)):
                        raise Damaged(f"page {page + 1} of the TIFF image runs past the end "
                                      "of the file — it is truncated")
    except Damaged:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error,
            EOFError, KeyError, TypeError) as exc:
        raise Damaged(f"the TIFF image's directory is not readable ({type(exc).__name__})"
                      ) from None
    return Verdict()


def _webp(f: BinaryIO, size: int) -> Verdict:
    """The RIFF container: its declared size is the file's, and its chunks fill it."""
    f.seek(0)
    header = f.read(12)
    declared = struct.unpack("<I", header[4:8])[0] + 8
    if declared > size:
        raise Damaged("the WebP image is shorter than it declares — it is truncated")
    position = 12
    while position + 8 <= declared:
        f.seek(position)
        chunk = f.read(8)
        length = struct.unpack("<I", chunk[4:8])[0]
        position += 8 + length + (length & 1)
    if position != declared and position - 1 != declared:
        raise Damaged("the WebP image's chunks do not fill it — it is damaged")
    return Verdict()


def _doc(f: BinaryIO, size: int) -> Verdict:
    import olefile

    f.seek(0)
    try:
        with olefile.OleFileIO(f) as ole:
            if not ole.exists("WordDocument"):
                raise Damaged("the Word document (.doc) has no document stream — it is "
                              "another kind of Office file or damaged")
            entry = ole.openstream("WordDocument")
            entry.close()
    except Damaged:
        raise
    except (OSError, ValueError, struct.error, IndexError, KeyError, TypeError) as exc:
        raise Damaged(f"the Word document's (.doc) structure is not readable "
                      f"({type(exc).__name__})") from None
    return Verdict()


def _docx(f: BinaryIO, size: int) -> Verdict:
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise Refused("refused: the Word document unpacks to far more than any real "
                              "document (a zip bomb)")
            if "word/document.xml" not in {m.filename for m in members}:
                raise Damaged("the Word document (.docx) has no document part")
            bad = archive.testzip()  # every member read through, its CRC checked
            if bad is not None:
                raise Damaged(f"a part of the Word document fails its checksum ({bad})")
    except Refused:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError) as exc:
        raise Damaged(f"the Word document's (.docx) zip structure is not readable "
                      f"({type(exc).__name__})") from None
    return Verdict()


_FINISHERS: dict[str, Callable[[BinaryIO, int], Verdict]] = {
    PDF: _pdf, PNG: _png_header, JPEG: _jpeg, DICOM: _dicom, TIFF: _tiff, WEBP: _webp,
    DOC: _doc, DOCX: _docx,
}
