"""Uploading a plan file on the web: stage it, show the parse review, import on confirm.

The flow mirrors ``taskflow plan import [--dry-run]`` and calls the same functions: documents
(.txt .md .docx .xlsx) go through ``taskflow.parsing`` and become plan files in memory, YAML
is loaded and validated as ``read_plan_file`` does; both are expanded against the unit
directory and imported by ``services.plans.import_plan`` (idempotent: confirming twice
changes nothing the second time). The review is a dry run in a rolled-back transaction.

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

from taskflow.errors import UserError
from taskflow.models import Plan, Unit
from taskflow.services.plans import ImportReport

MAX_BYTES = 5 * 1024 * 1024
DOCUMENTS = (".txt", ".md", ".docx", ".xlsx")
YAML = (".yaml", ".yml")
ALLOWED = (*DOCUMENTS, *YAML)
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


# -- parse, review, import -------------------------------------------------------------------


@dataclass
class TreeNode:
    code: str
    title: str
    depth: int
    kind: str
    due_on: Any
    lead: list[str]
    responsible: list[str]
    recurrence: str | None


@dataclass
class PlanPreview:
    label: str
    code: str | None = None
    title: str | None = None
    year: int | None = None
    jurisdiction: str | None = None
    review: Any = None  # parsing.Review, for documents
    tree: list[TreeNode] = field(default_factory=list)
    report: ImportReport | None = None
    existing_plan_id: int | None = None


@dataclass
class Outcome:
    previews: list[PlanPreview]
    errors: list[str] = field(default_factory=list)
    reviews: list[Any] = field(default_factory=list)  # every part's review, with or without tasks


def _documents(staged: Staged, units, outcome: Outcome) -> list[tuple[PlanPreview, Any, Any]]:
    from taskflow.parsing import dump_plan, parse_file
    from taskflow.plans.schema import PlanFile
    from taskflow.plans.yamlio import load_located, validate

    result = parse_file(staged.path, year=staged.year, units=units,
                        jurisdiction=staged.jurisdiction, source=staged.filename)
    chosen = [result.part(staged.part)] if staged.part is not None else result.plans
    out = []
    for parsed in chosen:
        outcome.reviews.append(parsed.review)
        if parsed.plan is None:
            continue
        label = staged.filename + (f"（篇{parsed.part}）" if parsed.part is not None else "")
        located = load_located(dump_plan(parsed.plan), label)
        out.append((PlanPreview(label, review=parsed.review), validate(PlanFile, located),
                    located))
    if not out:
        raise UserError.single("文件中没有找到实施方案的任务", file=staged.filename)
    return out


def _yaml(staged: Staged) -> list[tuple[PlanPreview, Any, Any]]:
    from taskflow.plans.schema import PlanFile
    from taskflow.plans.yamlio import load_located, validate

    try:
        text = staged.path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError.single("YAML 文件须为 UTF-8 编码", file=staged.filename) from None
    located = load_located(text, staged.filename)
    if isinstance(located.data, dict) and "units" in located.data and "tasks" not in \
            located.data and "code" not in located.data:
        raise UserError.single("这是单位名录文件，不是实施方案", file=staged.filename)
    return [(PlanPreview(staged.filename), validate(PlanFile, located), located)]


def run_import(session: Session, staged: Staged, *, actor: str, now: datetime) -> Outcome:
    """Parse the staged file and import every plan in it into ``session`` (the caller's
    transaction decides: rolled back for the review, committed on confirm)."""
    from taskflow.plans.expand import expand
    from taskflow.services.plans import import_plan
    from taskflow.services.units import unit_index

    outcome = Outcome([])
    units = unit_index(session)
    if Path(staged.filename).suffix.lower() in YAML:
        found = _yaml(staged)
    else:
        found = _documents(staged, units, outcome)
    names = dict(session.execute(select(Unit.code, Unit.name)).all())
    for preview, plan_file, located in found:
        resolved = expand(plan_file, located, unit_index(session), year=staged.year)
        preview.code, preview.title, preview.year = resolved.code, resolved.title, resolved.year
        for unit in resolved.new_units:
            names.setdefault(unit.spec.code, unit.spec.name)
        preview.jurisdiction = names.get(resolved.jurisdiction_code, resolved.jurisdiction_code)
        preview.tree = _tree(resolved.tasks, names)
        preview.existing_plan_id = session.scalar(select(Plan.id).where(
            Plan.code == resolved.code))
        preview.report = import_plan(session, resolved, actor=actor, now=now,
                                     source_file=f"web:{staged.filename}")
        outcome.previews.append(preview)
    return outcome


def _tree(tasks, names: dict[str, str]) -> list[TreeNode]:
    depth: dict[str, int] = {}
    out = []
    for task in tasks:
        depth[task.code] = depth.get(task.parent_code, -1) + 1 if task.parent_code else 0
        lead = [names.get(code, code) for code, role in task.units if role == "lead"]
        others = [names.get(code, code) for code, role in task.units if role != "lead"]
        out.append(TreeNode(task.code, task.title, depth[task.code], task.kind, task.due_on,
                            lead, others, task.recurrence))
    return out


def jurisdiction_choices(session: Session) -> list[tuple[str, str]]:
    return [(code, name) for code, name in session.execute(
        select(Unit.code, Unit.name).where(Unit.kind.in_(GOVERNMENT_KINDS))
        .order_by(Unit.code)).all()]
