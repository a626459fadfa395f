"""GET /api/tasks/{id}/attachments and GET /api/attachments/{id}: the evidence files of a
task's reports and submissions.

The download is the page's (taskflow.web.routes.attachments.attachment_file): a file is for
whoever sees its task, and anything else answers 404 exactly like a missing ID, audited as
``access_denied``. The file is always a download (Content-Disposition: attachment) with the
type assigned at upload and ``nosniff``, never rendered.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from taskflow.models import Attachment
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import ERRORS, Id, attachments_public, visible_task
from taskflow.web.api.schemas import AttachmentsPublic
from taskflow.web.deps import ReadDB
from taskflow.web.routes.attachments import attachment_file
from taskflow.web.uploads import TYPES

router = APIRouter(tags=["附件"], responses=ERRORS)
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
    return attachment_file(request, viewer, session, attachment_id)
