"""All configuration in one pydantic-settings class: TASKFLOW_* variables and a TOML file.

Precedence: arguments > environment (TASKFLOW_*) > config file (TASKFLOW_CONFIG, else
taskflow.toml in the data directory) > defaults. Secrets may also come from files
(TASKFLOW_SECRET_KEY_FILE, TASKFLOW_SMTP_PASSWORD_FILE). Files named by settings (secrets,
the SMTP CA bundle) are read when used: a missing one is a UserError naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taskflow.domain.messages import CHANNELS
from taskflow.errors import Problem, UserError
from taskflow.plans.schema import RECIPIENT_PATTERN, known_timezone

# Values people copy from examples; a deployment using one of them is not secret at all.
PLACEHOLDER_SECRETS = frozenset({
    "changethis", "changeme", "change-me", "secret", "secret-key", "your-secret-key",
    "please-change", "taskflow", "default", "password", "xxx",
})
SECRET_FILE_NAME = "secret_key"
QUIET_HOURS = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("taskflow", appauthor=False))


def _config_file() -> Path | None:
    explicit = os.environ.get("TASKFLOW_CONFIG")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get("TASKFLOW_DATA_DIR") or default_data_dir())
    candidate = data_dir / "taskflow.toml"
    return candidate if candidate.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKFLOW_", extra="forbid",
                                      validate_default=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: SQLite file in data_dir
    timezone: str = "Asia/Shanghai"
    base_url: str = "http://127.0.0.1:8000"  # links in messages point here

    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None

    # Delivery channels (used by the notifications package).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_from: str = "taskflow@localhost"
    smtp_timeout: float = 30.0  # seconds per SMTP command
    smtp_concurrency: int = Field(default=8, ge=1, le=200)  # connections, each reused
    smtp_messages_per_connection: int = Field(default=1000, ge=1)
    smtp_validate_certs: bool = True
    # PEM bundle of the CA that signed the server's certificate (a private/intranet CA): the
    # server is verified against it (host name checked) instead of the system's CAs.
    smtp_ca_file: Path | None = None
    sms_provider: Literal["none", "aliyun", "tencent", "http"] = "none"
    sms_access_key_id: str | None = None  # Aliyun AccessKey ID / Tencent SecretId
    sms_access_key_secret: SecretStr | None = None  # Aliyun AccessKey secret / Tencent SecretKey
    sms_access_key_secret_file: Path | None = None
    sms_sign_name: str | None = None  # the approved signature (签名), e.g. 扶贫办
    sms_endpoint: str | None = None  # provider API URL (default: the provider's public one)
    sms_region: str | None = None  # Aliyun RegionId (cn-hangzhou) / Tencent Region (ap-guangzhou)
    sms_sdk_app_id: str | None = None  # Tencent SmsSdkAppId
    # Provider template codes by message kind ("*": any kind without its own), and the names
    # of the parameters each template takes, in order (Tencent passes them as a list).
    sms_templates: dict[str, str] = Field(default_factory=dict)
    sms_template_params: dict[str, list[str]] = Field(default_factory=dict)
    sms_http_url: str | None = None  # generic gateway: POST JSON here
    # The JSON body for the generic gateway; strings may hold {to}, {text}, {message_id},
    # {sign_name}, {kind} (values are JSON-encoded, never spliced into the JSON text).
    sms_http_body: dict[str, Any] = Field(
        default_factory=lambda: {"to": "{to}", "text": "{text}", "id": "{message_id}"})
    sms_http_headers: dict[str, str] = Field(default_factory=dict)
    sms_http_token: SecretStr | None = None  # sent as "Authorization: Bearer <token>"
    sms_http_token_file: Path | None = None
    sms_concurrency: int = Field(default=4, ge=1, le=100)
    sms_rate: float = Field(default=10.0, gt=0)  # messages per second (providers cap QPS)
    wecom_webhook_url: SecretStr | None = None  # https://qyapi.weixin.qq.com/...send?key=...
    wecom_webhook_url_file: Path | None = None
    dingtalk_webhook_url: SecretStr | None = None  # https://oapi.dingtalk.com/robot/send?...
    dingtalk_webhook_url_file: Path | None = None
    dingtalk_secret: SecretStr | None = None  # the robot's signing secret (SEC...)
    dingtalk_secret_file: Path | None = None
    im_rate_per_minute: float = Field(default=20, gt=0)  # both robots allow 20 a minute

    # Delivery policy (notifications.dispatch).
    notify_file_dir: Path | None = None  # file channel: default <data dir>/messages
    notify_templates_dir: Path | None = None  # templates here override the built-in ones
    notify_link: str = "{base_url}/t/{task_id}"  # the task's link in every message
    # Kinds and the channels they go out on, in order; other kinds use every channel. A row on
    # a channel not listed is skipped when the contact has a row on a listed one for it.
    notify_channels: dict[str, list[str]] = Field(default_factory=lambda: {
        "escalation": ["sms", "email", "wecom", "dingtalk"], "digest": ["email"]})
    # No SMS/IM in these local hours, nor on non-working days unless urgent (escalations of
    # at least notify_urgent_level); held messages go out when the quiet time ends.
    notify_quiet_hours: str | None = "21:00-08:00"
    notify_quiet_channels: list[str] = Field(default_factory=lambda: ["sms", "wecom",
                                                                      "dingtalk"])
    notify_urgent_level: int = 2
    notify_retry_base_seconds: float = Field(default=60, gt=0)  # first retry after ~this
    notify_retry_max_seconds: float = Field(default=900, gt=0)  # backoff cap
    notify_give_up_hours: float = Field(default=72, gt=0)  # transient failures → dead after
    notify_lease_seconds: float = Field(default=300, gt=0)  # a claim expires after this
    notify_file_concurrency: int = Field(default=4, ge=1, le=64)

    # Bulletins (通报, taskflow.services.bulletin; the serve job in workflows/scheduler.py):
    # "off" (default: nothing is mailed to leaders unless asked), "weekly" (Monday 09:00, the
    # week before), "monthly" (the 1st at 09:00, the month before).
    bulletin_every: Literal["off", "weekly", "monthly"] = "off"
    # Who gets it: recipient selectors resolved per plan (see docs/notifications.md).
    bulletin_to: list[str] = Field(default_factory=lambda: [
        "jurisdiction.leader_in_charge", "jurisdiction.head", "issuer.head"])
    bulletin_formats: list[Literal["html", "xlsx", "pdf"]] = Field(
        default_factory=lambda: ["html", "xlsx", "pdf"])  # files kept under <data>/bulletins
    pdf_font: Path | None = None  # a font with Chinese glyphs for PDF (default: searched)

    # Web app: password-less report links in messages, and uploaded evidence.
    link_ttl_days: int = Field(default=30, ge=1, le=365)  # a message's report link expires
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # per attached file
    # JSON API: requests a minute per token, bursts up to as many (0: no limit).
    api_rate_per_minute: int = Field(default=600, ge=0)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            if not config_file.exists():
                raise UserError.single("配置文件不存在（TASKFLOW_CONFIG）",
                                       file=str(config_file))
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    _known_timezone = field_validator("timezone")(
        classmethod(lambda cls, v: known_timezone(v)))

    @field_validator("notify_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none", "off"):
            return None
        if not QUIET_HOURS.fullmatch(value.strip()):
            raise ValueError(f"{value!r} 无效：应为 HH:MM-HH:MM（如 21:00-08:00）或 off")
        return value.strip()

    @field_validator("notify_channels")
    @classmethod
    def _known_channels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, channels in value.items():
            unknown = [c for c in channels if c not in CHANNELS]
            if unknown:
                raise ValueError(f"{kind}：未知渠道 {', '.join(unknown)}"
                                 f"（可用渠道：{', '.join(CHANNELS)}）")
        return value

    @field_validator("bulletin_to")
    @classmethod
    def _recipient_selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            if not re.fullmatch(RECIPIENT_PATTERN, selector):
                raise ValueError(f"{selector!r} 无效：应为收件人选择器，如 "
                                 "jurisdiction.leader_in_charge 或 issuer.head")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.secret_key is not None:
            _check_secret(self.secret_key.get_secret_value(), "TASKFLOW_SECRET_KEY")
        return self

    @property
    def database_url_resolved(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'taskflow.db'}"

    @property
    def holidays_dir(self) -> Path:
        """Holiday files added with `taskflow calendar add` (years chinese-calendar lacks)."""
        return self.data_dir / "holidays"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolved_secret_key(self) -> str:
        """The secret key: from the setting, from a file, or generated once into data_dir."""
        try:
            return self._secret_key()
        except ValueError as exc:
            raise UserError.single(str(exc)) from None

    @property
    def secret_key_path(self) -> Path | None:
        """The file the secret key lives in (None when TASKFLOW_SECRET_KEY sets it)."""
        if self.secret_key is not None:
            return None
        return self.secret_key_file or self.data_dir / SECRET_FILE_NAME

    def existing_secret_key(self) -> str | None:
        """The secret key if there is one; None when the data directory's key file is
        missing (never generated here: taskflow.services.secret_key decides whether a new
        key may be made)."""
        path = self.secret_key_path
        if path is not None and self.secret_key_file is None and not path.exists():
            return None
        return self.resolved_secret_key()

    def _secret_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.secret_key_file is not None:
            try:
                value = self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError.single(f"无法读取密钥文件：{exc.strerror}",
                                       file=str(self.secret_key_file)) from None
            _check_secret(value, str(self.secret_key_file))
            return value
        path = self.data_dir / SECRET_FILE_NAME
        try:
            if path.exists():
                value = path.read_text(encoding="utf-8").strip()
                _check_secret(value, str(path))
                return value
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return _create_secret_file(path)
        except OSError as exc:  # a data directory the process may not read or write
            raise UserError.single(f"无法读取或生成密钥文件：{exc.strerror or exc}",
                                   file=str(path)) from None

    def resolved_smtp_password(self) -> str | None:
        return self.secret("smtp_password")

    def smtp_ca_context(self) -> ssl.SSLContext | None:
        """A TLS client context trusting the CAs of ``smtp_ca_file`` (host names checked);
        None when unset. A missing, unreadable or non-PEM file is a UserError naming it."""
        path = self.smtp_ca_file
        if path is None:
            return None
        where = {"file": str(path), "field": "TASKFLOW_SMTP_CA_FILE"}
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UserError.single(f"无法读取 SMTP 服务器的 CA 证书文件：{exc.strerror}",
                                   **where) from None
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise UserError.single("SMTP 服务器的 CA 证书文件中没有 PEM 格式的证书"
                                   "（-----BEGIN CERTIFICATE-----）", **where)
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise UserError.single(f"SMTP 服务器的 CA 证书文件无法使用：{exc}", **where) from None

    def secret(self, name: str) -> str | None:
        """A secret setting: its value, else the content of ``<name>_file``, else None."""
        value = getattr(self, name)
        if value is not None:
            return value.get_secret_value() if isinstance(value, SecretStr) else value
        path = getattr(self, f"{name}_file", None)
        if path is None:
            return None
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError.single(f"无法读取密钥文件：{exc.strerror}",
                                   file=str(path), field=f"TASKFLOW_{name.upper()}_FILE"
                                   ) from None

    @property
    def bulletins_dir(self) -> Path:
        """Where bulletins written by the bulletin flow and `taskflow simulate` go."""
        return self.data_dir / "bulletins"

    @property
    def messages_dir(self) -> Path:
        """Where the file channel writes messages (one file per message)."""
        return self.notify_file_dir or self.data_dir / "messages"


def _check_secret(value: str, where: str) -> None:
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{where}：密钥是已知的占位值，请设置随机值"
                         "（或删除该设置，系统将自动生成）")
    if len(value) < 32:
        raise ValueError(f"{where}：密钥太短（至少 32 个字符）")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value is a UserError naming the variable."""
    from pydantic import ValidationError

    from taskflow.plans.yamlio import _in_chinese  # pydantic's own messages, in Chinese

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ("TASKFLOW_" + "_".join(str(p) for p in error["loc"]).upper()
                    if error["loc"] else None)
            message = _in_chinese(error) or error["msg"].removeprefix("Value error, ")
            problems.append(Problem(message, field=name))
        raise UserError(problems) from None


def _create_secret_file(path: Path) -> str:
    """Generate the key into a temporary file, then link it into place. Processes starting
    at once on a new data directory (serve and web, two dispatchers) agree on one key, and
    none can read the file half-written: it appears whole or not at all (a hard link never
    replaces an existing file)."""
    value = secrets.token_urlsafe(48)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process was first: use its key
            value = path.read_text(encoding="utf-8").strip()
            _check_secret(value, str(path))
    finally:
        temporary.unlink(missing_ok=True)
    return value
