"""The bulletin (通报): rates match a hand count; HTML, Excel and PDF render it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from sqlmodel import Session, func, select

from taskflow.calendar import WorkCalendar
from taskflow.errors import UserError
from taskflow.models import Notification
from taskflow.services.bulletin import build_bulletin, queue_bulletin
from taskflow.services.bulletin_render import render, render_html
from taskflow.services.periods import parse_period, previous_period


def _bulletin(engine, now, period="2025-Q2"):
    with Session(engine) as session:
        return build_bulletin(session, plan="rates", period=period, now=now,
                              calendar=WorkCalendar())


def test_completion_rates_match_a_hand_count(engine, rates):
    b = _bulletin(engine, rates)
    # Q2 deadlines: a1 a2 a3 b1 b2 (c1 is Q1, d1 is August)
    assert (b.total_due, b.on_time, b.late_done, b.overdue_open) == (5, 3, 1, 1)
    assert b.rate == Decimal("60.0")
    ranking = [(u.rank, u.unit, u.due, u.on_time, u.late_done, u.overdue, u.rate)
               for u in b.units]
    assert ranking == [(1, "县林业局", 2, 2, 0, 0, Decimal("100.0")),
                       (2, "县扶贫开发局", 3, 1, 1, 1, Decimal("33.3"))]
    assert [u.unit for u in b.praised] == ["县林业局"]
    assert [u.unit for u in b.named] == ["县扶贫开发局", "县财政局"]  # c1: overdue since Q1
    # overdue days run to the period's end (30 June), not to now (5 July)
    assert [(o.task_code, o.days_overdue) for o in b.overdue] == [("c1", 91), ("a3", 0)]
    assert b.overdue[0].escalation_level == 0 and b.overdue[0].workdays_overdue > 60
    # the target: 40% of 500 planned by 30 June, 200 reported
    (target,) = b.targets
    june = next(p for p in target.points if p.period == "2025-06")
    assert (june.planned, june.actual, june.gap, june.behind) == (
        Decimal("200.00"), Decimal("200.00"), Decimal("0.00"), False)
    # funds: 5万 of 20万, due in full by 30 June
    (funds,) = b.funds
    assert b.fund_rate == Decimal("25.0") and funds.overdue_lines[0].code == "F1"
    # lights of the tasks not yet accepted: a3, c1 and a2 (submitted late) red; b1, b2
    # (submitted in time), d1 and t1 green
    assert b.figures() == {"total": 5, "done": 4, "on_time": 3, "overdue": 1,
                           "red": 3, "yellow": 0, "green": 4}


def test_a_period_in_the_future_counts_nothing(engine, rates):
    b = _bulletin(engine, rates, "2025-Q4")
    assert b.total_due == 0 and b.rate is None and b.units == []
    assert "2025年第四季度" in b.title


def test_html_escapes_script_in_titles_and_draws_svg(engine, rates, tmp_path):
    html = render_html(_bulletin(engine, rates))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;验收" in html
    assert html.count("<svg") == 2 and "按期办结率" in html and "县林业局" in html
    path = render(_bulletin(engine, rates), tmp_path / "b.html")
    assert path.read_text(encoding="utf-8") == html.replace(
        html[html.index("生成于"):html.index("</p>", html.index("生成于"))],
        html[html.index("生成于"):html.index("</p>", html.index("生成于"))])


def test_xlsx_opens_with_the_ranking_the_overdue_list_and_charts(engine, rates, tmp_path):
    path = render(_bulletin(engine, rates), tmp_path / "b.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:3] == ["通报", "按期办结率", "表扬与点名"]
    ranking = book["按期办结率"]
    assert [c.value for c in ranking[2]] == [1, "县林业局", 2, 2, 0, 0, 100]
    assert ranking.freeze_panes == "A2"
    assert len(ranking._charts) == 1 and len(book["资金拨付"]._charts) == 1
    overdue = book["逾期任务"]
    assert [overdue.cell(r, 2).value for r in (2, 3)] == ["c1", "a3"]
    # a title starting like a formula is kept as text
    assert all(c.data_type != "f" for row in book["逾期任务"].iter_rows() for c in row)


def test_pdf_is_produced(engine, rates, tmp_path):
    path = render(_bulletin(engine, rates), tmp_path / "b.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000


def test_docx_is_a_gongwen_with_head_title_and_tables(engine, rates, tmp_path):
    import docx

    from taskflow.services.bulletin_render import DocumentHead

    b = _bulletin(engine, rates)
    head = DocumentHead(mark="某县扶贫开发局文件", number="某扶发〔2025〕12号",
                        issued_on=date(2025, 7, 6), signer="某县扶贫开发局")
    path = render(b, tmp_path / "b.docx", head=head)
    document = docx.Document(str(path))
    texts = [p.text for p in document.paragraphs]
    assert texts[:3] == ["某县扶贫开发局文件", "某扶发〔2025〕12号", b.title]
    red = document.paragraphs[0].runs[0].font.color.rgb
    assert red is not None and str(red) == "E00000"
    assert "w:pBdr" in document.paragraphs[1]._p.xml  # the red rule under the 文号
    assert texts[-2:] == ["某县扶贫开发局", "2025年7月6日"]
    assert "一、总体情况" in texts and "六、资金拨付情况" in texts
    ranking = document.tables[0]
    assert [c.text for c in ranking.rows[0].cells][:2] == ["排名", "单位"]
    assert [c.text for c in ranking.rows[1].cells] == ["1", "县林业局", "2", "2", "0", "0",
                                                      "100.0%"]
    assert document.core_properties.title == b.title


def test_pdf_without_a_chinese_font_says_how_to_get_one(engine, rates, tmp_path):
    with pytest.raises(UserError) as caught:
        render(_bulletin(engine, rates), tmp_path / "b.pdf", font=tmp_path / "none.ttf")
    assert "字体文件不存在" in str(caught.value)
    assert not (tmp_path / "b.pdf").exists()


def test_cli_bulletin_writes_each_format(cli, rates, tmp_path):
    for fmt in ("html", "xlsx", "pdf", "docx"):
        out = cli("bulletin", "--plan", "rates", "--period", "2025-Q2", "--format", fmt,
                  "-o", str(tmp_path / f"q2.{fmt}"), "--now", "2025-07-05T10:00")
        assert "按期办结率60.0%" in out and (tmp_path / f"q2.{fmt}").stat().st_size > 0
    out = cli("bulletin", "--plan", "rates", "--period", "2025-Q5", "--now", "2025-07-05",
              code=2)
    assert "不是有效的期间" in out
    out = cli("bulletin", "--plan", "rates", "--period", "2025", "--format", "doc", code=2)
    assert "不支持的格式" in out


@pytest.mark.parametrize(("text", "start", "end", "label"), [
    ("2025", date(2025, 1, 1), date(2025, 12, 31), "2025年"),
    ("2025-H1", date(2025, 1, 1), date(2025, 6, 30), "2025年上半年"),
    ("2025-Q2", date(2025, 4, 1), date(2025, 6, 30), "2025年第二季度"),
    ("2025-06", date(2025, 6, 1), date(2025, 6, 30), "2025年6月"),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024年2月"),
    ("2025-W23", date(2025, 6, 2), date(2025, 6, 8), "2025年第23周（6月2日至6月8日）"),
])
def test_periods(text, start, end, label):
    period = parse_period(text)
    assert (period.start, period.end, period.label) == (start, end, label)


def test_previous_period_is_the_last_whole_week_or_month():
    assert previous_period(date(2025, 6, 9), "week").code == "2025-W23"
    assert previous_period(date(2025, 1, 1), "month").code == "2024-12"


def test_bulletin_is_queued_to_leaders_once(engine, rates):
    b = _bulletin(engine, rates)
    with Session(engine) as session:
        first = queue_bulletin(session, bulletin=b, now=rates)
        second = queue_bulletin(session, bulletin=b, now=rates)
        session.commit()
        rows = session.exec(select(Notification).where(Notification.kind == "bulletin")).all()
    assert first.recipients == len(rows) >= 2 and second.recipients == 0
    addresses = {r.address for r in rows}
    assert {"leader@t.example.org", "wang@t.example.org"} <= addresses
    assert all(r.key.startswith("bulletin:rates:2025-Q2:c") for r in rows)
    payload = rows[0].payload
    assert payload["figures"]["total"] == 5 and payload["ranking"][0]["unit"] == "县林业局"
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Notification).where(
            Notification.kind == "bulletin")).one() == len(rows)


def test_a_bulletin_of_several_plans_goes_once_to_each_leader(engine, rates):
    with Session(engine) as session:
        b = build_bulletin(session, plan=["rates", "demo"], period="2025-Q2", now=rates,
                           calendar=WorkCalendar())
        assert b.plan_codes == ("rates", "demo") and "扶贫专项实施方案推进情况" in b.title
        first = queue_bulletin(session, bulletin=b, now=rates)
        second = queue_bulletin(session, bulletin=b, now=rates)
        session.commit()
        rows = session.exec(select(Notification).where(Notification.kind == "bulletin")).all()
    assert first.plan_code == "demo+rates" and second.recipients == 0
    assert first.recipients == len(rows) >= 2
    assert all(r.key.startswith("bulletin:demo+rates:2025-Q2:c") and r.plan_id is None
               for r in rows)
    # both plans are in the same area: a leader of both gets one message per channel
    assert len({(r.contact_id, r.channel) for r in rows}) == len(rows)
