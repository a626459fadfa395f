"""One normal form for typed names: NFKC, no invisible characters, single spaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from taskflow.domain.names import clean_name


def test_invisible_characters_go_and_whitespace_collapses():
    assert clean_name("\ufeff县\u200b林业\u200c局\u2060") == "县林业局"
    assert clean_name("县\u00a0\u3000 \t林业局\n") == "县 林业局"
    assert clean_name("（ＡＢＣ）１２") == "(ABC)12"
    assert clean_name("\u3164\u200b ") == ""


@given(st.text())
def test_cleaning_is_idempotent_and_leaves_no_invisible_or_doubled_space(text):
    cleaned = clean_name(text)
    assert clean_name(cleaned) == cleaned
    assert "  " not in cleaned and cleaned == cleaned.strip()
    assert not any(ch in cleaned for ch in "\u200b\u200c\u200d\ufeff\u00ad\u00a0\u3000")
