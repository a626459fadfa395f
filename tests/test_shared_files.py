"""The seed document and the corpus are found from the repository, and a missing one fails
the run when TASKFLOW_TEST_REQUIRE_SEED=1 instead of skipping silently."""

from __future__ import annotations

import pytest

from tests.conftest import CORPUS, REPO, SEED_DOCUMENT, SHARED, shared_file


def test_the_shared_files_are_found_beside_the_repository(seed_document, corpus):
    assert SHARED.parent == REPO.parent  # ../shared, wherever the repository is
    assert seed_document == SEED_DOCUMENT and seed_document.stat().st_size > 10_000
    assert corpus and all(path.parent == CORPUS for path in corpus)
    assert all(path.with_suffix(".expected.json").exists() for path in corpus)


def test_a_missing_file_skips_without_the_requirement(tmp_path, monkeypatch):
    monkeypatch.delenv("TASKFLOW_TEST_REQUIRE_SEED", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"missing\.txt not found"):
        shared_file(tmp_path / "missing.txt")


def test_a_missing_file_fails_when_required(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_TEST_REQUIRE_SEED", "1")
    with pytest.raises(pytest.fail.Exception, match=r"TASKFLOW_TEST_REQUIRE_SEED=1 requires it"):
        shared_file(tmp_path / "missing.txt")
    assert shared_file(SEED_DOCUMENT) == SEED_DOCUMENT  # present: no failure
