"""The dispatch flow per channel, and the Prefect rate limits it shares with other workers."""

from __future__ import annotations

import asyncio
import time

import pytest

from taskflow.errors import UserError

JUNE_5 = "2025-06-05T10:00+08:00"


def test_a_dispatch_run_limited_to_a_channel_leaves_the_others(prefect_api, app_db):
    from workflows.direct import sweep_once
    from workflows.dispatch import dispatch_flow

    sweep_once(now=JUNE_5)
    sms = dispatch_flow(now=JUNE_5, channels=["sms", "wecom"])
    assert sms["messages"] == {} and sms["channels"] == ["sms", "wecom"]
    email = dispatch_flow(now=JUNE_5, channels=["email"])
    assert email["sent_by_channel"].get("email", 0) > 0
    assert set(email["sent_by_channel"]) == {"email"}
    assert "shared_limits" not in email  # not under a deployment: no Prefect limits


@pytest.mark.parametrize("channels", [["fax"], []])
def test_unknown_channels_are_refused(prefect_api, app_db, channels):
    from workflows.dispatch import dispatch_flow

    with pytest.raises(UserError, match=r"(未知渠道 \w+|未给出渠道)（可用渠道：email"):
        dispatch_flow(now=JUNE_5, channels=channels)


def test_shared_rate_takes_slots_of_the_prefect_rate_limit(prefect_api):
    from prefect.client.orchestration import get_client
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

    from workflows.dispatch import SharedRate

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name("tf-test-rate", 1,
                                                       slot_decay_per_second=5.0)

    async def send(limiter, n):
        for _ in range(n):
            await limiter.wait()

    limiter = SharedRate("tf-test-rate", rate=None)  # no local spacing: Prefect's alone
    started = time.monotonic()
    asyncio.run(send(limiter, 3))
    assert limiter.taken == 3
    assert time.monotonic() - started >= 0.3  # one slot, 5 a second: the 2nd and 3rd wait

    with pytest.raises(ConcurrencySlotAcquisitionError):  # strict: a missing limit fails
        asyncio.run(send(SharedRate("tf-no-such-limit", rate=None), 1))


def test_limit_sizes_follow_the_settings():
    from taskflow.settings import load_settings
    from workflows.dispatch import limit_sizes

    sizes = limit_sizes(load_settings(smtp_concurrency=5, sms_rate=2.5,
                                      im_rate_per_minute=20))
    assert sizes["taskflow-smtp"] == (5, None)
    assert sizes["taskflow-sms"] == (3, 2.5)
    assert sizes["taskflow-dingtalk"] == (1, pytest.approx(1 / 3))
