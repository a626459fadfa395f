"""Aliyun SMS (dysmsapi SendSms, RPC style, signature version 1.0 HMAC-SHA1).

The request signature follows Aliyun's RPC signing documentation:

1. every parameter but ``Signature``, sorted by name; names and values percent-encoded with
   UTF-8 (unreserved ``A-Z a-z 0-9 - _ . ~`` kept, space as ``%20``, ``*`` as ``%2A``);
2. ``StringToSign = METHOD & percentEncode("/") & percentEncode(canonicalized query)``;
3. ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

tests/notifications/test_signatures.py checks it against the two worked examples in Aliyun's
documents (DescribeRegions and SendSms). The request is a form POST to the endpoint
(``sms_endpoint``, default https://dysmsapi.aliyuncs.com/), which lets the tests point it at
a loopback server.

Answers: ``Code`` "OK" is sent (``BizId`` is the receipt). Codes about this message (an
illegal number, banned content, a parameter too long) are permanent; flow control and
system errors are transient; account and template problems are too (someone fixes the
configuration, then the message goes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from notifications.channels.http import HttpChannel, normalize_mobile, receipt
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"
# Errors about the message itself: retrying the same message cannot succeed.
PERMANENT_CODES = frozenset({
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED", "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.SMS_CONTENT_ILLEGAL", "isv.PARAM_LENGTH_LIMIT", "isv.PARAM_NOT_SUPPORT_URL",
    "isv.INVALID_JSON_PARAM", "isv.TEMPLATE_PARAMS_ILLEGAL", "isv.BLACKLIST_CONTROL",
})


def percent_encode(value: str) -> str:
    return quote(str(value), safe="-_.~", encoding="utf-8")


def string_to_sign(params: dict[str, str], method: str = "POST") -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()) if k != "Signature")
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(params: dict[str, str], secret: str, method: str = "POST") -> str:
    digest = hmac.new((secret + "&").encode("utf-8"),
                      string_to_sign(params, method).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class AliyunSms(HttpChannel):
    name = "aliyun"
    parts = ("sms",)

    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str,
                 endpoint: str = ENDPOINT, region: str = "cn-hangzhou",
                 templates: dict[str, str] | None = None, concurrency: int = 4,
                 rate: float | None = 10.0, timeout: float = 15.0):
        super().__init__(concurrency=concurrency, rate=rate, timeout=timeout)
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.endpoint = endpoint
        self.region = region
        self.templates = templates or {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AliyunSms:
        return cls(access_key_id=settings.sms_access_key_id or "",
                   access_key_secret=settings.secret("sms_access_key_secret") or "",
                   sign_name=settings.sms_sign_name or "",
                   endpoint=settings.sms_endpoint or ENDPOINT,
                   region=settings.sms_region or "cn-hangzhou",
                   templates=settings.sms_templates, concurrency=settings.sms_concurrency,
                   rate=settings.sms_rate)

    def describe(self) -> str:
        return f"阿里云短信 {self.endpoint}"

    def params(self, message: Message, *, nonce: str | None = None,
               timestamp: datetime | None = None) -> dict[str, str]:
        template = message.sms_template or self.templates.get(message.kind) or \
            self.templates.get("*")
        if not template:
            raise TransportError(f"消息类型 {message.kind!r} 没有配置阿里云短信模板"
                                 "（设置 sms_templates）")
        moment = (timestamp or datetime.now(UTC)).astimezone(UTC)
        return {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON",
            "PhoneNumbers": normalize_mobile(message.to, e164=False),
            "RegionId": self.region, "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0", "TemplateCode": template,
            "TemplateParam": json.dumps(message.sms_params, ensure_ascii=False,
                                        separators=(",", ":")),
            "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": VERSION,
            "OutId": one_line(message.message_id.strip("<>"))[:256],
        }

    async def send(self, message: Message) -> Receipt:
        params = self.params(message)
        params["Signature"] = sign(params, self.access_key_secret, "POST")
        response = await self.request("POST", self.endpoint, data=params)
        body = None
        with contextlib.suppress(ValueError):
            body = response.json()
        if isinstance(body, dict) and "Code" in body:
            code = str(body.get("Code"))
            if code == "OK":
                return receipt(body.get("BizId") or body.get("RequestId"))
            detail = f"阿里云短信返回 {code}：{one_line(body.get('Message') or '')[:200]}"
            if code in PERMANENT_CODES:
                raise TransportError(detail, permanent=True)
            raise TransportError(detail)
        self.raise_for_status(response, "阿里云短信")
        raise TransportError(f"阿里云短信返回 HTTP {response.status_code}，但应答中没有 Code",
                             ambiguous=True)
