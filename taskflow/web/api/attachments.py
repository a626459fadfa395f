"""GET /api/tasks/{id}/attachments and GET /api/attachments/{id}: the evidence files of a
task's reports and submissions.

The scope rule is the download page's (taskflow.web.routes.attachments): a file is for
whoever sees its task, and anything else answers 404 exactly like a missing ID, audited as
``access_denied``. The file is always a download (Content-Disposition: attachment) with the
type assigned at upload and ``nosniff``, never rendered.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from taskflow.models import Attachment, Task
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import ERRORS, Id, attachments_public, visible_task
from taskflow.web.api.schemas import AttachmentsPublic
from taskflow.web.deps import ReadDB, deny
from taskflow.web.routes.attachments import content_disposition
from taskflow.web.uploads import TYPES, stored_path

log = logging.getLogger(__name__)
router = APIRouter(tags=["附件"], responses=ERRORS)

MISSING = "附件不存在"
_BINARY = {"schema": {"type": "string", "format": "binary"}}
CONTENT_TYPES = sorted({kind.split(";")[0] for kind, _ in TYPES.values()})


@router.get("/tasks/{task_id}/attachments", summary="任务的附件",
            response_model=AttachmentsPublic)
def read_attachments(task_id: Id, request: Request, viewer: ApiViewer,
                     session: ReadDB) -> AttachmentsPublic:
    """随进度报送和提交办结上传的佐证材料（按上传先后）；下载用 GET /api/attachments/{id}。"""
    visible_task(session, request, viewer, task_id)
    rows = list(session.scalars(select(Attachment).where(Attachment.task_id == task_id)
                                .order_by(Attachment.id)))
    return AttachmentsPublic(data=attachments_public(session, rows), count=len(rows))


@router.get("/attachments/{attachment_id}", summary="下载附件", response_class=FileResponse,
            responses={200: {"description": "附件内容（作为下载，Content-Disposition: attachment）",
                             "content": {kind: _BINARY for kind in CONTENT_TYPES}}})
def download_attachment(attachment_id: Id, request: Request, viewer: ApiViewer,
                        session: ReadDB) -> FileResponse:
    """附件文件本身，仅限能查看其任务的用户；文件名见 Content-Disposition（RFC 5987
    ``filename*``），类型为上传时判定的类型。"""
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
