from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def org():
    from taskflow.plans.loader import index_from_units_files

    return index_from_units_files([REPO / "seed_plans" / "org"])


@pytest.fixture(scope="session")
def seed_result(seed_document, org):
    from taskflow.parsing import parse_file

    return parse_file(seed_document, year=2025, units=org)
