"""Every template, rendered with realistic data from the seed plans: readable, complete,
safe, and every SMS within one 70-character segment."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from jinja2 import UndefinedError
from sqlalchemy import select
from sqlmodel import Session

from notifications.templates import KINDS, SMS_SEGMENT, Renderer
from taskflow.models import Contact, InspectionCycle, Plan, Task, TaskUnit, Unit
from taskflow.services import links

# What messages carry: a report link (taskflow.services.links) on the default base URL.
LINK = "http://127.0.0.1:8000/r/{id:0>" + str(links.TOKEN_CHARS) + "}"
SIGN = "县扶贫开发局"  # a long signature: 【县扶贫开发局】 takes 8 of the 70 characters
CJK = re.compile(r"[\u4e00-\u9fff]")
TASK_KINDS = ("assigned", "ack_chase", "due_soon", "due_today", "overdue", "escalation",
              "supervision")


@pytest.fixture(scope="module")
def seed_values(seed_engine):
    """Per task of the seed plans: the payload the engine writes, with the worst-case link."""
    with Session(seed_engine) as session:
        units = {u.id: u.name for u in session.scalars(select(Unit))}
        plans = {p.id: p for p in session.scalars(select(Plan))}
        links: dict[int, dict[str, list[str]]] = {}
        for link in session.scalars(select(TaskUnit).order_by(TaskUnit.position)):
            links.setdefault(link.task_id, {}).setdefault(link.role, []).append(
                units[link.unit_id])
        names = [c.name for c in session.scalars(select(Contact))]
        consequences = sorted({step.get("consequence") or "督办"
                               for plan in plans.values()
                               for step in (plan.policy or {}).get("escalation", [])}
                              | {"督办", "通报", "约谈"})
        values = []
        for i, task in enumerate(session.scalars(select(Task).order_by(Task.id))):
            plan = plans[task.plan_id]
            values.append({
                "plan_code": plan.code, "plan_title": plan.title, "task_code": task.code,
                "task_title": task.title,
                "due_on": (task.due_on or date(2025, 12, 31)).isoformat(),
                "days": 5 if i % 2 else 12, "level": 1 + i % 3,
                "consequence": consequences[i % len(consequences)],
                "lead_units": links.get(task.id, {}).get("lead", []),
                "responsible_units": links.get(task.id, {}).get("responsible", []),
                "recipient": names[i % len(names)], "link": LINK.format(id=99999),
            })
        acceptance = {}
        for task in session.scalars(select(Task)):
            acceptance.setdefault(task.plan_id, []).extend(task.acceptance or [])
        inspections = []  # as taskflow.services.inspection_rounds writes them
        for i, cycle in enumerate(session.scalars(select(InspectionCycle))):
            day = cycle.due_on or date(2025, 9, 30)
            inspections.append({
                "plan_code": plans[cycle.plan_id].code, "plan_title": plans[cycle.plan_id].title,
                "round_code": f"{cycle.code}@{day.isoformat()}", "cycle_code": cycle.code,
                "title": cycle.title, "kind": cycle.kind, "scheduled_on": day.isoformat(),
                "notice_on": (day - timedelta(days=7)).isoformat(), "notice_days": 5,
                "period_start": "2025-04-01", "period_end": "2025-06-30",
                "unit": list(units.values())[i % len(units)], "unit_code": "x",
                "inspectors": names[:2], "checklist": acceptance.get(cycle.plan_id, [])[:12],
                "targets": [{"target": f"v{j}", "kind": "village", "unit": name,
                             "unit_code": f"u{j}", "checklist_items": 3}
                            for j, name in enumerate(list(units.values())[:5])],
                "recipient": names[i % len(names)], "link": "http://127.0.0.1:8000"})
    assert len(values) > 100 and inspections
    return values, inspections


def _contexts(kind: str, seed_values):
    tasks, inspections = seed_values
    if kind in TASK_KINDS:
        return tasks
    if kind == "digest":
        return [{"recipient": tasks[i]["recipient"], "day": "2025-06-05",
                 "link": "http://127.0.0.1:8000", "late_count": 2,
                 "items": [{**t, "kind": k} for t, k in zip(
                     tasks[i:i + 7], ("due_soon", "overdue", "ack_chase", "due_today",
                                      "assigned", "escalation", "fund_lag"),
                     strict=False)] + [{**_weekly(tasks, i), "kind": "weekly"},
                                       {**inspections[i % len(inspections)],
                                        "round_kind": "inspection",
                                        "kind": "inspection_notice"}]}
                for i in range(0, len(tasks) - 7, 7)]
    if kind == "weekly":
        return [_weekly(tasks, i) for i in range(0, len(tasks) - 5, 11)]
    if kind in ("inspection_notice", "inspector_list"):
        return inspections
    if kind == "bulletin":
        return [{"plan_title": t["plan_title"], "title": f"{t['plan_title']}上半年推进情况通报",
                 "period": "2025年上半年", "link": "http://127.0.0.1:8000/b/99999",
                 "figures": {"total": 125, "done": 80, "on_time": 61, "overdue": 17,
                             "red": 17, "yellow": 9, "green": 99},
                 "late_units": t["lead_units"] + t["responsible_units"]}
                for t in tasks[::25]]
    return [{"code": "7F3A2C", "recipient": "示例·王局长"}]


def _weekly(tasks, i: int) -> dict:
    """A weekly summary as taskflow.services.weekly writes it: the tasks past the top level."""
    listed = tasks[i:i + 5]
    return {"plan_code": listed[0]["plan_code"], "plan_title": listed[0]["plan_title"],
            "day": "2025-06-09", "recipient": listed[0]["recipient"], "consequence": "约谈",
            "more": i % 3, "link": "http://127.0.0.1:8000",
            "tasks": [{"task_code": t["task_code"], "task_title": t["task_title"],
                       "due_on": t["due_on"], "days": t["days"], "level": 3,
                       "lead_units": t["lead_units"]} for t in listed]}


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_readable_chinese_with_seed_plan_data(kind, seed_values):
    renderer = Renderer(sign_name=SIGN)
    contexts = _contexts(kind, seed_values)
    for values in contexts[::max(1, len(contexts) // 40)]:
        out = renderer.render(kind, values)
        for part in (out.subject, out.text, out.html, out.short, out.markdown):
            assert part.strip() and CJK.search(part)
            assert "None" not in part and "{{" not in part and "{%" not in part
        assert "\n" not in out.subject and len(out.subject) < 120
        assert out.html.startswith("<!DOCTYPE html>") and out.html.rstrip().endswith("</html>")
        if values.get("link"):
            for part in (out.text, out.html, out.short, out.markdown):
                assert values["link"] in part, (kind, part)
        if kind in TASK_KINDS:
            assert values["task_title"] in out.text and values["plan_title"] in out.text


@pytest.mark.parametrize("kind", KINDS)
def test_every_sms_fits_one_segment_for_every_seed_task(kind, seed_values):
    renderer = Renderer(sign_name=SIGN)
    longest = ""
    for values in _contexts(kind, seed_values):
        text = renderer.render(kind, values, parts=("sms",)).short
        longest = max(longest, text, key=len)
        assert text.startswith(f"【{SIGN}】")
    assert len(longest) <= SMS_SEGMENT, f"{len(longest)} characters: {longest}"


def test_an_sms_template_that_renders_longer_than_a_segment_is_caught(tmp_path, seed_values):
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "due_soon.txt").write_text(
        "【{{ sign_name }}】您好，您单位负责的任务「{{ task_title }}」"
        "将于{{ due_on|cn_date(true) }}到期，距完成时限还有{{ days }}个工作日，"
        "请抓紧推进并按期报送进度：{{ link }}\n",
        encoding="utf-8")
    renderer = Renderer(tmp_path, sign_name=SIGN)
    lengths = [len(renderer.render("due_soon", v, parts=("sms",)).short)
               for v in _contexts("due_soon", seed_values)]
    assert max(lengths) > SMS_SEGMENT  # the check above would fail for this template


def test_provider_sms_parameters_cut_long_titles_but_never_the_link():
    from notifications.templates import SMS_PARAM_MAX

    renderer = Renderer(sign_name=SIGN)
    link = "https://duban.example-county.gov.cn/r/" + "A" * links.TOKEN_CHARS
    context = renderer.context("due_soon", {"task_title": "建设" * 30, "link": link,
                                            "due_on": "2025-06-30", "days": 2})
    params = renderer.sms_params("due_soon", context, ["task", "date", "link"])
    assert len(params["task"]) == SMS_PARAM_MAX and params["task"].endswith("…")
    assert params["date"] == "6月30日"
    assert len(link) > SMS_PARAM_MAX and params["link"] == link


def test_html_is_autoescaped_and_plain_text_is_not():
    renderer = Renderer()
    out = renderer.render("overdue", {"task_title": "<b>修路</b> & 架桥", "plan_title": "方案",
                                      "due_on": "2025-06-30", "days": 3,
                                      "link": "http://127.0.0.1:8000/t/1?a=1&b=2"})
    assert "&lt;b&gt;修路&lt;/b&gt; &amp; 架桥" in out.html and "<b>修路" not in out.html
    assert 'href="http://127.0.0.1:8000/t/1?a=1&amp;b=2"' in out.html
    assert "<b>修路</b> & 架桥" in out.text and "<b>修路</b> & 架桥" in out.markdown


def test_a_templates_directory_overrides_the_defaults(tmp_path):
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "overdue.txt").write_text("逾期：{{ task_title }}\n", encoding="utf-8")
    out = Renderer(tmp_path).render("overdue", {"task_title": "修路", "days": 1})
    assert out.short == "逾期：修路"
    assert "修路" in out.subject  # the other parts still come from the defaults


def test_a_misspelt_name_in_a_template_is_an_error(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "overdue.md").write_text("{{ task_titel }}\n", encoding="utf-8")
    with pytest.raises(UndefinedError):
        Renderer(tmp_path).render("overdue", {"task_title": "修路"})


def test_long_titles_are_shortened_in_sms_but_kept_whole_in_email():
    title = "建设县级电子商务公共服务中心、乡镇电子商务服务站和村级电子商务服务点并开展培训"
    out = Renderer(sign_name=SIGN).render("due_soon", {
        "task_title": title, "due_on": "2025-06-30", "days": 2,
        "link": "http://127.0.0.1:8000/t/12345"})
    assert len(out.short) <= SMS_SEGMENT and "…" in out.short
    assert title in out.text


def test_dates_are_written_the_chinese_way():
    out = Renderer().render("due_today", {"task_title": "修路",
                                          "due_on": (date(2025, 1, 1) + timedelta(days=180))
                                          .isoformat()})
    assert "2025年6月30日" in out.text
