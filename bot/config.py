"""kefu's settings: ``config.toml``, overridden key by key from the environment.

Every key ``[section] key`` can be set as ``KEFU_<SECTION>__<KEY>``; lists are given as JSON
(``KEFU_TELEGRAM__SUPERVISORS='[111, 222]'``). A wrong value stops start-up with one sentence
that names the key (:class:`ConfigError`), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("config.toml")
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """A configuration problem, worded for the person running kefu."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str | None = None
    agent_chat_id: int | None = None
    supervisors: list[int] = Field(default_factory=list)
    mode: Literal["polling", "webhook"] = "polling"
    poll_timeout: int = Field(default=30, ge=0, le=50)
    rate_limit_retries: int = Field(default=3, ge=0, le=10)
    server_error_retries: int = Field(default=3, ge=0, le=10)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and not _TOKEN.match(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("base_url", "base_file_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    def file_url(self) -> str:
        """Where files are downloaded: by default the same server as the API, under /file/bot."""
        if self.base_file_url:
            return self.base_file_url
        head, sep, tail = self.base_url.rpartition("/bot")
        return f"{head}/file/bot{tail}" if sep else self.base_url.rstrip("/") + "/file/bot"


class DatabaseSettings(_Section):
    url: str = "sqlite://data/kefu.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgres|postgresql|asyncpg|psycopg)://", value):
            raise ValueError(
                "must start with sqlite:// (e.g. sqlite://data/kefu.db) or postgres:// "
                "(e.g. postgres://kefu@127.0.0.1/kefu)"
            )
        return value


class KnowledgeBaseSettings(_Section):
    files: list[str] = Field(default_factory=list)


class SchedulerSettings(_Section):
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a time zone name such as Asia/Shanghai or Europe/Berlin") from None
        return value


class ApiSettings(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080")
        return value


_config_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    knowledge_base: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if _config_file is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=_config_file),)
        return sources


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file in use: the one named, else ``$KEFU_CONFIG``, else ./config.toml if present."""
    if explicit is not None:
        return Path(explicit)
    if env := os.environ.get("KEFU_CONFIG"):
        return Path(env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings; raise :class:`ConfigError` with one clear sentence on any problem."""
    global _config_file
    file = config_path(path)
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"The config file {file} does not exist; create it or point KEFU_CONFIG at yours.")
        try:
            tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The config file {file} is not valid TOML ({exc}); fix it and start again.") from None
    _config_file = file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, file)) from None
    except SettingsError:
        raise ConfigError(_explain_bad_json()) from None
    finally:
        _config_file = None


def _explain(exc: ValidationError, file: Path | None) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    key = ".".join(loc)
    env = "KEFU_" + "__".join(part.upper() for part in loc)
    where = f"{file}" if file else "config.toml"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"Unknown setting {key} (from {env} or {where}); remove it or check its spelling."
    return f"Setting {key} (env {env}) {_as_clause(message)}; fix it in {where} or the environment."


def _explain_bad_json() -> str:
    """pydantic-settings fails on a list given as bad JSON without naming the variable: find it."""
    for name, value in sorted(os.environ.items()):
        section, sep, key = name.upper().removeprefix("KEFU_").partition("__")
        if not name.upper().startswith("KEFU_") or not sep:
            continue
        model = Settings.model_fields.get(section.lower())
        field = model and getattr(model.annotation, "model_fields", {}).get(key.lower())
        if field is not None and "list" in str(field.annotation):
            try:
                json.loads(value)
            except json.JSONDecodeError:
                return f"Setting {section.lower()}.{key.lower()} (env {name}) must be a JSON list, e.g. [111, 222]; fix it in the environment."
    return "A KEFU_* environment variable holds a value that is not valid JSON; check the lists among them."


def _as_clause(message: str) -> str:
    """pydantic says "Input should be a valid integer"; we say "must be a valid integer"."""
    for prefix in ("Input should be ", "Input should "):
        if message.startswith(prefix):
            return "must be " + message.removeprefix(prefix) if prefix.endswith("be ") else "must " + message.removeprefix(prefix)
    return message[0].lower() + message[1:] if message else "is invalid"
