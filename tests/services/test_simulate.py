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
