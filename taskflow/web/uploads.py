"""Evidence files sent with a progress report: checked, then stored under the data directory.

Every file is read (at most ``upload_max_bytes`` + 1 bytes) and checked before anything is
written: size, an allowed extension, and content that matches it (magic bytes; a .docx or
.xlsx must be a zip holding a Word or Excel document; text must decode). The user's file name
is kept only as a cleaned label; on disk a file is ``<data dir>/attachments/<random name>``,
so no name can reach outside that directory or overwrite another file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from taskflow.errors import UserError
from taskflow.models import Attachment

MAX_FILES = 10  # files per report
MAX_NAME = 120  # characters of a cleaned file name

# extension → (content type served, magic prefixes; None: checked otherwise)
TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             (b"PK\x03\x04",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             (b"PK\x03\x04",)),
    "zip": ("application/zip", (b"PK\x03\x04", b"PK\x05\x06")),
    "txt": ("text/plain; charset=utf-8", None),
}
ALLOWED = "、".join(sorted({e for e in TYPES if e != "jpeg"}))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# Office Open XML: the part a Word / Excel document must hold.
_OOXML_PART = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}


@dataclass(frozen=True)
class CheckedFile:
    filename: str  # cleaned, for display and the download's name
    content_type: str
    data: bytes
    sha256: str


def clean_filename(raw: str | None) -> str:
    """The name a user gave, as a harmless label; UserError for a name that tries to be a
    path ("../x", "a/b", "C:\\x") rather than silently stripping it."""
    name = unicodedata.normalize("NFC", raw or "")
    name = _CONTROL.sub("", name).strip()
    if not name:
        raise UserError.single("附件缺少文件名", field="附件")
    if "/" in name or "\\" in name or ".." in name or name.startswith(".") or ":" in name:
        raise UserError.single(f"附件文件名「{name[:60]}」不合法：不能包含路径（/ \\ .. :）",
                               field="附件")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:MAX_NAME - len(ext) - 1] + "." + ext) if dot else name[:MAX_NAME]
    return name


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _content_matches(ext: str, data: bytes) -> bool:
    magic = TYPES[ext][1]
    if magic is not None and not data.startswith(magic):
        return False
    if ext in _OOXML_PART:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _OOXML_PART[ext] in archive.namelist()
        except zipfile.BadZipFile:
            return False
    if ext == "txt":
        if b"\x00" in data:
            return False
        for encoding in ("utf-8", "gb18030"):
            try:
                data.decode(encoding)
                return True
            except UnicodeDecodeError:
                continue
        return False
    return True


def check_file(raw_name: str | None, data: bytes, *, max_bytes: int) -> CheckedFile:
    name = clean_filename(raw_name)
    if len(data) > max_bytes:
        raise UserError.single(f"附件「{name}」超过大小限制 {max_bytes // (1024 * 1024) or 1} MB"
                               f"（{max_bytes} 字节）", field="附件")
    if not data:
        raise UserError.single(f"附件「{name}」是空文件", field="附件")
    ext = _extension(name)
    if ext not in TYPES:
        raise UserError.single(f"附件「{name}」的类型不允许；允许的类型：{ALLOWED}", field="附件")
    if not _content_matches(ext, data):
        raise UserError.single(f"附件「{name}」的内容与扩展名 .{ext} 不符", field="附件")
    return CheckedFile(filename=name, content_type=TYPES[ext][0], data=data,
                       sha256=hashlib.sha256(data).hexdigest())


async def read_uploads(uploads: list, *, max_bytes: int) -> list[CheckedFile]:
    """The form's files, all checked (a browser sends an empty part when none is chosen)."""
    files = [u for u in uploads if getattr(u, "filename", None)]
    if len(files) > MAX_FILES:
        raise UserError.single(f"一次最多上传 {MAX_FILES} 个附件", field="附件")
    checked = []
    for upload in files:
        data = await upload.read(max_bytes + 1)  # one byte more tells "too big"
        checked.append(check_file(upload.filename, data, max_bytes=max_bytes))
    return checked


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments"


def store(files: list[CheckedFile], *, data_dir: Path, task_id: int, unit_id: int | None,
          report_id: int | None, uploader: str, now: datetime) -> tuple[list[Attachment],
                                                                       list[Path]]:
    """Write the files (new names, exclusive create) and return their rows and paths; the
    caller adds the rows in the report's transaction and removes the paths if it fails."""
    directory = attachments_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    rows, paths = [], []
    try:
        for item in files:
            stored = secrets.token_hex(16)
            path = directory / stored
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            paths.append(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.data)
            rows.append(Attachment(task_id=task_id, unit_id=unit_id, report_id=report_id,
                                   filename=item.filename, stored_name=stored,
                                   content_type=item.content_type, size=len(item.data),
                                   sha256=item.sha256, uploaded_at=now, uploader=uploader))
    except BaseException:
        remove(paths)
        raise
    return rows, paths


def remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def stored_path(data_dir: Path, attachment: Attachment) -> Path:
    # stored_name is ours (hex), never the user's; checked anyway so a bad row cannot escape.
    if not re.fullmatch(r"[0-9a-f]{32}", attachment.stored_name):
        raise ValueError(f"bad stored name {attachment.stored_name!r}")
    return attachments_dir(data_dir) / attachment.stored_name
