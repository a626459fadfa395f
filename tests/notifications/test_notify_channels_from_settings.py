"""Settings choose each channel's transport; unset channels write files; secrets from files."""

from __future__ import annotations

import pytest

from notifications.channels import build_channel, build_channels
from notifications.channels.dingtalk import DingTalkRobot
from notifications.channels.email import EmailChannel
from notifications.channels.file import FileChannel
from notifications.channels.sms_aliyun import AliyunSms
from notifications.channels.sms_tencent import TencentSms
from notifications.channels.wecom import WeComRobot
from taskflow.errors import UserError


def test_a_fresh_install_writes_every_channel_to_files(make_settings, tmp_path):
    channels = build_channels(make_settings())
    assert all(isinstance(c, FileChannel) for c in channels.values())
    assert channels["email"].directory == tmp_path / "data" / "messages"


def test_configured_channels_get_their_transports_and_secrets_come_from_files(
        make_settings, tmp_path):
    secret = tmp_path / "aliyun-secret"
    secret.write_text("s3cret\n")
    hook = tmp_path / "wecom-url"
    hook.write_text("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n")
    settings = make_settings(smtp_host="mail.example.org", smtp_security="tls", smtp_port=465,
                             sms_provider="aliyun", sms_access_key_id="LTAI",
                             sms_access_key_secret_file=secret,
                             wecom_webhook_url_file=hook,
                             dingtalk_webhook_url="https://oapi.dingtalk.com/robot/send?x=1",
                             dingtalk_secret="SECabc", im_rate_per_minute=30)
    channels = build_channels(settings)
    assert isinstance(channels["email"], EmailChannel)
    assert channels["email"].describe() == "SMTP 服务器 mail.example.org:465（tls）"
    assert isinstance(channels["sms"], AliyunSms)
    assert channels["sms"].access_key_secret == "s3cret"
    assert isinstance(channels["wecom"], WeComRobot)
    assert channels["wecom"].webhook_url.endswith("key=k") and channels["wecom"].rate == 0.5
    assert isinstance(channels["dingtalk"], DingTalkRobot) and channels["dingtalk"].secret
    tencent = build_channel("sms", make_settings(sms_provider="tencent",
                                                 sms_endpoint="http://127.0.0.1:9/"))
    assert isinstance(tencent, TencentSms) and tencent.host == "127.0.0.1:9"


def test_an_unreadable_secret_file_names_the_setting(make_settings, tmp_path):
    settings = make_settings(sms_provider="aliyun", sms_access_key_secret_file=tmp_path / "no")
    with pytest.raises(UserError, match="TASKFLOW_SMS_ACCESS_KEY_SECRET_FILE"):
        build_channel("sms", settings)


@pytest.mark.parametrize(("name", "value"), [("notify_quiet_hours", "8pm"),
                                             ("notify_channels", {"digest": ["fax"]})])
def test_bad_notification_settings_are_refused(make_settings, name, value):
    with pytest.raises(UserError, match=f"TASKFLOW_{name.upper()}"):
        make_settings(**{name: value})
