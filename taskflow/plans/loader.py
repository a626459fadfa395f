"""Read plan files and units files from disk into validated, resolved objects."""

from __future__ import annotations

from pathlib import Path

from taskflow.errors import UserError
from taskflow.plans.expand import ResolvedPlan, expand
from taskflow.plans.schema import PlanFile
from taskflow.plans.units import UnitIndex, check_units, entries_from_flat, read_units_files
from taskflow.plans.yamlio import Located, read_located, validate


def read_plan_file(path: Path) -> tuple[PlanFile, Located]:
    located = read_located(path)
    if isinstance(located.data, dict) and "units" in located.data and "tasks" not in \
            located.data and "code" not in located.data:
        raise UserError.single("这是单位文件，请用 taskflow units import 导入", file=str(path))
    return validate(PlanFile, located), located


def resolve_plan_file(path: Path, units: UnitIndex, *, year: int | None) -> ResolvedPlan:
    plan, located = read_plan_file(path)
    return expand(plan, located, units, year=year)


def index_from_units_files(paths: list[Path]) -> UnitIndex:
    """A unit directory built from units files only (no database), for checking plans."""
    flat = read_units_files(paths)
    problems = check_units(flat)
    if problems:
        raise UserError(problems)
    return UnitIndex(entries_from_flat(flat))
