"""Uploading a plan file on the web: stage it, show the parse review, import on confirm.

The flow is ``taskflow plan import [--dry-run]``'s: the intake pipeline (services.intake)
reads the file (documents .txt .md .docx .xlsx through taskflow.parsing, or plan YAML),
expands it against the unit directory, finds the plan it updates (same code, or same title
and issuer) and imports it (idempotent: confirming twice changes nothing the second time).
The review is the same import in a rolled-back transaction, so it shows exactly what the
confirm will do: a new plan, or the tasks added, changed and removed.

The uploaded bytes wait under ``<data dir>/staging/plans/<random id>/`` with the options and
the uploading user; only that user can review or confirm them. Nothing is imported before
the confirm POST.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from taskflow.domain.labels import PLAN_FIELD_LABELS, TASK_FIELD_LABELS
from taskflow.models import Task, Unit
from taskflow.services import intake
from taskflow.services.plan_identity import Match
from taskflow.services.plans import ImportReport
from taskflow.services.units import unit_index

MAX_BYTES = 5 * 1024 * 1024
ALLOWED = (*intake.DOCUMENT_SUFFIXES, *intake.YAML_SUFFIXES)
STAGING_ID = re.compile(r"[A-Za-z0-9_-]{20,64}")
KEEP_SECONDS = 2 * 86400  # staged files older than this are removed at the next upload
GOVERNMENT_KINDS = ("province", "city", "county", "township")


class UploadRefused(Exception):
    """A file the web refuses before parsing: wrong type (415) or too big (413)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Staged:
    id: str
    directory: Path
    filename: str  # as uploaded, cleaned
    user_id: int
    year: int | None = None
    jurisdiction: str | None = None
    part: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / f"upload{Path(self.filename).suffix.lower()}"

    def save_options(self) -> None:
        (self.directory / "meta.json").write_text(json.dumps({
            "filename": self.filename, "user_id": self.user_id, "year": self.year,
            "jurisdiction": self.jurisdiction, "part": self.part}, ensure_ascii=False),
            encoding="utf-8")


def clean_name(filename: str | None) -> str:
    """The file's own name, without any directory part or control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return name[:200] or "upload"


def check_upload(filename: str, data: bytes) -> None:
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED:
        raise UploadRefused(415, f"文件类型「{suffix or '无扩展名'}」不允许：请上传 "
                                 f"{' '.join(ALLOWED)} 文件")
    if len(data) > MAX_BYTES:
        raise UploadRefused(413, f"文件过大：不超过 {MAX_BYTES // (1024 * 1024)} MB")
    if not data:
        raise UploadRefused(400, "文件为空")
    if suffix in (".docx", ".xlsx") and not data.startswith(b"PK"):
        raise UploadRefused(415, f"文件内容不是 {suffix} 格式")


def staging_root(data_dir: Path) -> Path:
    return data_dir / "staging" / "plans"


def stage(data_dir: Path, *, user_id: int, filename: str, data: bytes, year: int | None,
          jurisdiction: str | None, part: int | None) -> Staged:
    root = staging_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    _sweep_old(root)
    staged = Staged(secrets.token_urlsafe(24), Path(), filename, user_id, year, jurisdiction,
                    part)
    staged.directory = root / staged.id
    staged.directory.mkdir(mode=0o700)
    staged.path.write_bytes(data)
    staged.save_options()
    return staged


def load(data_dir: Path, staging_id: str) -> Staged | None:
    if not STAGING_ID.fullmatch(staging_id):
        return None
    directory = staging_root(data_dir) / staging_id
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Staged(staging_id, directory, meta["filename"], meta["user_id"], meta.get("year"),
                  meta.get("jurisdiction"), meta.get("part"))


def _sweep_old(root: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for child in root.iterdir():
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue


# -- review, import ---------------------------------------------------------------------------


@dataclass
class Change:
    """One line of a re-import's difference, as the review shows it."""

    what: str  # 新增 / 修改 / 移除 / 恢复 / 其他
    code: str  # a task's code ("方案" for the plan's own fields)
    title: str
    detail: str = ""


@dataclass
class PlanPreview:
    """One plan of the file as the review and the confirmation show it."""

    label: str
    code: str
    title: str
    year: int
    jurisdiction: str  # the jurisdiction's name
    report: ImportReport
    match: Match | None  # the existing plan it updates
    retitled_from: str | None  # the file's title, when the plan gets another to tell it apart
    tree: list[intake.OutlineRow] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def existing_plan_id(self) -> int | None:
        return self.match.plan_id if self.match else None


@dataclass
class Outcome:
    previews: list[PlanPreview]
    errors: list[str] = field(default_factory=list)
    reviews: list[Any] = field(default_factory=list)  # every part's review, with or without tasks


def run_import(session: Session, staged: Staged, *, actor: str, now: datetime) -> Outcome:
    """Read the staged file and import every plan in it into ``session`` (the caller's
    transaction decides: rolled back for the review, committed on confirm)."""
    source = intake.Source(staged.path, name=staged.filename, via="web")
    units = unit_index(session)
    reading = intake.read(source, units=units, year=staged.year, part=staged.part,
                          jurisdiction=staged.jurisdiction)
    outcome = Outcome([], reviews=reading.reviews)
    for taken in intake.take_in(session, reading=reading, year=staged.year, actor=actor,
                                now=now):
        resolved = taken.resolved
        names = intake.unit_names(units, resolved)
        outcome.previews.append(PlanPreview(
            taken.found.label, resolved.code, resolved.title, resolved.year,
            names.get(resolved.jurisdiction_code, resolved.jurisdiction_code), taken.report,
            taken.match, taken.retitled_from if taken.renamed else None,
            intake.outline(resolved.tasks, names), _changes(session, taken)))
    return outcome


def _changes(session: Session, taken: intake.Intake) -> list[Change]:
    """What a re-import adds, changes, removes and restores, task by task."""
    report = taken.report
    if report.created or report.noop:
        return []
    titles = {task.code: task.title for task in taken.resolved.tasks}
    if report.removed and taken.match is not None:
        titles.update(session.execute(select(Task.code, Task.title).where(
            Task.plan_id == taken.match.plan_id, Task.code.in_(report.removed))).all())
    out = [Change("新增", code, titles[code]) for code in report.added]
    out += [Change("修改", code, titles[code], "、".join(TASK_FIELD_LABELS[f] for f in fields))
            for code, fields in report.changed.items()]
    out += [Change("移除", code, titles.get(code, ""), "归档，已报送的进度保留")
            for code in report.removed]
    out += [Change("恢复", code, titles[code]) for code in report.restored]
    out += [Change("修改", "方案", PLAN_FIELD_LABELS[name]) for name in report.plan_changed]
    out += [Change("其他", "", change) for change in report.other_changes]
    return out


def jurisdiction_choices(session: Session) -> list[tuple[str, str]]:
    return [(code, name) for code, name in session.execute(
        select(Unit.code, Unit.name).where(Unit.kind.in_(GOVERNMENT_KINDS))
        .order_by(Unit.code)).all()]
