"""Errors and review notes worded for the web.

The services word their errors for the command line: a problem names the option it is about
(``--amount``) and a review note says "请用 --jurisdiction 指定". On a page the same problem
names the form's field and points at the page's control instead.
"""

from __future__ import annotations

from taskflow.errors import UserError

# CLI options as the web forms call the same thing.
FIELD_LABELS = {"--amount": "金额", "--on": "拨付日期", "--line": "资金项目", "--task": "任务",
                "--unit": "单位", "--tag": "标签", "--plan": "方案", "--period": "统计期间",
                "--jurisdiction": "辖区政府", "--year": "年度", "--part": "篇"}
# Whole CLI phrases in review notes, longest first, and what the upload review page offers.
PHRASES = (
    ("请用 --jurisdiction 指定其所属政府的单位代码",
     "请在下方“辖区政府”中选择其所属政府后重新解析"),
    ("请用 --jurisdiction 指定辖区单位代码", "请在下方“辖区政府”中选择辖区后重新解析"),
    ("请用 --jurisdiction 指定", "请在下方“辖区政府”中选择后重新解析"),
)


def web_text(text: str) -> str:
    """A service's sentence with the command line's phrases in the page's words."""
    for cli_words, page_words in PHRASES:
        text = text.replace(cli_words, page_words)
    for option, label in FIELD_LABELS.items():
        text = text.replace(f"{option} ", f"“{label}”").replace(option, f"“{label}”")
    return text


def web_error(exc: UserError) -> str:
    """A UserError for a page: each problem with its form field's name, not the option's."""
    parts = []
    for problem in exc.problems:
        label = FIELD_LABELS.get(problem.field or "", problem.field)
        message = web_text(problem.message)
        parts.append(f"{label}：{message}" if label else message)
    return "；".join(parts)
