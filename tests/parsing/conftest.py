from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO

SEED_DOCUMENT = REPO.parent / "shared" / "seed" / "000_cdc5908520cba364.txt"


@pytest.fixture(scope="session")
def org():
    from taskflow.plans.loader import index_from_units_files

    return index_from_units_files([REPO / "seed_plans" / "org"])


@pytest.fixture(scope="session")
def seed_document() -> Path:
    if not SEED_DOCUMENT.exists():
        pytest.skip(f"seed document not found at {SEED_DOCUMENT}")
    return SEED_DOCUMENT


@pytest.fixture(scope="session")
def seed_result(seed_document, org):
    from taskflow.parsing import parse_file

    return parse_file(seed_document, year=2025, units=org)
