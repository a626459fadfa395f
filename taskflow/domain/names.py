"""Names people type or paste (unit names and their aliases): one normal form before any name
is compared or stored.

A name copied from a web page or a Word document can carry characters that show as nothing or
as an ordinary space: a zero-width space (U+200B), a no-break space (U+00A0), full-width forms
(（县）, ＡＢＣ), an ideographic space (U+3000), a soft hyphen. Two names that look the same must
be the same unit, so every name goes through ``clean_name`` first.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that render as nothing but are not of Unicode category Cf (format), which is
# removed wholesale: fillers that fonts draw blank.
_BLANK_FILLERS = "\u115f\u1160\u3164\uffa0\u2800"
_WHITESPACE = re.compile(r"\s+")


def clean_name(text: str) -> str:
    """``text`` in NFKC (full-width forms and the no-break space become ASCII), without
    invisible characters (format characters such as U+200B/U+200D/U+FEFF/U+00AD, blank
    fillers, control characters other than whitespace), every run of whitespace one space,
    stripped."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(
        ch for ch in text
        if ch.isspace() or (unicodedata.category(ch) not in ("Cf", "Cc")
                            and ch not in _BLANK_FILLERS))
    return _WHITESPACE.sub(" ", kept).strip()
