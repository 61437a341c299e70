"""Reading code uploads: one code a line, UTF-8, read as a stream and bounded in bytes.

An upload reaches `codes_upload` as an iterator of lines, decoded chunk by chunk from the request
body or the uploaded file; the body is never held whole as bytes and again as text. A `.csv` file is
read like a `.txt` one: the whole line is the code (card shops often deliver "number,password").
"""

import io
import json
from collections.abc import Iterator
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from kabao.errors import DomainError

FILE_SUFFIXES = {"", ".txt", ".csv"}
TEXT_ENCODING_MESSAGE = "Text uploads must be UTF-8."
FILE_ENCODING_MESSAGE = "Code files must be UTF-8 text."


def max_upload_bytes() -> int:
    return int(settings.KABAO_MAX_UPLOAD_BYTES)


def too_large() -> DomainError:
    limit = max_upload_bytes()
    return DomainError(
        "upload_too_large",
        f"An upload is at most {limit} bytes ({limit // (1024 * 1024)} MiB); split the codes into "
        "several uploads. Nothing was stored.",
        status=413,
    )


def check_declared_size(meta: dict[str, Any]) -> None:
    """Refuse a body whose Content-Length is over the limit before a byte of it is read."""
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_upload_bytes():
        raise too_large()


class _CountingReader(io.RawIOBase):
    """A binary stream over anything with `read(n)`, refusing to read past the upload limit (a
    body without a Content-Length, or one that lies about it, is stopped here)."""

    def __init__(self, source: IO[bytes] | Any):
        self.source = source
        self.count = 0
        self.limit = max_upload_bytes()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise too_large()
        buffer[: len(data)] = data
        return len(data)


def text_lines(source: IO[bytes] | Any, *, encoding_message: str = TEXT_ENCODING_MESSAGE) -> Iterator[str]:
    """The lines of a UTF-8 stream (a byte-order mark is dropped; \\n, \\r\\n and \\r all end a line)."""
    text = io.TextIOWrapper(io.BufferedReader(_CountingReader(source)), encoding="utf-8-sig", newline=None)
    try:
        yield from text
    except UnicodeDecodeError as exc:
        raise DomainError("invalid_encoding", encoding_message) from exc


def file_lines(upload: UploadedFile) -> Iterator[str]:
    """The lines of an uploaded .txt or .csv file, read from where Django spooled it."""
    if PurePath(upload.name or "").suffix.lower() not in FILE_SUFFIXES:
        raise DomainError(
            "unsupported_file_type",
            "Upload a .txt or .csv file with one code a line.",
            fields={"file": ["txt or csv"]},
        )
    upload.seek(0)
    return text_lines(upload.file, encoding_message=FILE_ENCODING_MESSAGE)


class PlainTextLinesParser(parsers.BaseParser):
    """text/plain, one code a line: the parsed data is a lazy iterator over the request stream."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        return text_lines(stream)


class StreamJSONParser(parsers.BaseParser):
    """JSON read from the request stream under the upload limit.

    DRF hands its own JSONParser `request.body`, which Django caps at DATA_UPLOAD_MAX_MEMORY_SIZE
    (2.5 MB): far less than 100,000 codes. Same errors as DRF's parser.
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {}
        try:
            return json.load(io.TextIOWrapper(io.BufferedReader(_CountingReader(stream)), encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
