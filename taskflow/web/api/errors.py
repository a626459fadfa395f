"""Request validation errors as the API sends them: ``[{"loc", "msg", "type"}]`` with the
message in Chinese where the error kind is a common one (pydantic's English otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字（字符串或数值）",
    "finite_number": "应为有限的数字",
    "float_parsing": "应为数字",
    "string_type": "应为文本",
    "bool_parsing": "应为 true 或 false",
    "date_from_datetime_parsing": "应为日期 YYYY-MM-DD",
    "date_parsing": "应为日期 YYYY-MM-DD",
    "date_type": "应为日期 YYYY-MM-DD",
    "enum": "应为以下之一：{expected}",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_long": "最长 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "list_type": "应为列表",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "json_invalid": "请求体不是有效的 JSON",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "value_error":  # our validators' own (Chinese) messages
        return str(error.get("msg", "")).removeprefix("Value error, ")
    template = MESSAGES.get(kind)
    if template is None:
        return str(error.get("msg", ""))
    try:
        return template.format(**{k: str(v) for k, v in (error.get("ctx") or {}).items()})
    except (KeyError, IndexError):
        return str(error.get("msg", ""))


def validation_detail(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-safe (``ctx`` may hold Decimals and exceptions; ``input`` may be the whole
    body, so neither is echoed)."""
    return [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
             "msg": _message(e), "type": str(e.get("type", ""))} for e in errors]
