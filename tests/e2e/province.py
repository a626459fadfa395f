"""A small province for the multi-machine tests: several counties, a plan each.

The fixture county (tests/fixtures/org.yaml, plan.yaml) is copied under a province root once
per county, with its own unit codes, names and e-mail domain, and its own copy of the plan
(code ``<county>-demo``), so the plans fall into different regions of the unit tree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.conftest import FIXTURES

IMPORTED_AT = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
COUNTIES = {"k1": "东", "k2": "西", "k3": "南", "k4": "北"}


def _county(code: str, label: str) -> dict:
    text = (FIXTURES / "org.yaml").read_text(encoding="utf-8")
    text = (text.replace("code: t.", f"code: {code}.").replace("code: t\n", f"code: {code}\n")
            .replace("t.example.org", f"{code}.example.org").replace("测试县", f"{label}县")
            .replace("示例", f"{label}"))
    [unit] = yaml.safe_load(text)["units"]
    unit["aliases"] = [f"{label}县"]
    return unit


def write_files(directory: Path, counties: dict[str, str] = COUNTIES, *,
                digests: bool = False) -> tuple[Path, list[Path]]:
    """The org file and one plan file per county; (org file, plan files). The plans send
    each reminder alone unless ``digests`` (the tests need many messages in flight)."""
    directory.mkdir(parents=True, exist_ok=True)
    org = {"units": [{"code": "p", "name": "示范省人民政府", "kind": "province",
                      "children": [_county(code, label) for code, label in counties.items()]}]}
    org_path = directory / "org.yaml"
    org_path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    plans = []
    for code, label in counties.items():
        text = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")
        text = (text.replace("code: demo", f"code: {code}-demo")
                .replace("jurisdiction: t", f"jurisdiction: {code}")
                .replace("测试县", f"{label}县"))
        if not digests:  # one message per reminder: many messages in flight at once
            text += "\npolicy:\n  digest: false\n"
        path = directory / f"{code}-plan.yaml"
        path.write_text(text, encoding="utf-8")
        plans.append(path)
    return org_path, plans


def build(engine, directory: Path, counties: dict[str, str] = COUNTIES, *,
          year: int = 2025) -> list[str]:
    """Import the province into a migrated database; the plan codes."""
    from taskflow.db import write_session
    from taskflow.plans.units import read_units_files
    from taskflow.services import intake
    from taskflow.services.units import import_units

    org, plans = write_files(directory, counties)
    with write_session(engine) as session:
        import_units(session, read_units_files([org]), actor="test", now=IMPORTED_AT)
    codes = []
    for path in plans:
        with write_session(engine) as session:
            (taken,) = intake.import_file(session, path=path, year=year, actor="test",
                                          now=IMPORTED_AT)
        codes.append(taken.resolved.code)
    return codes
