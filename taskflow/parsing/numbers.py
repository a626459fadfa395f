"""Numbers as plans write them: 12, 1.5, 十二, 两, 三百二十, 1.95万 (cn2an for the long forms)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
CN_DIGITS = "零〇一二两三四五六七八九十百千万"


def small_int(token: str) -> int | None:
    """A month, day, quarter or count: "12", "十二", "二十一", "两". None if not one."""
    if token.isdigit():
        return int(token)
    if not token:
        return None
    if len(token) == 1:
        if token == "十":
            return 10
        return _DIGITS.get(token)
    if "十" in token:
        tens, _, ones = token.partition("十")
        if "十" in ones:
            return None
        t = 1 if tens == "" else _DIGITS.get(tens)
        o = 0 if ones == "" else _DIGITS.get(ones)
        if t is None or o is None:
            return None
        return t * 10 + o
    return cn_number(token)


def cn_year(token: str) -> int | None:
    """二〇一九 / 二零一九 -> 2019."""
    digits = [_DIGITS.get(ch) for ch in token]
    if len(digits) != 4 or any(d is None for d in digits):
        return None
    return int("".join(str(d) for d in digits))


@lru_cache(maxsize=4096)
def cn_number(token: str) -> int | None:
    """A Chinese numeral of any size (cn2an), or None."""
    if token.isdigit():
        return int(token)
    try:
        import cn2an

        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def decimal(token: str) -> Decimal | None:
    """"2490.96" / "两" / "三百" -> Decimal."""
    try:
        return Decimal(token)
    except InvalidOperation:
        pass
    value = cn_number(token)
    return Decimal(value) if value is not None else None
