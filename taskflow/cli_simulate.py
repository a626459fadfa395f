"""`taskflow simulate`: the seed plans over a stretch of days, simulated units, real messages.

The scratch database and the delivered messages go under <data dir>/simulations/<stamp>/
and are removed at the end unless --keep (or --database names a database of your own). The
run ends with what people received (the stream's figures), the units' on-time rates, the
lights, the year-end assessment and the year's bulletin (通报).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from taskflow.cli_common import (
    _calendar,
    _parse_date,
    console,
    err_console,
    seed_plans_dir,
    user_errors,
)
from taskflow.domain.labels import (
    CHANNEL_LABELS,
    LIGHT_LABELS,
    MESSAGE_KIND_LABELS,
    MESSAGE_KIND_SHORT_LABELS,
    label,
)
from taskflow.errors import UserError
from taskflow.settings import get_settings

TEMPERAMENT_LABELS = {"punctual": "守时", "late": "拖延", "silent": "不回应"}


def simulate_cmd(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    seed: Annotated[int, typer.Option(help="Random seed for the simulated units.")] = 1,
    database: Annotated[str | None, typer.Option(
        help="Database URL to simulate in (default: a scratch SQLite file under the data "
             "directory).")] = None,
    deliver: Annotated[bool, typer.Option(
        "--deliver/--no-deliver", help="Deliver each day's messages (as files, dated with "
                                       "the simulated day) and measure what people "
                                       "received.")] = True,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the scratch folder (database, messages, bulletin).")] = False,
    report_json: Annotated[Path | None, typer.Option(
        "--report-json", help="Write the stream's figures (and the run's totals) here as "
                              "JSON.")] = None,
    bulletin_out: Annotated[Path | None, typer.Option(
        "--bulletin-out", help="Write the year's bulletin (通报) here (.html/.xlsx/.pdf; "
                               "default: simulation-<year>.html in the scratch folder).")]
    = None,
) -> None:
    """Replay the seed plans day by day with simulated units; print what people received."""
    with user_errors():
        first, last = _parse_date(start, "--from"), _parse_date(end, "--to")
        if last < first:
            raise UserError.single("--to 早于 --from")
        scratch = get_settings().data_dir / "simulations" / \
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            _run(first, last, seed=seed, database=database, deliver=deliver, scratch=scratch,
                 report_json=report_json, bulletin_out=bulletin_out)
        finally:
            if keep:
                console.print(f"模拟数据：{scratch}", soft_wrap=True, highlight=False)
            else:
                shutil.rmtree(scratch, ignore_errors=True)


def _run(first, last, *, seed: int, database: str | None, deliver: bool, scratch: Path,
         report_json: Path | None, bulletin_out: Path | None) -> None:
    # The services load when a simulation runs: at the top of the module they cost every
    # command of the CLI about 1.5 s of start-up (python -X importtime).
    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.services.simulate import load_seed, simulate

    url = database or f"sqlite:///{scratch / 'simulation.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        seeds = seed_plans_dir()
        began = time.perf_counter()
        at = datetime(first.year, 1, 1, tzinfo=UTC)
        with write_session(engine) as session:
            load_seed(session, seed_dir=seeds, year=first.year, now=at)
        report = simulate(engine, start=first, end=last, calendar=_calendar(), seed=seed,
                          messages_dir=scratch / "messages" if deliver else None)
        elapsed = time.perf_counter() - began
    finally:
        engine.dispose()
    _print(report, elapsed, url if database else "（临时数据库）")
    _write_bulletin(report.bulletin, bulletin_out or scratch / f"simulation-{last.year}.html")
    if report_json is not None:
        report_json.write_text(json.dumps(_figures(report, first, last, seed), ensure_ascii=False,
                                          indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"数据：{report_json}", soft_wrap=True, highlight=False)


def _figures(report, first, last, seed: int) -> dict:
    out = {"from": first.isoformat(), "to": last.isoformat(), "seed": seed,
           "days": report.days, "outbox_rows": dict(report.messages)}
    if report.stream is not None:
        out.update(report.stream.as_dict())
    out.update(acknowledgements=report.acknowledgements, reports=report.reports,
               submissions=report.submissions, acceptances=report.acceptances,
               disbursements=report.disbursements, findings=dict(report.findings),
               rectifications=report.rectifications,
               escalations={str(k): v for k, v in sorted(report.escalations.items())},
               lights=dict(report.lights), errors=report.errors[:50])
    return out


def _print(report, elapsed: float, database: str) -> None:
    console.print(f"[bold]模拟 {report.days} 天[/]（{elapsed:.1f} 秒，数据库 {database}）",
                  soft_wrap=True)
    stream = report.stream
    if stream is not None:
        console.print(
            f"收到的消息 {stream.messages} 条，{stream.contacts} 人；每人全年中位数 "
            f"{stream.per_contact.get('median', 0):g}、95% 分位 {stream.per_contact.get('p95', 0)}"
            f"、最多 {stream.per_contact.get('max', 0)}；一人一周最多 "
            f"{stream.per_contact_week_max} 条，一人一渠道一天最多 "
            f"{stream.per_contact_channel_day_max} 条（不含紧急督办）", soft_wrap=True)
        kinds = Table("消息", "条数")
        for kind, n in sorted(stream.by_kind.items(), key=lambda kv: -kv[1]):
            kinds.add_row(label(MESSAGE_KIND_LABELS, kind), str(n))
        for channel, n in sorted(stream.by_channel.items()):
            kinds.add_row(f"（{label(CHANNEL_LABELS, channel)}）", str(n))
        console.print(kinds)
        console.print(
            f"到期提醒、催办、督办 {stream.due_actions} 项，送达能办理的单位 "
            f"{stream.due_actions_delivered} 项；发出前已不属实而撤回 {stream.withdrawn} 项；"
            f"发出时已过时 {stream.stale_sent} 条", soft_wrap=True)
        for missing in stream.undelivered[:10]:
            err_console.print(f"[yellow]未送达：{missing}[/]", soft_wrap=True)
    rows = Table("写入发件箱", "条数")
    for kind, n in sorted(report.messages.items()):
        rows.add_row(label(MESSAGE_KIND_SHORT_LABELS, kind), str(n))
    console.print(rows)
    levels = "，".join(f"{level}级 {n} 项" for level, n in sorted(report.escalations.items()))
    findings = "，".join(f"{'合格' if k == 'pass' else '不合格'} {n}"
                         for k, n in sorted(report.findings.items()))
    console.print(f"签收 {report.acknowledgements}，进度报送 {report.reports}，提交办结 "
                  f"{report.submissions}，验收 {report.acceptances}，资金拨付 "
                  f"{report.disbursements} 笔；督办 {levels or '无'}；检查 {findings or '无'}"
                  f"，整改任务 {report.rectifications}", soft_wrap=True)
    rates = Table("单位", "类型", "按期办结", "到期任务", "按期办结率")
    for name, (done, due) in sorted(report.on_time.items(), key=lambda x: -x[1][1]):
        rate = f"{done / due:.0%}" if due else "—"
        rates.add_row(name, TEMPERAMENT_LABELS.get(report.temperaments.get(name, ""), ""),
                      str(done), str(due), rate)
    console.print(rates)
    console.print("期末红黄绿灯：" + "，".join(
        f"{LIGHT_LABELS[k]} {report.lights.get(k, 0)}" for k in ("red", "yellow", "green")))
    for code, scores in report.assessment:
        if scores:
            best, worst = scores[0], scores[-1]
            console.print(f"年底考核 {code}：{len(scores)} 个单位，最高 {best.name} "
                          f"{best.total:.1f} 分，最低 {worst.name} {worst.total:.1f} 分",
                          soft_wrap=True, highlight=False)
    for error in report.errors[:20]:
        err_console.print(f"[red]{error}[/]")


def _write_bulletin(bulletin, path: Path) -> None:
    """The simulated year's bulletin: its summary printed, the file written."""
    from taskflow.services.bulletin_render import render

    written = render(bulletin, path, font=get_settings().pdf_font)
    for line in bulletin.summary_lines():
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"通报：{written}", soft_wrap=True, highlight=False)
