"""What Care360 accepts as an upload, checked here first, and the streamed JSON body it takes.

Why it looks the way it does: the upload body is JSON with the file as base64, which the server
demands (no multipart, no chunking), but it is produced as a stream (:class:`Base64JsonBody`)
with an exact Content-Length, so memory stays flat for a 1 GiB file.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator, Mapping

import httpx

from desktop.sync import errors as err
from desktop.sync.http import Progress, Sendable, open_sendable

ALLOWED_MIME = (
    "application/pdf", "application/msword", "text/csv", "text/plain", "image/jpeg",
    "image/png", "image/svg+xml", "image/tiff", "image/webp",
)
DICOM_MIME = ("application/dicom", "image/dicom")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NAME_MAX = 255
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str | None) -> bool:
    return bool(value) and bool(_UUID.match(str(value).strip()))


# ------------------------------------------------------------------ local checks


def name_length(name: str) -> int:
    """Length as the server's (JavaScript) validator counts it: UTF-16 code units, so an
    emoji counts as two."""
    return len(name.encode("utf-16-le")) // 2


def upload_timeout(size: int) -> httpx.Timeout:
    """The answer comes only after the server has decoded and stored the whole file: allow
    the read time to grow with the size (about 5 MB/s) rather than call a slow save a failure."""
    return httpx.Timeout(connect=5.0, read=30.0 + size / 5e6, write=60.0, pool=5.0)


def check_upload(name: str, mime: str) -> None:
    """Refuse locally, with a reason a person can act on, what Care360 would refuse anyway."""
    length = name_length(name)
    if not 1 <= length <= NAME_MAX:
        raise err.RejectedError(
            f"Care360 accepts file names of 1 to {NAME_MAX} characters; this one has "
            f"{length}. Rename the document and attach it again."
        )
    kind = (mime or "").split(";")[0].strip().lower()
    if kind in DICOM_MIME:
        raise err.RejectedError(
            f"Care360 does not accept DICOM images ({kind}); export the image as PNG or JPEG "
            "to send it."
        )
    if kind == DOCX_MIME:
        raise err.RejectedError(
            "Care360 accepts only the older Word format (.doc), not .docx; save the document "
            "as PDF (or .doc) to send it."
        )
    if kind not in ALLOWED_MIME:
        raise err.RejectedError(
            f"Care360 does not accept files of type {kind or 'unknown'}; it takes PDF, Word "
            "(.doc), CSV, plain text, JPEG, PNG, SVG, TIFF and WebP."
        )


# ------------------------------------------------------------------ streamed JSON body


class LocalFileChanged(OSError):
    """The blob being sent ended early or changed size: the request must not complete."""


class Base64JsonBody:
    """``{"name":…,"mimeType":…,"caseId":…,"data":"<base64>"}`` produced piece by piece.

    The file is read in 3-byte-aligned chunks so the base64 pieces concatenate into one valid
    string; the exact length (``content_length``) is known from the file size alone, so the
    request carries a Content-Length (no chunked encoding, which some proxies refuse).
    Iterating again starts over (a resend after a refreshed token).
    """

    CHUNK = 3 * 256 * 1024  # 768 KiB of file -> 1 MiB of base64 per piece

    def __init__(
        self,
        path: Sendable,
        size: int,
        fields: Mapping[str, str],
        progress: Progress | None = None,
        chunk: int | None = None,
    ) -> None:
        if chunk is not None and (chunk <= 0 or chunk % 3):
            raise ValueError("chunk must be a positive multiple of 3")
        self.path = path
        self.size = size
        self.progress = progress
        self.chunk = chunk or self.CHUNK
        # ensure_ascii: every character is one byte, so the length below is exact.
        head = "{" + "".join(
            f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=True)}," for key, value in
            fields.items()
        ) + '"data":"'
        self.head = head.encode("ascii")
        self.tail = b'"}'
        self.content_length = len(self.head) + 4 * math.ceil(size / 3) + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        with open_sendable(self.path) as handle:
            while sent < self.size:
                piece = handle.read(min(self.chunk, self.size - sent))
                if not piece:
                    raise LocalFileChanged("the file ended before its recorded size")
                if len(piece) % 3 and sent + len(piece) < self.size:
                    # A short read mid-file (not the end): top it up to keep 3-byte alignment.
                    extra = handle.read(3 - len(piece) % 3)
                    piece += extra
                sent += len(piece)
                yield base64.b64encode(piece)
                if self.progress is not None:
                    self.progress(sent, self.size)
        if sent != self.size:
            raise LocalFileChanged("the file changed size while it was being sent")
        yield self.tail
