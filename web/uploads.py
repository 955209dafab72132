"""Reading a multipart upload of photos and videos: its size declared, its end checked, its parts named.

Report intake and case evidence (and the pages' forms that carry a photo) read uploads the same
way, so each refusal is worded once: not multipart (415), no ``Content-Length`` (411), over the
limit (413), no boundary, a body cut off before its closing boundary, an unknown or misused field,
a client gone before the end (422 each, with what to fix). The files stay open (spooled) while the
caller's block runs; the caller checks and keeps them (``command.media.MediaStore.store_all``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from command.media import MediaLimits
from spatial.errors import InvalidInputError, LengthRequiredError, PayloadTooLargeError, UnsupportedFormatError

MAX_TEXT_BYTES = 64 << 10  # a text part (a report's JSON, a note) is a few kB; anything larger is not one
MEDIA_FIELD = "media"


def declared_length(request: Request, limit: int) -> int:
    """The body's declared size, refused when missing (411) or over ``limit`` (413)."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequiredError("send Content-Length with an upload, so its size can be checked before reading")
    if int(length) > limit:
        raise PayloadTooLargeError(f"request of {int(length):,} bytes is over the {limit:,}-byte limit")
    return int(length)


class BodyTail:
    """Keeps the last bytes of a request body as it streams past, to see how the body ended.

    A multipart body cut off mid-file still parses — the unfinished part is silently dropped —
    so whether the closing boundary arrived is checked here, or an upload would lose its photo.
    """

    def __init__(self, receive: Receive, keep: int) -> None:
        self._receive, self._keep, self.tail = receive, keep, b""

    async def __call__(self) -> Message:
        """Pass the next message on, remembering the body's last bytes."""
        message = await self._receive()
        if message["type"] == "http.request":
            self.tail = (self.tail + message.get("body", b""))[-self._keep :]
        return message


def _boundary(request: Request) -> bytes:
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise InvalidInputError("multipart/form-data needs a boundary parameter in Content-Type")


def _checked(form: FormData, fields: frozenset[str]) -> list[tuple[BinaryIO, str | None]]:
    unexpected = sorted(set(form.keys()) - fields - {MEDIA_FIELD})
    if unexpected:
        named = ", ".join(repr(f) for f in sorted(fields | {MEDIA_FIELD}))
        raise InvalidInputError(f"unknown multipart field(s) {unexpected}; send {named}")
    parts = form.getlist(MEDIA_FIELD)
    files = [part for part in parts if isinstance(part, UploadFile)]
    if len(files) != len(parts):
        raise InvalidInputError(f"{MEDIA_FIELD!r} parts must be files (photos or videos)")
    if any(isinstance(form.get(field), UploadFile) for field in fields):
        raise InvalidInputError(f"only {MEDIA_FIELD!r} parts may be files")
    return [(f.file, f.filename) for f in files]


@asynccontextmanager
async def multipart_upload(
    request: Request, limits: MediaLimits, fields: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[FormData, list[tuple[BinaryIO, str | None]]]]:
    """The form (text ``fields``) and its ``media`` files, open for the block; refused as the module says."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise UnsupportedFormatError(f"send multipart/form-data with {MEDIA_FIELD!r} file parts")
    declared_length(request, limits.request_bytes)
    closing = b"--" + _boundary(request) + b"--"
    body_tail = BodyTail(request.receive, keep=len(closing) + 4)
    try:
        async with Request(request.scope, receive=body_tail).form(
            max_files=limits.files_per_report, max_fields=len(fields) + 4, max_part_size=MAX_TEXT_BYTES
        ) as form:
            if not body_tail.tail.rstrip(b"\r\n").endswith(closing):
                raise InvalidInputError("the multipart upload is truncated (no closing boundary); send it again")
            yield form, _checked(form, fields)
    except ClientDisconnect:
        raise InvalidInputError("the client disconnected before the upload was complete") from None
    except HTTPException as exc:  # Starlette's word for a body that is not well-formed multipart or over its limits
        raise InvalidInputError(f"multipart upload refused: {exc.detail}") from None
