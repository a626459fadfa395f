"""What the HTTP channels share: one httpx client (connections reused) and how failures read.

- cannot connect, or the request could not be written: transient (nothing arrived);
- the request went out but no answer came (read timeout, connection closed): ambiguous;
- 429 and 5xx (and 408): transient, after ``Retry-After`` when the server gives one;
- other 4xx: permanent (the request itself is wrong), unless the channel knows better from
  the body (``check`` reads the provider's own error codes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from notifications.channels import Channel
from notifications.message import Receipt, TransportError
from notifications.templates import one_line

USER_AGENT = "taskflow-notifications/1"


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def body_text(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:
        return ""
    return one_line(text)[:limit]


class HttpChannel(Channel):
    timeout = 30.0

    def __init__(self, *, concurrency: int = 4, rate: float | None = None,
                 timeout: float = 15.0):
        self.concurrency = concurrency
        self.rate = rate
        self.request_timeout = timeout
        self.timeout = timeout * 2
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.request_timeout),
                limits=httpx.Limits(max_connections=max(1, self.concurrency),
                                    max_keepalive_connections=max(1, self.concurrency)),
                headers={"User-Agent": USER_AGENT}, trust_env=False)
        return self._client

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response of a request that reached the server; TransportError otherwise."""
        try:
            response = await self.client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(f"无法连接 {_host(url)}：{_describe(exc)}") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            raise TransportError(f"请求未能发送到 {_host(url)}：{_describe(exc)}") from None
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            raise TransportError(f"{_host(url)} 没有应答，对方可能已收到：{_describe(exc)}",
                                 ambiguous=True) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"请求 {_host(url)} 出错：{_describe(exc)}") from None
        return response

    @staticmethod
    def raise_for_status(response: httpx.Response, what: str) -> None:
        code = response.status_code
        if code < 400:
            return
        body = body_text(response)
        detail = f"{what}返回 HTTP {code}" + (f"：{body}" if body else "")
        if code in (408, 425, 429) or code >= 500:
            raise TransportError(detail, retry_after=retry_after(response))
        raise TransportError(detail, permanent=True)

    @staticmethod
    def json_of(response: httpx.Response, what: str) -> Mapping[str, Any]:
        try:
            value = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise TransportError(f"{what}返回 HTTP {response.status_code}，但应答不是 JSON："
                                 f"{body_text(response)}", ambiguous=True) from None
        if not isinstance(value, Mapping):
            raise TransportError(f"{what}返回了无法识别的 JSON：{body_text(response)}",
                                 ambiguous=True)
        return value

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _host(url: str) -> str:
    try:
        parsed = httpx.URL(url)
        return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host
    except Exception:
        return "服务器"


def _describe(exc: BaseException) -> str:
    return one_line(str(exc))[:200] or type(exc).__name__


def normalize_mobile(number: str, *, e164: bool) -> str:
    """A mainland mobile number: digits (with +86 when ``e164``); anything else permanent."""
    raw = number.strip().replace(" ", "").replace("-", "")
    digits = raw[1:] if raw.startswith("+") else raw
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise TransportError(f"手机号码无效：{number!r}", permanent=True)
    if raw.startswith("+"):
        return raw if e164 else (digits[2:] if digits.startswith("86") else raw)
    if e164:
        return "+86" + digits if len(digits) == 11 else "+" + digits
    return digits


def receipt(value: Any) -> Receipt:
    return Receipt(one_line(value)[:300] if value is not None else "")
