"""The dispatcher: turns due outbox rows into messages and delivers them, reliably.

One pass (``dispatch``) runs until nothing is due (or ``max_seconds`` is up). Per channel, a
few workers (the channel's ``concurrency``: SMTP connections, HTTP requests in flight) each
loop: take one message, render it, send it, report the outcome. Workers never touch the
database themselves: they hand their outcome to the coordinator and wait for their next
message, and the coordinator turns all the requests that arrived meanwhile into ONE short
write transaction (``Outbox.exchange``: record those outcomes, claim the next rows), run in a
thread. So:

- no transaction is ever open across network I/O;
- an attempt is recorded (claimed: ``sending``, ``attempts + 1``, lease, Message-ID) before
  its I/O starts, and its outcome is committed before the worker takes the next message: a
  dispatcher killed at any moment leaves at most ``concurrency`` messages per channel whose
  fate is unknown; the next pass reclaims them when their lease has expired, flags them
  ambiguous and resends them with the same Message-ID;
- under load the transactions grow (one per turn of all workers), not their number per
  message, which is what makes thousands of messages a second possible on SQLite.

Rate limits (``Channel.rate``, SMS QPS, robots' 20 a minute) are a spacing between sends per
channel; a worker waits its turn holding one claimed message (never longer than concurrency /
rate seconds, far inside the lease). ``now`` (simulated clocks) moves on with the real time
the pass takes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine

from notifications.channels import Channel, build_channels
from notifications.message import Message, TransportError
from notifications.outbox import Counts, Outbox, Recheck, Result, Unit
from notifications.policy import Policy
from notifications.templates import Renderer, one_line
from taskflow.calendar import configured_calendar
from taskflow.domain.labels import OUTBOX_STATUS_LABELS
from taskflow.services.links import outbox_link_minter
from taskflow.services.outbox import recheck
from taskflow.settings import get_settings

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    now: datetime
    messages: Counter = field(default_factory=Counter)  # messages by outcome
    by_channel: Counter = field(default_factory=Counter)  # messages sent, by channel
    counts: Counts = field(default_factory=Counts)  # rows: outcomes, held, skipped, ...
    errors: list[tuple[tuple[int, ...], str, str]] = field(default_factory=list)
    seconds: float = 0.0
    transactions: int = 0

    @property
    def sent(self) -> int:
        return self.messages["sent"]

    def summary(self) -> dict[str, Any]:
        c = self.counts
        return {
            "now": self.now.isoformat(), "messages": dict(sorted(self.messages.items())),
            "sent_by_channel": dict(sorted(self.by_channel.items())),
            "rows": dict(sorted(c.outcomes.items())), "held": c.held, "skipped": c.skipped,
            "reclaimed": c.reclaimed, "lost": c.lost, "gave_up": c.gave_up,
            "errors": [{"ids": list(ids), "outcome": outcome, "error": error}
                       for ids, outcome, error in self.errors],
            "seconds": round(self.seconds, 3), "transactions": self.transactions,
        }


# What a dispatch pass did to the rows it did not send (summary_line).
PASS_LABELS = {"held": "免打扰时段推迟", "skipped": "渠道不适用跳过",
               "reclaimed": "租约过期收回", "gave_up": "超过重试期限放弃"}


def summary_line(summary: dict[str, Any]) -> str:
    """One line for a log or a console, in Chinese: what the dispatch pass did."""
    messages = summary["messages"]
    total = sum(messages.values())
    parts = [f"{OUTBOX_STATUS_LABELS['sent']} {messages.get('sent', 0)}"]
    for outcome in ("failed", "ambiguous", "dead"):
        if messages.get(outcome):
            parts.append(f"{OUTBOX_STATUS_LABELS[outcome]} {messages[outcome]}")
    for key, label in PASS_LABELS.items():
        if summary.get(key):
            parts.append(f"{label} {summary[key]}")
    channels = "，".join(f"{c} {n}" for c, n in summary["sent_by_channel"].items())
    where = f"（{channels}）" if channels else ""
    return (f"消息发送 {summary['now']}：消息 {total} 条{where}：" + "；".join(parts)
            + f" [{summary['seconds']:.2f} 秒]")



def troubled(summary: dict[str, Any]) -> bool:
    """Whether the pass left messages failed or dead (the consoles show it in yellow)."""
    return bool(summary["messages"].get("dead") or summary["messages"].get("failed"))


def error_lines(summary: dict[str, Any], limit: int) -> list[str]:
    """The pass's first ``limit`` failures, one line each: "#12,13 失败待重试：reason"."""
    return [f"#{','.join(str(i) for i in error['ids'])} "
            f"{OUTBOX_STATUS_LABELS.get(error['outcome'], error['outcome'])}：{error['error']}"
            for error in summary["errors"][:limit]]

class _SafeFormat(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Composer:
    """Outbox rows → Message: the template context, the link, the provider template.

    ``link_minter(message_id, task_id, contact_id)``, when given, makes a task message's
    link a password-less report link for the recipient's unit, and a digest's link (task
    None) the unit's page of pending tasks (taskflow.services.links); it returns None for
    recipients who do not act on the task, who get the plain ``link`` template. Links derive
    from the Message-ID, which a resend keeps: a resent message carries the same links.
    """

    def __init__(self, renderer: Renderer, *, base_url: str, link: str, policy: Policy,
                 sms_templates: dict[str, str] | None = None,
                 sms_params: dict[str, list[str]] | None = None,
                 link_minter: Callable[..., str | None] | None = None):
        self.renderer = renderer
        self.base_url = base_url.rstrip("/")
        self.link_template = link
        self.link_minter = link_minter
        # (Message-ID, task, contact) → the link minted by prepare()
        self._links: dict[tuple[str, int | None, int | None], str | None] = {}
        # The dispatch pass's clock (set by Dispatcher.run): links expire in its time.
        self.clock: Callable[[], datetime] | None = None
        self.policy = policy
        self.sms_templates = sms_templates or {}
        self.sms_param_names = sms_params or {}

    @classmethod
    def from_settings(cls, settings, policy: Policy, *,
                      link_minter: Callable[..., str | None] | None = None) -> Composer:
        return cls(Renderer(settings.notify_templates_dir, sign_name=settings.sms_sign_name),
                   base_url=settings.base_url, link=settings.notify_link, policy=policy,
                   sms_templates=settings.sms_templates,
                   sms_params=settings.sms_template_params, link_minter=link_minter)

    def prepare(self, units: list[Unit]) -> None:
        """Mint the links of just-claimed messages in one go (``link_minter.many``: one
        transaction per claim, not one per message); called off the event loop."""
        many = getattr(self.link_minter, "many", None)
        wants = [want for unit in units for want in _wants(unit)]
        if many is None or not wants:
            return
        try:
            minted = many(wants, now=self.clock() if self.clock is not None else None)
        except Exception:  # compose() tries again one by one, else uses the plain link
            log.exception("minting links for %d messages failed", len(units))
            return
        self._links.update(minted)

    def _minted(self, want: tuple[str, int | None, int | None]) -> str | None:
        if self.link_minter is None or want[2] is None:
            return None
        try:
            return self._links.pop(want) if want in self._links else self.link_minter(*want)
        except Exception:  # the plain link still works (after a sign-in)
            log.exception("minting a link for message %s failed", want[0])
            return None

    def link(self, row, message_id: str | None = None) -> str:
        if row.task_id is None:
            return self.base_url
        minted = self._minted((message_id or row.message_id or "", row.task_id,
                               row.contact_id))
        if minted:
            return minted
        payload = row.payload or {}
        return self.link_template.format_map(_SafeFormat(
            base_url=self.base_url, task_id=row.task_id, plan_id=row.plan_id or "",
            task_code=quote(str(payload.get("task_code") or ""), safe=""),
            plan_code=quote(str(payload.get("plan_code") or ""), safe="")))

    def values(self, unit: Unit) -> dict[str, Any]:
        first = unit.rows[0]
        if not unit.digest:
            return {**(first.payload or {}), "level": first.level,
                    "link": self.link(first, unit.message_id)}
        items = sorted(({**(row.payload or {}),
                         "round_kind": (row.payload or {}).get("kind"), "kind": row.kind,
                         "level": row.level, "link": self.link(row, unit.message_id)}
                        for row in unit.rows), key=_urgency)
        return {"recipient": (first.payload or {}).get("recipient"), "items": items,
                "late_count": sum(_late(item) for item in items),
                "day": first.digest_on or self.policy.local_day(first.created_at),
                "link": self._minted((unit.message_id, None, first.contact_id))
                or self.base_url}

    def compose(self, unit: Unit, parts: tuple[str, ...]) -> Message:
        kind = unit.kind
        context = self.renderer.context(kind, self.values(unit))
        rendered = self.renderer.render_context(kind, context, parts=parts)
        first = unit.rows[0]
        sms_names = self.sms_param_names.get(kind) or self.sms_param_names.get("*")
        return Message(
            channel=unit.channel, to=first.address, kind=kind, message_id=unit.message_id,
            recipient=context.get("recipient"), subject=rendered.subject, text=rendered.text,
            html=rendered.html or None, short=rendered.short, markdown=rendered.markdown,
            title=rendered.subject or f"{context['kind_label']}：{context.get('task_title') or ''}",
            link=context.get("link"),
            sms_template=self.sms_templates.get(kind) or self.sms_templates.get("*"),
            sms_params=self.renderer.sms_params(kind, context, sms_names)
            if "sms" in parts else {},
            level=first.level, outbox_ids=unit.ids,
            date=self.clock() if self.clock is not None else None)


def _wants(unit: Unit) -> list[tuple[str, int | None, int | None]]:
    """The links a message needs: each row's task, and a digest's unit page."""
    wants = [(unit.message_id, row.task_id, row.contact_id) for row in unit.rows
             if row.task_id is not None and row.contact_id is not None]
    if unit.digest and unit.rows[0].contact_id is not None:
        wants.append((unit.message_id, None, unit.rows[0].contact_id))
    return wants


# A digest lists what is most pressing first: escalations, then what is overdue, due today,
# the week's summary, chases, then what is coming.
_ORDER = {"escalation": 0, "overdue": 1, "due_today": 2, "weekly": 3, "fund_lag": 4,
          "ack_chase": 5, "assigned": 6, "due_soon": 7, "inspector_list": 8,
          "inspection_notice": 9}


def _late(item: dict[str, Any]) -> bool:
    kind = item.get("kind")
    return kind in ("overdue", "escalation", "weekly") or (
        kind == "assigned" and bool(item.get("days")))


def _urgency(item: dict[str, Any]) -> tuple:
    return (0 if _late(item) else 1, _ORDER.get(item.get("kind", ""), 9),
            item.get("due_on") or "", item.get("task_title") or "")


class RateLimiter:
    """Spacing between sends: at most ``rate`` a second (reservations, no bursts)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._next)
        self._next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


class _Coordinator:
    """Batches the workers' turns into one database exchange at a time."""

    def __init__(self, outbox: Outbox, clock: Callable[[], datetime], report: DispatchReport,
                 executor: ThreadPoolExecutor,
                 prepare: Callable[[list[Unit]], None] | None = None):
        self.outbox = outbox
        self.prepare = prepare  # e.g. Composer.prepare: work on claimed messages, in the thread
        self.executor = executor  # one thread: the database work, off the event loop
        self.clock = clock
        self.report = report
        self.pending: list[tuple[str, Result | None, bool, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.workers = 0
        self.failure: BaseException | None = None
        self.exhausted: set[str] = set()  # channels whose last claim found less than wanted

    async def turn(self, channel: str, result: Result | None, want: bool) -> Unit | None:
        if self.failure is not None:
            raise self.failure
        future = asyncio.get_running_loop().create_future()
        self.pending.append((channel, result, want, future))
        self.wake.set()
        return await future

    def _exchange(self, results, wants, now):
        claimed, counts = self.outbox.exchange(results, wants, now)
        if self.prepare is not None:
            self.prepare([unit for units in claimed.values() for unit in units])
        return claimed, counts

    def worker_done(self) -> None:
        self.workers -= 1
        self.wake.set()

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.pending:
                if self.workers <= 0:
                    return
                continue
            batch, self.pending = self.pending, []
            results = [result for _, result, _, _ in batch if result is not None]
            wants = Counter(channel for channel, _, want, _ in batch if want)
            try:
                claimed, counts = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._exchange, results, dict(wants), self.clock())
            except BaseException as exc:
                self.failure = exc
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                for *_, future in self.pending:
                    if not future.done():
                        future.set_exception(exc)
                self.pending = []
                return
            self.report.transactions += 1
            self.report.counts.add(counts)
            for channel, n in wants.items():
                if len(claimed.get(channel) or ()) < n:
                    self.exhausted.add(channel)
            for channel, _, want, future in batch:
                units = claimed.get(channel) if want else None
                future.set_result(units.pop() if units else None)


class Dispatcher:
    def __init__(self, engine: Engine, channels: dict[str, Channel], *, policy: Policy,
                 composer: Composer, domain: str = "taskflow.local",
                 recheck: Recheck | None = None):
        self.engine = engine
        self.channels = channels
        self.policy = policy
        self.composer = composer
        self.outbox = Outbox(engine, policy, domain=domain, recheck=recheck)

    async def run(self, *, now: datetime, max_seconds: float | None = None,
                  only: list[str] | None = None,
                  limiters: dict[str, Any] | None = None) -> DispatchReport:
        """``limiters``: per channel, an object with ``async wait()`` used instead of the
        channel's own spacing (e.g. a rate limit shared by several machines)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        started = time.monotonic()

        def clock() -> datetime:
            return now + timedelta(seconds=time.monotonic() - started)

        self.composer.clock = clock
        report = DispatchReport(now=now)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        coordinator = _Coordinator(self.outbox, clock, report, executor,
                                   prepare=self.composer.prepare)
        deadline = None if max_seconds is None else started + max_seconds
        workers = []
        for name, channel in self.channels.items():
            if only and name not in only:
                continue
            limiter = (limiters or {}).get(name) or (
                RateLimiter(channel.rate) if channel.rate else None)
            for _ in range(max(1, channel.concurrency)):
                workers.append(self._worker(name, channel, limiter, coordinator, report,
                                            deadline))
        coordinator.workers = len(workers)
        runner = asyncio.create_task(coordinator.run())
        try:
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
            await runner
        finally:
            if not runner.done():
                runner.cancel()
            executor.shutdown(wait=True)
        report.seconds = time.monotonic() - started
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if coordinator.failure is not None:
            raise coordinator.failure
        if failures:
            raise failures[0]
        return report

    async def _worker(self, name: str, channel: Channel, limiter: RateLimiter | None,
                      coordinator: _Coordinator, report: DispatchReport,
                      deadline: float | None) -> None:
        result: Result | None = None
        try:
            while True:
                want = (deadline is None or time.monotonic() < deadline) and \
                    name not in coordinator.exhausted
                unit = await coordinator.turn(name, result, want=want)
                result = None
                if unit is None:
                    return
                result = await self._deliver(name, channel, unit, report, limiter)
        finally:
            coordinator.worker_done()

    async def _deliver(self, name: str, channel: Channel, unit: Unit,
                       report: DispatchReport, limiter: RateLimiter | None) -> Result:
        try:
            message = self.composer.compose(unit, channel.parts_for(unit.channel))
        except Exception as exc:  # a broken template: not this message's fault, retried
            log.exception("rendering outbox rows %s failed", unit.ids)
            return self._outcome(report, name, unit, "failed",
                                 f"模板出错：{type(exc).__name__}: {exc}")
        if limiter is not None:  # at most concurrency / rate seconds: far inside the lease
            await limiter.wait()
        try:
            receipt = await asyncio.wait_for(channel.send(message), channel.timeout)
        except TransportError as exc:
            outcome = "dead" if exc.permanent else "ambiguous" if exc.ambiguous else "failed"
            return self._outcome(report, name, unit, outcome, f"{channel.name}：{exc}",
                                 exc.retry_after)
        except TimeoutError:
            return self._outcome(report, name, unit, "ambiguous",
                                 f"{channel.name}：{channel.timeout:.0f} 秒内没有应答，"
                                 "对方可能已收到")
        except Exception as exc:
            log.exception("channel %s failed on outbox rows %s", channel.name, unit.ids)
            return self._outcome(report, name, unit, "failed",
                                 f"{channel.name}：{type(exc).__name__}: {exc}")
        report.messages["sent"] += 1
        report.by_channel[name] += 1
        return Result(unit, "sent", receipt.detail)

    @staticmethod
    def _outcome(report: DispatchReport, name: str, unit: Unit, outcome: str, detail: str,
                 retry_after: float | None = None) -> Result:
        detail = one_line(detail)[:1000]
        report.messages[outcome] += 1
        report.errors.append((unit.ids, outcome, detail))
        return Result(unit, outcome, detail, retry_after)

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.channels.values()),
                             return_exceptions=True)


def mail_domain(sender: str) -> str:
    from email.utils import parseaddr

    address = parseaddr(sender)[1] or sender
    domain = address.rpartition("@")[2].strip().strip(">")
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) \
        else "taskflow.local"


def build_dispatcher(engine: Engine, settings=None, *, channels: dict[str, Channel] | None
                     = None, calendar=None) -> Dispatcher:
    """A dispatcher from the settings (channels as configured unless given); ``calendar``
    (the working days) defaults to the configured one."""
    settings = settings or get_settings()
    calendar = calendar if calendar is not None else configured_calendar(settings)
    policy = Policy.from_settings(settings, is_workday=calendar.is_workday)
    composer = Composer.from_settings(settings, policy,
                                      link_minter=outbox_link_minter(engine, settings))
    return Dispatcher(engine, channels if channels is not None else build_channels(settings),
                      policy=policy, composer=composer, domain=mail_domain(settings.smtp_from),
                      recheck=partial(recheck, calendar=calendar))


async def dispatch_async(engine: Engine, *, now: datetime | None = None, settings=None,
                         channels: dict[str, Channel] | None = None, calendar=None,
                         max_seconds: float | None = None,
                         only: list[str] | None = None,
                         limiters: dict[str, Any] | None = None) -> DispatchReport:
    dispatcher = build_dispatcher(engine, settings, channels=channels, calendar=calendar)
    try:
        return await dispatcher.run(now=now or datetime.now(UTC), max_seconds=max_seconds,
                                    only=only, limiters=limiters)
    finally:
        await dispatcher.aclose()


def dispatch(engine: Engine, **kwargs: Any) -> DispatchReport:
    """One pass: deliver everything due at ``now`` (default: the real clock).

    Runs its own event loop; called where a loop is already running (inside an async
    framework), it runs in a thread of its own instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(dispatch_async(engine, **kwargs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dispatch") as pool:
        return pool.submit(asyncio.run, dispatch_async(engine, **kwargs)).result()
