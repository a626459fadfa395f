"""The bulletin job: simulate ends with one; the flow files and queues it once; serve's job."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from typer.testing import CliRunner

from taskflow.cli import app
from taskflow.models import Notification


def test_simulate_a_short_window_ends_with_a_bulletin(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out_file = tmp_path / "year.html"
    result = CliRunner().invoke(app, [
        "simulate", "--from", "2025-03-20", "--to", "2025-04-10", "--seed", "3",
        "--database", f"sqlite:///{tmp_path / 'sim.db'}", "--bulletin-out", str(out_file)])
    assert result.exit_code == 0, result.output
    assert "关于2025年扶贫专项实施方案推进情况的通报" in result.output
    assert "按期办结率" in result.output and f"通报：{out_file}" in result.output
    html = out_file.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "各单位按期办结率排名" in html


def test_bulletin_flow_files_and_queues_each_plan_once(cli, engine, db_url, tmp_path,
                                                        monkeypatch):
    from taskflow.settings import load_settings
    from workflows.bulletin import bulletin_once

    settings = load_settings(database_url=db_url, data_dir=tmp_path / "data",
                             bulletin_formats=["html", "xlsx"])
    first = bulletin_once("2025-07-07T09:00", every="weekly", settings=settings)
    assert first["period"] == "2025-W27" and first["messages"] >= 2
    (demo,) = first["plans"]
    assert demo["plan"] == "demo" and len(demo["files"]) == 2
    assert (tmp_path / "data" / "bulletins" / "demo" / "2025-W27.xlsx").exists()
    again = bulletin_once("2025-07-07T10:00", every="weekly", settings=settings)
    assert again["messages"] == 0
    with Session(engine) as session:
        rows = session.exec(select(Notification).where(Notification.kind == "bulletin")).all()
    assert len(rows) == first["messages"] and rows[0].payload["period"].startswith("2025年第27周")


def test_serve_schedules_the_bulletin_job_only_when_asked():
    from apscheduler.triggers.interval import IntervalTrigger

    from workflows.scheduler import BULLETIN_JOB_ID, SweepScheduler

    tz = ZoneInfo("Asia/Shanghai")

    def build(every: str):
        return SweepScheduler(tz=tz, trigger=IntervalTrigger(minutes=5, timezone=tz),
                              on_summary=lambda s: None, on_error=lambda m: None,
                              run_at_start=False, bulletin_every=every).build()

    assert build("off").get_job(BULLETIN_JOB_ID) is None
    job = build("weekly").get_job(BULLETIN_JOB_ID)
    assert "day_of_week='mon'" in str(job.trigger) and "hour='9'" in str(job.trigger)
    assert "day='1'" in str(build("monthly").get_job(BULLETIN_JOB_ID).trigger)
