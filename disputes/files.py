"""Evidence files are never public URLs: they are served through this, after the reader's access
to the dispute was checked (`dispute_visible_to`)."""

from django.http import FileResponse

from disputes.models import Attachment, Dispute
from kabao.errors import NotFound


def attachment_response(dispute: Dispute, attachment_id: int) -> FileResponse:
    attachment = Attachment.objects.filter(pk=attachment_id, event__dispute=dispute).first()
    if attachment is None:
        raise NotFound("No such file.")
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type,
    )
