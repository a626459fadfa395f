"""All configuration in one pydantic-settings class: TASKFLOW_* variables and a TOML file.

Precedence: arguments > environment (TASKFLOW_*) > config file (TASKFLOW_CONFIG, else
taskflow.toml in the data directory) > defaults. Secrets may also come from files
(TASKFLOW_SECRET_KEY_FILE, TASKFLOW_SMTP_PASSWORD_FILE).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taskflow.errors import Problem, UserError
from taskflow.plans.schema import known_timezone

# Values people copy from examples; a deployment using one of them is not secret at all.
PLACEHOLDER_SECRETS = frozenset({
    "changethis", "changeme", "change-me", "secret", "secret-key", "your-secret-key",
    "please-change", "taskflow", "default", "password", "xxx",
})
SECRET_FILE_NAME = "secret_key"


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
    sms_provider: Literal["none", "aliyun", "tencent", "http"] = "none"
    sms_access_key_id: str | None = None
    sms_access_key_secret: SecretStr | None = None
    sms_sign_name: str | None = None
    sms_http_url: str | None = None

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
                raise UserError.single("config file not found (TASKFLOW_CONFIG)",
                                       file=str(config_file))
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    _known_timezone = field_validator("timezone")(
        classmethod(lambda cls, v: known_timezone(v)))

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

    def _secret_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.secret_key_file is not None:
            try:
                value = self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError.single(f"cannot read the secret key file: {exc.strerror}",
                                       file=str(self.secret_key_file)) from None
            _check_secret(value, str(self.secret_key_file))
            return value
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            value = path.read_text(encoding="utf-8").strip()
            _check_secret(value, str(path))
            return value
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must not both write (and disagree on) a key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        return value

    def resolved_smtp_password(self) -> str | None:
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text(encoding="utf-8").strip()
        return None


def _check_secret(value: str, where: str) -> None:
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{where}: the secret key is a known placeholder; "
                         "set a random value (or remove it and one is generated)")
    if len(value) < 32:
        raise ValueError(f"{where}: the secret key is too short (at least 32 characters)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value is a UserError naming the variable."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ("TASKFLOW_" + "_".join(str(p) for p in error["loc"]).upper()
                    if error["loc"] else None)
            problems.append(Problem(error["msg"].removeprefix("Value error, "), field=name))
        raise UserError(problems) from None
