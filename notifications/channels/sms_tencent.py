"""Tencent Cloud SMS (SendSms, API 3.0 version 2021-01-11, signature v3 TC3-HMAC-SHA256).

Signature v3, as Tencent Cloud's "Signature v3" document describes it:

1. ``CanonicalRequest = POST \\n / \\n <query, empty> \\n content-type:<ct>\\nhost:<host>\\n
   \\n content-type;host \\n hex(SHA256(payload))``;
2. ``StringToSign = TC3-HMAC-SHA256 \\n <timestamp> \\n <UTC date>/<service>/tc3_request \\n
   hex(SHA256(CanonicalRequest))``;
3. ``SecretDate = HMAC("TC3" + SecretKey, date)``, ``SecretService = HMAC(SecretDate,
   service)``, ``SecretSigning = HMAC(SecretService, "tc3_request")``, ``Signature =
   hex(HMAC(SecretSigning, StringToSign))``;
4. ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=
   content-type;host, Signature=<signature>``.

tests/notifications/test_signatures.py checks it against the worked example of that document
(cvm DescribeInstances, timestamp 1551113065). The endpoint is ``sms_endpoint`` (default
https://sms.tencentcloudapi.com/); the signed host is the endpoint's host (and port), so the
tests can point it at a loopback server; the service in the scope stays "sms".

Answers: an ``Error`` in the response is a failed request (rate limits and internal errors
transient, a malformed request permanent); otherwise ``SendStatusSet[0].Code`` "Ok" is sent
(``SerialNo`` is the receipt), and codes about the number or the content are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from notifications.channels.http import HttpChannel, normalize_mobile, receipt
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

ENDPOINT = "https://sms.tencentcloudapi.com/"
SERVICE = "sms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
PERMANENT_CODES = frozenset({
    "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberParseFail", "FailedOperation.ContainSensitiveWord",
    "InvalidParameterValue.ContentLengthLimit",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
    "InvalidParameterValue.TemplateParameterFormatError",
    "InvalidParameterValue.TemplateParameterLengthLimit",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
    "UnsupportedOperation.UnsupportedRegion", "FailedOperation.MissingTemplateToModify",
})
TRANSIENT_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError",
                      "ResourceUnavailable", "FailedOperation.InsufficientBalance",
                      "AuthFailure", "UnauthorizedOperation")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(*, secret_key: str, service: str, host: str, payload: str, timestamp: int,
                  content_type: str = CONTENT_TYPE) -> tuple[str, str]:
    """(signature, credential scope) of a POST with a JSON payload."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
        hashlib.sha256(payload.encode("utf-8")).hexdigest()])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join([ALGORITHM, str(timestamp), scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), day), service),
                "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest(), scope


def authorization(*, secret_id: str, secret_key: str, service: str, host: str, payload: str,
                  timestamp: int, content_type: str = CONTENT_TYPE) -> str:
    signature, scope = tc3_signature(secret_key=secret_key, service=service, host=host,
                                     payload=payload, timestamp=timestamp,
                                     content_type=content_type)
    return (f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
            f"Signature={signature}")


class TencentSms(HttpChannel):
    name = "tencent"
    parts = ("sms",)

    def __init__(self, *, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 endpoint: str = ENDPOINT, region: str = "ap-guangzhou",
                 templates: dict[str, str] | None = None, concurrency: int = 4,
                 rate: float | None = 10.0, timeout: float = 15.0):
        super().__init__(concurrency=concurrency, rate=rate, timeout=timeout)
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.endpoint = endpoint
        self.host = httpx.URL(endpoint).netloc.decode("ascii")
        self.region = region
        self.templates = templates or {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TencentSms:
        return cls(secret_id=settings.sms_access_key_id or "",
                   secret_key=settings.secret("sms_access_key_secret") or "",
                   sdk_app_id=settings.sms_sdk_app_id or "", sign_name=settings.sms_sign_name
                   or "", endpoint=settings.sms_endpoint or ENDPOINT,
                   region=settings.sms_region or "ap-guangzhou",
                   templates=settings.sms_templates, concurrency=settings.sms_concurrency,
                   rate=settings.sms_rate)

    def describe(self) -> str:
        return f"腾讯云短信 {self.endpoint}"

    def payload(self, message: Message) -> str:
        template = message.sms_template or self.templates.get(message.kind) or \
            self.templates.get("*")
        if not template:
            raise TransportError(f"消息类型 {message.kind!r} 没有配置腾讯云短信模板"
                                 "（设置 sms_templates）")
        return json.dumps({
            "PhoneNumberSet": [normalize_mobile(message.to, e164=True)],
            "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name, "TemplateId": template,
            "TemplateParamSet": [str(v) for v in message.sms_params.values()],
            "SessionContext": one_line(message.message_id)[:500],
        }, ensure_ascii=False, separators=(",", ":"))

    async def send(self, message: Message) -> Receipt:
        payload = self.payload(message)
        timestamp = int(time.time())
        headers = {
            "Authorization": authorization(secret_id=self.secret_id, secret_key=self.secret_key,
                                           service=SERVICE, host=self.host, payload=payload,
                                           timestamp=timestamp),
            "Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp), "X-TC-Version": VERSION,
            "X-TC-Region": self.region,
        }
        response = await self.request("POST", self.endpoint, content=payload.encode("utf-8"),
                                      headers=headers)
        if response.status_code >= 400:
            self.raise_for_status(response, "腾讯云短信")
        body = self.json_of(response, "腾讯云短信").get("Response") or {}
        error = body.get("Error") if isinstance(body, dict) else None
        if error:
            code = str(error.get("Code", ""))
            detail = f"腾讯云短信返回 {code}：{one_line(error.get('Message') or '')[:200]}"
            raise TransportError(detail, permanent=_permanent(code))
        statuses = body.get("SendStatusSet") or []
        if not statuses:
            raise TransportError("腾讯云短信的应答中没有 SendStatusSet", ambiguous=True)
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code.lower() == "ok":
            return receipt(status.get("SerialNo") or body.get("RequestId"))
        detail = f"腾讯云短信返回 {code}：{one_line(status.get('Message') or '')[:200]}"
        raise TransportError(detail, permanent=_permanent(code))


def _permanent(code: str) -> bool:
    if code in PERMANENT_CODES:
        return True
    if code.startswith(TRANSIENT_PREFIXES):
        return False
    # A malformed request is ours to fix and fails the same way every time.
    return code.startswith(("InvalidParameter", "MissingParameter", "UnknownParameter"))
