"""Evidence files on a dispute: images or text, size- and type-checked by their content."""

import hashlib
from collections.abc import Sequence

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from disputes.models import Attachment, DisputeEvent
from kabao.errors import DomainError

MAX_FILES = 5
# What the file's first bytes must be for each accepted type; the browser's claim is not trusted.
SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def _sniff(upload: UploadedFile) -> str:
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for content_type, prefixes in SIGNATURES.items():
        if head.startswith(prefixes) and (content_type != "image/webp" or head[8:12] == b"WEBP"):
            return content_type
    try:
        upload.read().decode("utf-8")
    except UnicodeDecodeError:
        return ""
    finally:
        upload.seek(0)
    return "text/plain"


def attachments_validate(attachments: Sequence[UploadedFile]) -> None:
    if len(attachments) > MAX_FILES:
        raise DomainError(
            "too_many_files", f"At most {MAX_FILES} files.", fields={"attachments": ["too many"]}
        )
    for upload in attachments:
        if (upload.size or 0) > settings.KABAO_DISPUTE_ATTACHMENT_MAX_BYTES:
            raise DomainError(
                "file_too_large",
                f"{upload.name}: files are limited to {settings.KABAO_DISPUTE_ATTACHMENT_MAX_BYTES // 1024} KB.",
                fields={"attachments": ["too large"]},
            )
        if not _sniff(upload):
            raise DomainError(
                "file_type_not_allowed",
                f"{upload.name}: only PNG, JPEG, WebP or GIF images and UTF-8 text files are accepted.",
                fields={"attachments": ["type not allowed"]},
            )


def attachments_save(event: DisputeEvent, attachments: Sequence[UploadedFile]) -> None:
    """Store validated files with the event, in the caller's transaction."""
    for upload in attachments:
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        Attachment.objects.create(
            event=event,
            file=upload,
            name=(upload.name or "file")[:120],
            content_type=_sniff(upload),
            size=upload.size or 0,
            sha256=digest.hexdigest(),
        )
