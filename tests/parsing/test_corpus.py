"""The development corpus (../shared/corpus) scored in-process with its own scorer's rules.

score.py runs `taskflow plan parse` per document; here the same matching (score.py's own
functions, loaded from the corpus folder) runs on the parser in this process, so a regression
shows in the test run. The held-apart documents are scored by the same rules elsewhere.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from taskflow.parsing import dump_plan, parse_text
from tests.conftest import CORPUS, shared_file


@pytest.fixture(scope="module")
def scorer():
    spec = importlib.util.spec_from_file_location("corpus_score",
                                                  shared_file(CORPUS / "score.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def score_document(scorer, path, year: int) -> tuple[int, int]:
    body = "".join(line for line in path.read_text(encoding="utf-8").splitlines(True)
                   if not line.startswith("# source:"))
    result = parse_text(body, source="plan.txt", year=year)
    got = []
    if len(result.found) == 1:
        got = scorer.tasks(yaml.safe_load(dump_plan(result.found[0].plan)), [])
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    right = 0
    for t in expected:
        best = max(got, key=lambda g: scorer.overlap(t["title"], g["title"]), default=None)
        if best is None or scorer.overlap(t["title"], best["title"]) < 0.5:
            continue
        units = all(scorer.has_unit(u, best["lead"]) for u in t["lead_units"]) and \
            all(scorer.has_unit(u, best["units"]) for u in t["responsible_units"])
        want = {scorer.expected_due(d, year) for d in t["deadlines"]} - {None}
        right += bool(units and want <= best["dates"])
    return right, len(expected)


def test_the_corpus_scores_at_least_95_percent(scorer, corpus):
    years = json.loads(shared_file(CORPUS / "years.json").read_text(encoding="utf-8"))
    per_doc = {p.stem: score_document(scorer, p, years[p.stem]) for p in corpus}
    right = sum(r for r, _ in per_doc.values())
    total = sum(n for _, n in per_doc.values())
    assert right / total >= 0.95, per_doc
    # No document is lost as a whole: each has most of its tasks right.
    assert all(r / n >= 0.9 for r, n in per_doc.values()), per_doc
