"""One contract, every channel: what send() does on success, on each kind of failure, and
with hostile text. Each channel talks to a real server on loopback (aiosmtpd, or an HTTP
server playing the provider and checking its request signature)."""

from __future__ import annotations

import asyncio
import email
import json
from dataclasses import dataclass, field
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from notifications.channels.dingtalk import DingTalkRobot
from notifications.channels.email import EmailChannel, check_address
from notifications.channels.file import FileChannel
from notifications.channels.http import normalize_mobile
from notifications.channels.sms_aliyun import AliyunSms
from notifications.channels.sms_http import HttpSms
from notifications.channels.sms_tencent import TencentSms
from notifications.channels.wecom import WeComRobot
from notifications.message import Message, Receipt, TransportError
from notifications.templates import Renderer
from tests.notifications.helpers import PAYLOAD
from tests.notifications.servers import (
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    TENCENT_SECRET,
    free_port,
    stub_aliyun,
    stub_dingtalk,
    stub_gateway,
    stub_tencent,
    stub_wecom,
)

SERVER_CHANNELS = ["smtp", "aliyun", "tencent", "gateway", "wecom", "dingtalk"]
ALL_CHANNELS = [*SERVER_CHANNELS, "file"]
OUTBOX_CHANNEL = {"smtp": "email", "file": "email", "aliyun": "sms", "tencent": "sms",
                  "gateway": "sms", "wecom": "wecom", "dingtalk": "dingtalk"}
ADDRESS = {"email": "wang@example.org", "sms": "13800000001", "wecom": "wangju",
           "dingtalk": "ding-user-1"}
HOSTILE = {"recipient": '王局长\r\nBcc: evil@example.com', "task_title":
           '建设"服务站"}\r\nX-Injected: yes <script>alert(1)</script>'}


def make_message(channel: str, values: dict[str, Any] | None = None, n: int = 1) -> Message:
    renderer = Renderer(sign_name="县扶贫办")
    context = renderer.context("due_soon", {**PAYLOAD, "link": "http://127.0.0.1:8000/t/7",
                                            **(values or {})})
    rendered = renderer.render_context("due_soon", context)
    return Message(channel=channel, to=ADDRESS[channel], kind="due_soon",
                   message_id=f"<taskflow.{n}.abc123@example.org>",
                   recipient=context["recipient"], subject=rendered.subject,
                   text=rendered.text, html=rendered.html, short=rendered.short,
                   markdown=rendered.markdown, title=rendered.subject, link=context["link"],
                   sms_template="SMS_100", sms_params=renderer.sms_params(
                       "due_soon", context, None), outbox_ids=(n,))


@dataclass
class Rig:
    name: str
    channel: Any
    fail: dict[str, Any] = field(default_factory=dict)  # outcome → how to inject it
    server: Any = None
    script: Any = None

    @property
    def outbox_channel(self) -> str:
        return OUTBOX_CHANNEL[self.name]

    def inject(self, outcome: str) -> None:
        self.fail[outcome]()

    def send(self, message: Message) -> Receipt:
        async def go():
            try:
                return await self.channel.send(message)
            finally:
                await self.channel.aclose()
        return asyncio.run(go())

    def delivered(self) -> list[Any]:
        """What arrived: SMTP messages, HTTP requests that were answered "ok", files."""
        if self.name == "smtp":
            return list(self.server.messages)
        if self.name == "file":
            return sorted(Path(self.channel.directory).rglob("*.*"))
        return list(self.server.requests)


@pytest.fixture
def rig(request, http_stub, tmp_path):
    name = request.param
    if name == "smtp":
        smtp_server = request.getfixturevalue("smtp_server")
        channel = EmailChannel(host="127.0.0.1", port=smtp_server.port, security="none",
                               sender="县扶贫办 <fpb@example.org>", timeout=5, concurrency=2)

        def transient():
            smtp_server.data_replies.append("451 4.3.0 try again later")

        def permanent():
            smtp_server.refuse_rcpt[ADDRESS["email"]] = "550 5.1.1 no such user"

        def drop():
            smtp_server.drop_after_data = 1

        return Rig(name, channel, {"transient": transient, "permanent": permanent,
                                   "drop": drop}, server=smtp_server)
    if name == "file":
        directory = tmp_path / "messages"

        def blocked():  # a file where the channel's directory should be: cannot write
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "email").write_text("in the way")

        return Rig(name, FileChannel(directory, sender="县扶贫办 <fpb@example.org>"),
                   {"transient": blocked})
    factory = {"aliyun": stub_aliyun, "tencent": stub_tencent, "gateway": stub_gateway,
               "wecom": stub_wecom, "dingtalk": stub_dingtalk}[name]
    server, script = http_stub(factory)
    if name == "aliyun":
        channel = AliyunSms(access_key_id="testId", access_key_secret=ALIYUN_SECRET,
                            sign_name="县扶贫办", endpoint=server.url + "/", rate=None)
    elif name == "tencent":
        channel = TencentSms(secret_id="AKIDtest", secret_key=TENCENT_SECRET,
                             sdk_app_id="1400000001", sign_name="县扶贫办",
                             endpoint=server.url + "/", rate=None)
    elif name == "gateway":
        channel = HttpSms(url=server.url + "/send", body={
            "to": "{to}", "text": "{text}", "id": "{message_id}"}, token="gw-token",
            rate=None)
    elif name == "wecom":
        channel = WeComRobot(webhook_url=server.url + "/cgi-bin/webhook/send?key=wecom-key",
                             rate=None)
    else:
        channel = DingTalkRobot(webhook_url=server.url + "/robot/send?access_token=ding-token",
                                secret=DINGTALK_SECRET, rate=None)
    return Rig(name, channel, {
        "transient": lambda: script.outcomes.append("transient"),
        "permanent": lambda: script.outcomes.append("permanent"),
        "drop": lambda: script.outcomes.append("drop"),
        "server_error": lambda: script.outcomes.append("server_error"),
    }, server=server, script=script)


@pytest.mark.parametrize("rig", ALL_CHANNELS, indirect=True)
def test_a_message_is_delivered_once_with_a_receipt(rig):
    receipt = rig.send(make_message(rig.outbox_channel))
    assert isinstance(receipt, Receipt) and receipt.detail
    assert len(rig.delivered()) == 1


@pytest.mark.parametrize("rig", ALL_CHANNELS, indirect=True)
def test_a_transient_failure_is_retryable(rig):
    rig.inject("transient")
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert not info.value.permanent and not info.value.ambiguous
    if rig.name == "file":
        return
    assert rig.send(make_message(rig.outbox_channel, n=2)).detail  # the next one goes


@pytest.mark.parametrize("rig", [c for c in SERVER_CHANNELS if c != "smtp"], indirect=True)
def test_a_server_error_is_retryable(rig):
    rig.inject("server_error")
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert not info.value.permanent


@pytest.mark.parametrize("rig", SERVER_CHANNELS, indirect=True)
def test_a_refusal_of_the_message_is_permanent(rig):
    rig.inject("permanent")
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert info.value.permanent


@pytest.mark.parametrize("rig", SERVER_CHANNELS, indirect=True)
def test_a_lost_answer_is_ambiguous(rig):
    rig.inject("drop")
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert info.value.ambiguous and not info.value.permanent


@pytest.mark.parametrize("rig", SERVER_CHANNELS, indirect=True)
def test_an_unreachable_server_is_transient(rig):
    port = free_port()  # nobody listens there
    channel = rig.channel
    if rig.name == "smtp":
        channel.port = port
    else:
        for attribute in ("endpoint", "url", "webhook_url"):
            if hasattr(channel, attribute):
                setattr(channel, attribute, getattr(channel, attribute).replace(
                    f":{rig.server.port}", f":{port}"))
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert not info.value.permanent and not info.value.ambiguous
    assert str(info.value).startswith(f"无法连接 127.0.0.1:{port}：")


@pytest.mark.parametrize("rig", ALL_CHANNELS, indirect=True)
def test_hostile_text_stays_inside_its_field(rig):
    message = make_message(rig.outbox_channel, HOSTILE)
    rig.send(message)
    [item] = rig.delivered()
    if rig.name in ("smtp", "file"):
        data = item.data if rig.name == "smtp" else item.read_bytes()
        parsed = email.message_from_bytes(data, policy=default_policy)
        assert parsed["Bcc"] is None and parsed["X-Injected"] is None
        assert len(parsed.get_all("To")) == 1 and parsed["To"].addresses[0].addr_spec == \
            ADDRESS["email"]
        assert "X-Injected: yes" in str(parsed["Subject"])
        html = parsed.get_body("html").get_content()
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "<script>alert(1)</script>" in parsed.get_body("plain").get_content()
        return
    if rig.name == "aliyun":
        params = json.loads(item.form()["TemplateParam"])
        assert params["task"].startswith('建设"服务站"} X-Injected')
        return
    body = item.json()
    if rig.name == "tencent":
        assert body["TemplateParamSet"][0].startswith('建设"服务站"} X-Injected')
    elif rig.name == "gateway":
        assert body["text"] == message.short and "\r" not in body["text"]
        assert item.headers["authorization"] == "Bearer gw-token"
    else:
        content = body["markdown"].get("content") or body["markdown"]["text"]
        assert '建设"服务站"} X-Injected: yes' in content and "\r" not in content


@pytest.mark.parametrize("rig", ["smtp", "aliyun", "tencent", "gateway", "file"],
                         indirect=True)
def test_a_resend_carries_the_same_message_id(rig):
    message = make_message(rig.outbox_channel)
    rig.send(message)
    rig.send(message)
    seen = []
    for item in rig.delivered():
        if rig.name == "smtp":
            seen.append(item.message_id)
        elif rig.name == "file":
            seen.append(email.message_from_bytes(item.read_bytes())["Message-ID"])
        elif rig.name == "aliyun":
            seen.append(item.form()["OutId"])
        elif rig.name == "tencent":
            seen.append(item.json()["SessionContext"])
        else:
            seen.append(item.json()["id"])
    assert len(set(seen)) == 1 and message.message_id.strip("<>") in seen[0]
    if rig.name == "file":
        assert len(seen) == 1  # the resend replaced the file
    else:
        assert len(seen) == 2


# What each failure says: Chinese for the person reading `taskflow outbox`, the server's or
# provider's own code and text verbatim.
REASONS = {
    ("smtp", "transient"): "邮件被拒收：451 4.3.0 try again later",
    ("smtp", "permanent"): "收件人被拒绝：550 5.1.1 no such user",
    ("smtp", "drop"): "发送正文（DATA）时连接中断，对方可能已收到：",
    ("aliyun", "transient"): "阿里云短信返回 isv.BUSINESS_LIMIT_CONTROL：",
    ("aliyun", "permanent"): "阿里云短信返回 isv.MOBILE_NUMBER_ILLEGAL：",
    ("tencent", "transient"): "腾讯云短信返回 RequestLimitExceeded：",
    ("tencent", "permanent"): "腾讯云短信返回 InvalidParameterValue.IncorrectPhoneNumber：",
    ("tencent", "server_error"): "腾讯云短信返回 HTTP 502：",
    ("gateway", "transient"): "短信网关返回 HTTP 500：",
    ("gateway", "permanent"): "短信网关返回 HTTP 400：",
    ("wecom", "transient"): "企业微信机器人返回 errcode 45009：",
    ("wecom", "permanent"): "企业微信机器人返回 errcode 40058：",
    ("wecom", "server_error"): "企业微信机器人返回 HTTP 503：",
    ("dingtalk", "transient"): "钉钉机器人返回 errcode 130101：",
    ("dingtalk", "permanent"): "钉钉机器人返回 errcode 40035：",
    ("file", "transient"): "无法写入 ",
}


@pytest.mark.parametrize("rig, outcome", list(REASONS), indirect=["rig"])
def test_a_failure_says_what_happened_in_chinese_with_the_servers_words(rig, outcome):
    rig.inject(outcome)
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert str(info.value).startswith(REASONS[rig.name, outcome])


@pytest.mark.parametrize("rig", [c for c in SERVER_CHANNELS if c != "smtp"], indirect=True)
def test_a_lost_http_answer_names_the_host(rig):
    rig.inject("drop")
    with pytest.raises(TransportError) as info:
        rig.send(make_message(rig.outbox_channel))
    assert str(info.value).startswith(f"127.0.0.1:{rig.server.port} 没有应答，对方可能已收到：")



def test_a_bad_address_is_named_in_the_reason():
    with pytest.raises(TransportError) as info:
        normalize_mobile("12-ab", e164=False)
    assert str(info.value) == "手机号码无效：'12-ab'" and info.value.permanent
    with pytest.raises(TransportError) as info:
        check_address("wang at example.org")
    assert str(info.value) == "不是有效的邮箱地址：'wang at example.org'"
    assert info.value.permanent
