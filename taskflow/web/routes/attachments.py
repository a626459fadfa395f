"""Downloading a report's evidence: only for viewers who see the task (else 404 + audit).

Always served as a download (Content-Disposition: attachment, the name as RFC 5987
``filename*``) with the type we assigned at upload and ``nosniff``, so an uploaded file is
never rendered as a page of this site.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session

from taskflow.models import Attachment, Task
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, ReadDB, deny
from taskflow.web.uploads import stored_path

log = logging.getLogger(__name__)
router = APIRouter()
MISSING = "附件不存在"  # also the answer out of scope (deny(what="附件")): the same words


def content_disposition(filename: str) -> str:
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                       for c in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def attachment_file(request: Request, viewer: Viewer, session: Session,
                    attachment_id: int) -> FileResponse:
    """The file of an attachment whose task the viewer sees (the page's and the API's
    download). A missing attachment, an archived task or a lost file answers 404; an
    attachment outside the viewer's scope the same 404, audited."""
    attachment = session.get(Attachment, attachment_id)
    task = session.get(Task, attachment.task_id) if attachment is not None else None
    if task is None or task.archived_at is not None:
        raise HTTPException(status_code=404, detail=MISSING)
    if not viewer.sees_task(session, task):
        raise deny(request, viewer, entity="attachment", entity_id=attachment_id, what="附件")
    path = stored_path(request.app.state.settings.data_dir, attachment)
    if not path.is_file():
        log.warning("attachment %s: file %s is missing", attachment_id, path)
        raise HTTPException(status_code=404, detail=MISSING)
    return FileResponse(path, media_type=attachment.content_type, headers={
        "Content-Disposition": content_disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@router.get("/attachments/{attachment_id}", include_in_schema=False)
def download(request: Request, attachment_id: int, session: ReadDB, viewer: CurrentViewer
             ) -> Response:
    return attachment_file(request, viewer, session, attachment_id)
