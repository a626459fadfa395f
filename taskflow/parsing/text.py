"""Input hygiene: decoding, normalisation, paragraphs with their source lines.

Plans arrive as UTF-8 (with or without a BOM), GBK/GB18030 or UTF-16 text, with full-width and
half-width punctuation and digits mixed, and with stray spaces the text extraction left between
digits and units ("6 月 10 日前"). Normalisation here is per character, so a normalised line is
the same line of the source: line numbers in the review always point at the original file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Full-width ASCII (！ to ～) becomes ASCII; the ideographic space becomes a space. Chinese
# punctuation that has no ASCII twin (。、“”《》—) is kept as it is.
_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WIDTH.update({0x3000: 0x20, 0x00A0: 0x20, 0x2002: 0x20, 0x2003: 0x20, 0x2009: 0x20,
               0x200B: None, 0x200C: None, 0x200D: None, 0xFEFF: None, 0x2060: None,
               0x3007: ord("〇")})
# Variants of the same mark that plans use interchangeably.
# 號 is the traditional form of 号 ("6月10號前"): the same day.
_WIDTH.update({ord("號"): ord("号"), ord("﹙"): ord("("), ord("﹚"): ord(")"), ord("〔"): ord("〔"),
               ord("︰"): ord(":"), ord("﹕"): ord(":"), ord("﹔"): ord(";"), ord("﹐"): ord(",")})


_NEEDS = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_WIDTH)) + "]")


def normalize(text: str) -> str:
    """Full-width ASCII to half-width; odd spaces to spaces; zero-width marks removed."""
    return text.translate(_WIDTH) if _NEEDS.search(text) else text


def decode(data: bytes) -> tuple[str, str]:
    """Bytes of a text file to (text, encoding): UTF-8 (BOM or not), UTF-16 (BOM), GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK and GB2312: one decoder reads all three.
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), "utf-8 (with undecodable bytes replaced)"


_SPACES = re.compile(r"\s+")


_RUNS = re.compile(r"\S+")
_WHITESPACE = re.compile(r"\s")


def compact(text: str) -> tuple[str, Sequence[int]]:
    """``text`` without whitespace, and for each kept character its index in ``text``."""
    if not _WHITESPACE.search(text):
        return text, range(len(text))
    keep: list[int] = []
    parts = []
    for m in _RUNS.finditer(text):
        keep.extend(range(m.start(), m.end()))
        parts.append(m[0])
    return "".join(parts), keep


def squeeze(text: str) -> str:
    return _SPACES.sub("", text)


@dataclass
class Para:
    """A paragraph: one or more source lines joined (a sentence broken by the extraction)."""

    text: str
    line: int  # 1-based line (or row) where it starts
    end_line: int = 0

    def __post_init__(self) -> None:
        if not self.end_line:
            self.end_line = self.line


_ENDS_SENTENCE = re.compile(r"[。;!?:)”’」』》]\s*$")
_ENDS_WITH_TERMINATOR = re.compile(r"[。;!?]\s*$")
# A numbered line without any sentence punctuation is a heading, whole as it is.
_INNER_STOP = re.compile(r"[。;,:!?]")


def paragraphs(lines: list[tuple[int, str]], starts_block) -> list[Para]:
    """Non-empty lines as paragraphs, joining a sentence the text extraction broke in two.

    A line that stops mid-sentence (no closing punctuation) is joined with the next non-empty
    line when that one finishes a sentence and does not start a new block (a numbered item, a
    label, a 篇 heading): "...实现爱心人士" + "注册量在 2019 年的基础上...。". Flattened table cells
    (short lines without punctuation) are left alone.
    """
    out: list[Para] = []
    for number, raw in lines:
        text = raw.strip()
        if not text:
            continue
        prev = out[-1] if out else None
        if (prev is not None and len(prev.text) >= 20 and not _ENDS_SENTENCE.search(prev.text)
                and _ENDS_WITH_TERMINATOR.search(text) and not starts_block(text)
                and not (starts_block(prev.text) and not _INNER_STOP.search(prev.text))):
            prev.text += text
            prev.end_line = number
            continue
        out.append(Para(text, number))
    return out
