"""File uploads, streamed to disk with a size limit enforced as the bytes arrive.

A ``Content-Length`` over the limit is refused before anything is read. Otherwise the
multipart body is parsed as it streams in (python-multipart's push parser): the form's
fields come first (the CSRF token among them, checked before a byte of the file is
written) and the file part is written to the upload directory; the moment the body passes
the limit the upload stops, the partial file is deleted and the request is refused with
413. The whole file is never held in memory.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from dialer.errors import DialerError

#: Form fields other than the file are small; more than this is not one of our forms.
MAX_FIELD_BYTES = 64 * 1024
#: Uploads not imported within this long are deleted.
KEEP_UPLOADS = 24 * 3600


class UploadError(DialerError):
    """The upload was refused."""

    status_code = 400


class UploadTooLarge(UploadError):
    status_code = 413


class UploadForbidden(UploadError):
    status_code = 403


@dataclass
class Upload:
    token: str
    """The upload's directory name under the uploads folder (random)."""
    path: Path | None
    filename: str | None
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def safe_name(name: str) -> str:
    """A file name the server may use: the last path part, odd characters replaced."""
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", base)[:120].strip()
    return cleaned or "upload"


def describe_limit(limit: int) -> str:
    return f"{limit / 1_000_000:g} MB"


def prune(folder: Path, *, older_than: float = KEEP_UPLOADS) -> None:
    """Delete upload directories older than ``older_than`` seconds."""
    if not folder.is_dir():
        return
    cutoff = time.time() - older_than
    for entry in folder.iterdir():
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def upload_dir(folder: Path, token: str) -> Path:
    """The directory of upload ``token`` (refusing tokens that are not ours)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", token):
        raise UploadError("this upload does not exist (or has expired); upload the file again")
    path = folder / token
    if not path.is_dir():
        raise UploadError("this upload does not exist (or has expired); upload the file again")
    return path


async def receive_upload(
    request: Request,
    folder: Path,
    *,
    limit: int,
    file_field: str = "file",
    check_fields: Callable[[dict[str, str]], bool],
) -> Upload:
    """Stream a ``multipart/form-data`` body into ``folder/<token>/<filename>``.

    ``check_fields(fields)`` runs when the file part starts (with the fields sent before it,
    where our forms put the CSRF token) and again at the end; when it returns False the upload
    is refused with :class:`UploadForbidden` and nothing is kept."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise UploadTooLarge(
            f"the file is too large: {int(length) / 1_000_000:.1f} MB, and uploads are limited to "
            f"{describe_limit(limit)}. Split the list, or raise DIALER_WEB_MAX_UPLOAD_MB."
        )
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadError("the upload must be sent as a form with a file (multipart/form-data)")

    folder.mkdir(parents=True, exist_ok=True)
    prune(folder)
    token = secrets.token_urlsafe(24)
    target = folder / token
    target.mkdir(mode=0o700)
    state = _PartState()
    upload = Upload(token=token, path=None, filename=None, size=0)

    def on_part_begin() -> None:
        state.reset()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.header_field.decode("latin-1").lower()] = state.header_value
        state.header_field, state.header_value = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state.headers.get("content-disposition", b""))
        state.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if filename is not None and state.name == file_field:
            if not check_fields(upload.fields):
                raise UploadForbidden(
                    "the form's security token is missing or out of date; reload the page and upload again"
                )
            if upload.path is not None:
                raise UploadError("send one file at a time")
            upload.filename = filename.decode("utf-8", "replace")
            upload.path = target / safe_name(upload.filename)
            state.file = upload.path.open("wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if state.file is not None:
            state.file.write(chunk)
            upload.size += len(chunk)
        else:
            state.value += chunk
            if len(state.value) > MAX_FIELD_BYTES:
                raise UploadError("a form field is too large")

    def on_part_end() -> None:
        if state.file is not None:
            state.file.close()
            state.file = None
        elif state.name:
            upload.fields[state.name] = state.value.decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise UploadTooLarge(
                    f"the file is too large: uploads are limited to {describe_limit(limit)}, and this one went "
                    "past that. Split the list, or raise DIALER_WEB_MAX_UPLOAD_MB."
                )
            parser.write(chunk)
        parser.finalize()
        if not check_fields(upload.fields):
            raise UploadForbidden("the form's security token is missing or out of date; reload the page and try again")
        if upload.path is None or upload.size == 0:
            raise UploadError("no file was chosen, or the file is empty; choose a CSV or XLSX file")
    except BaseException:
        if state.file is not None:
            state.file.close()
        shutil.rmtree(target, ignore_errors=True)
        raise
    os.utime(target)
    return upload


@dataclass
class _PartState:
    name: str = ""
    headers: dict[str, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    value: bytes = b""
    file: BinaryIO | None = None

    def reset(self) -> None:
        self.name, self.headers, self.header_field, self.header_value, self.value = "", {}, b"", b"", b""
