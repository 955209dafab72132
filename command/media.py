"""Photos and videos attached to reports: sniffed, size-limited, checked complete, stored once.

The type a client declares is not trusted: the first bytes decide (``filetype``), and only
photo and video formats field devices produce are accepted. A file cut short in transit is
refused rather than stored broken, by checking the format's own end structure (JPEG's EOI
marker, PNG's IEND chunk, the RIFF length of WebP, the box lengths of MP4/QuickTime/HEIC).
JPEG and PNG photos lose their metadata (Exif with GPS and device, XMP, IPTC, text chunks).
Files are content-addressed by SHA-256 — a photo forwarded by ten reporters is kept once —
and written to a temporary name first, then renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from spatial.errors import InvalidInputError, PayloadTooLargeError

PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
CHUNK = 1 << 20
PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class MediaLimits:
    """How much a report may carry."""

    photo_bytes: int = 20 << 20
    video_bytes: int = 200 << 20
    files_per_report: int = 9  # and per evidence upload to a case
    # all files of one upload together: a video and a few photos. Each file at its own limit would let one
    # request announce 9 × 200 MiB (1.8 GB) and hold a worker that long
    total_bytes: int = 256 << 20

    @property
    def request_bytes(self) -> int:
        """The largest multipart body worth reading: the files' total, plus the form."""
        return min(self.total_bytes, self.files_per_report * max(self.photo_bytes, self.video_bytes)) + (1 << 20)


@dataclass(frozen=True)
class StoredMedia:
    """A file as stored: its content address and what it turned out to be."""

    sha256: str
    content_type: str
    size_bytes: int
    filename: str | None


def _iso_boxes_complete(head: BinaryIO, size: int) -> bool:
    """ISO base media (MP4, QuickTime, HEIC): top-level box lengths must add up to the file."""
    offset = 0
    while offset < size:
        head.seek(offset)
        header = head.read(16)
        if len(header) < 8:
            return False
        length = struct.unpack(">I", header[:4])[0]
        if length == 1 and len(header) == 16:
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # "to the end of the file"
            return True
        if length < 8:
            return False
        offset += length
    return offset == size


def is_complete(file: BinaryIO, content_type: str, size: int) -> bool:
    """Whether the file ends the way its format says a whole file ends."""
    if content_type == "image/jpeg":
        file.seek(max(0, size - 4096))
        return file.read().rstrip(b"\x00").endswith(b"\xff\xd9")
    if content_type == "image/png":
        file.seek(max(0, size - len(PNG_END)))
        return file.read() == PNG_END
    if content_type == "image/webp":
        file.seek(4)
        return struct.unpack("<I", file.read(4))[0] + 8 == size
    return _iso_boxes_complete(file, size)


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG without its APP1 (Exif, XMP) and APP13 (IPTC) segments; the image data is untouched."""
    kept, position = [data[:2]], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the compressed image follows, copied as is
            break
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if marker not in (0xE1, 0xED):
            kept.append(data[position : position + 2 + length])
        position += 2 + length
    kept.append(data[position:])
    return b"".join(kept)


def strip_png(data: bytes) -> bytes:
    """The PNG without its eXIf and text chunks (tEXt, zTXt, iTXt)."""
    kept, position = [data[:8]], 8
    while position + 8 <= len(data):
        length = struct.unpack(">I", data[position : position + 4])[0]
        chunk = data[position : position + 12 + length]
        if chunk[4:8] not in (b"eXIf", b"tEXt", b"zTXt", b"iTXt"):
            kept.append(chunk)
        position += 12 + length
    return b"".join(kept)


# Photos carry their camera's metadata — GPS position, device serial, owner's name — which is
# personal data the platform has no use for: it is removed before the file is stored (and the
# hash is of the cleaned file). HEIC and videos are stored as sent (noted for later).
STRIPPERS = {"image/jpeg": strip_jpeg, "image/png": strip_png}


class MediaStore:
    """Content-addressed files under one directory: ``<root>/<first two hex digits>/<sha256>``."""

    def __init__(self, root: Path, limits: MediaLimits | None = None) -> None:
        self.root = root
        self.limits = limits or MediaLimits()

    def path_of(self, sha256: str) -> Path:
        """Where a stored file lives (the caller has checked the address is one of ours)."""
        return self.root / sha256[:2] / sha256

    def _check(self, file: BinaryIO, size: int, name: str) -> str:
        file.seek(0)
        kind = filetype.guess(file.read(8192))
        content_type = kind.mime if kind else "unknown"
        if content_type not in PHOTO_TYPES | VIDEO_TYPES:
            accepted = ", ".join(sorted(PHOTO_TYPES | VIDEO_TYPES))
            raise InvalidInputError(f"media {name}: content is {content_type}, not a photo or video ({accepted})")
        limit = self.limits.photo_bytes if content_type in PHOTO_TYPES else self.limits.video_bytes
        if size > limit:
            raise PayloadTooLargeError(
                f"media {name}: {size:,} bytes is over the {limit:,}-byte limit for {content_type}"
            )
        if not is_complete(file, content_type, size):
            raise InvalidInputError(f"media {name}: the {content_type} file is truncated; upload it again")
        return content_type

    def inspect(self, file: BinaryIO, filename: str | None) -> str:
        """Check one upload (not empty, a photo or video, within its limit, complete); its content type."""
        name = repr(filename or "(unnamed)")
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            raise InvalidInputError(f"media {name} is empty")
        return self._check(file, size, name)

    def keep(self, file: BinaryIO, filename: str | None, content_type: str) -> StoredMedia:
        """Keep an inspected upload under its hash (cleaned of metadata); an identical file already kept is reused."""
        size = file.seek(0, os.SEEK_END)
        if content_type in STRIPPERS:  # photos are small enough to clean in memory
            file.seek(0)
            cleaned = STRIPPERS[content_type](file.read())
            file, size = io.BytesIO(cleaned), len(cleaned)
        digest = hashlib.sha256()
        file.seek(0)
        while chunk := file.read(CHUNK):
            digest.update(chunk)
        sha256 = digest.hexdigest()
        target = self.path_of(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            file.seek(0)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
                while chunk := file.read(CHUNK):
                    partial.write(chunk)
                partial.flush()
                os.fsync(partial.fileno())
            Path(partial.name).replace(target)
        return StoredMedia(sha256, content_type, size, filename)

    def store_all(self, files: list[tuple[BinaryIO, str | None]]) -> list[StoredMedia]:
        """Check every file of one upload (a report's, or evidence for a case), then keep them all.

        One file refused refuses the upload before any file is kept.
        """
        most = self.limits.files_per_report
        if len(files) > most:
            raise InvalidInputError(f"{len(files)} media files; one upload carries at most {most}")
        types = [self.inspect(file, filename) for file, filename in files]
        return [self.keep(file, filename, kind) for (file, filename), kind in zip(files, types, strict=True)]


def kind_of(content_type: str) -> str:
    """``photo`` or ``video``, as a person would say it."""
    return "video" if content_type in VIDEO_TYPES else "photo"
