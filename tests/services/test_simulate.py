"""A short simulated window over the seed plans: every part of the engine shows up."""

from __future__ import annotations

from typer.testing import CliRunner

from taskflow.cli import app


def test_simulate_a_short_window_over_the_seed_plans(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    args = ["simulate", "--from", "2025-05-20", "--to", "2025-07-10", "--seed", "7",
            "--database", f"sqlite:///{tmp_path / 'sim.db'}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "模拟 52 天" in out
    for label in ("交办", "催签收", "到期提醒", "当日到期", "逾期提醒", "督办"):
        assert label in out, label
    assert "1级" in out and "按期办结率" in out and "期末红黄绿灯" in out
    # the same seed gives the same year
    again = CliRunner().invoke(app, [*args[:-1], f"sqlite:///{tmp_path / 'sim2.db'}"])
    def figures(text: str) -> list[str]:  # the tables and totals, not timings or warnings
        return [line for line in text.splitlines() if line.startswith(("│", "签收", "期末"))]

    assert figures(again.output) == figures(out) and len(figures(out)) > 10


def test_simulate_refuses_a_backwards_window():
    result = CliRunner().invoke(app, ["simulate", "--from", "2025-05-20", "--to", "2025-05-01"])
    assert result.exit_code == 2 and "--to 早于 --from" in result.output


def test_simulate_measures_the_stream_and_cleans_up_unless_kept(tmp_path, monkeypatch):
    import json
    import os

    monkeypatch.setenv("COLUMNS", "200")
    data = tmp_path / "data"
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(data))
    figures = tmp_path / "stream.json"
    args = ["simulate", "--from", "2025-06-02", "--to", "2025-06-20", "--seed", "5",
            "--report-json", str(figures)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "收到的消息" in result.output and "送达能办理的单位" in result.output
    stream = json.loads(figures.read_text(encoding="utf-8"))
    for key in ("messages", "by_channel", "by_kind", "per_contact", "per_contact_week_max",
                "per_contact_channel_day_max", "due_actions", "due_actions_delivered",
                "stale_sent", "withdrawn"):
        assert key in stream, key
    assert stream["messages"] > 0 and stream["due_actions"] > 0
    assert set(stream["per_contact"]) == {"median", "p95", "max"}
    assert stream["stale_sent"] == 0
    assert os.listdir(data / "simulations") == []  # the scratch folder went
    kept = CliRunner().invoke(app, [*args, "--keep"])
    assert kept.exit_code == 0, kept.output
    [folder] = (data / "simulations").iterdir()
    mails = list((folder / "messages" / "email").glob("*.eml"))
    assert mails and (folder / "simulation.db").exists()
    # simulated mail carries the simulated day
    assert any("Jun 2025" in path.read_text(errors="replace")[:2000] for path in mails)
