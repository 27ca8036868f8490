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
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
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
    agent_language: Literal["zh-Hans", "zh-Hant", "en"] = "zh-Hans"
    mode: Literal["polling", "webhook"] = "polling"
    poll_timeout: int = Field(default=30, ge=0, le=50)
    rate_limit_retries: int = Field(default=3, ge=0, le=10)
    messages_per_second: float = Field(default=30, gt=0)
    group_messages_per_minute: float = Field(default=20, gt=0)
    chat_messages_per_second: float = Field(default=1, gt=0)
    server_error_retries: int = Field(default=3, ge=0, le=10)
    connections: int = Field(default=8, ge=1, le=256)
    """HTTP connections kept open to the Bot API for sending: enough for Telegram's 30 messages
    a second. httpx looks at every open one before each request, so many cost CPU."""
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    instance: str = Field(default="", max_length=64)
    shutdown_seconds: float = Field(default=10.0, ge=0, le=600)
    flood_messages: int = Field(default=8, ge=0)
    flood_seconds: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not re.match(r"^https?://[^/\s]+/\S*$", value):
            raise ValueError("must be the public https:// URL Telegram calls, with a path, e.g. https://kefu.shop.example/telegram/webhook")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value().strip()):
            raise ValueError("must be 16 to 256 characters A-Z, a-z, 0-9, _ and -, e.g. from `openssl rand -hex 32`")
        return SecretStr(value.get_secret_value().strip())

    def webhook_path(self) -> str:
        """The path of ``webhook_url``, which kefu's HTTP server answers (a proxy passes it on)."""
        return urlsplit(self.webhook_url or "").path or "/"

    @field_validator("agent_chat_id")
    @classmethod
    def _group_id(cls, value: int | None) -> int | None:
        if value is not None and value >= 0:
            raise ValueError("must be the agent group's id, which is negative (e.g. -1001234567890); a positive id is a person's chat")
        return value

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


class BandSettings(_Section):
    """One script's confidence band: answered from ``high``, "did you mean" from ``low``."""

    high: float = Field(gt=0, le=1)
    low: float = Field(ge=0, lt=1)

    @field_validator("low")
    @classmethod
    def _below_high(cls, value: float, info: ValidationInfo) -> float:
        return _below(value, info, "high")


def _below(low: float, info: ValidationInfo, high_key: str) -> float:
    """A band's low end must be below its high end (validated after it, so read from ``info``)."""
    high = info.data.get(high_key)
    if high is not None and low >= high:
        raise ValueError(f"must be below {high_key} ({high}): between the two the bot offers a \"did you mean\", above {high_key} it answers")
    return low


CALIBRATED_BANDS: dict[Literal["latin", "han"], tuple[float, float]] = {"latin": (0.7, 0.2), "han": (0.9, 0.3875)}
"""(high, low) per script, chosen by ``python -m knowledge_base.calibration.bands`` on development
data (shipped KB, Bitext folds, colloquial chat messages on a small KB, fine-grained Chinese FAQs): the bands a shop gets
unless it sets ``high_confidence``/``low_confidence`` (then those, for every script it gives no
band of its own) or ``bands``."""


class KnowledgeBaseSettings(_Section):
    files: list[str] = Field(default_factory=list)
    learned_file: str = "data/kb-learned.yaml"
    high_confidence: float = Field(default=0.7, gt=0, le=1)
    low_confidence: float = Field(default=0.25, ge=0, lt=1)
    bands: dict[Literal["latin", "han"], BandSettings] = Field(default_factory=dict)
    """Per script (latin: English and other Latin-script text; han: Chinese), its own band in
    place of high_confidence/low_confidence; a script not named uses those."""
    reload_seconds: float = Field(default=3.0, gt=0)
    max_file_bytes: int = Field(default=20_000_000, gt=0)
    values: dict[str, str] = Field(default_factory=lambda: dict(SHOP_FACTS))
    status_cues: dict[str, list[str]] = Field(default_factory=dict)
    """Per language, words that make an order number a question about its status (replacing
    the shipped list of that language, knowledge_base/signals.py)."""
    anger_words: dict[str, list[str]] = Field(default_factory=dict)
    """Per language, words of an angry customer (replacing the shipped list of that language)."""
    auto_learn: int = Field(default=0, ge=0)
    """0: candidates from customers' confirmations wait for a supervisor (/kb_learn); N: a question
    confirmed for an entry by N different customers is added to it on its own."""

    @field_validator("status_cues", "anger_words")
    @classmethod
    def _known_languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - {"en", "zh-Hans", "zh-Hant"})
        if unknown:
            raise ValueError(f"lists words per language: en, zh-Hans or zh-Hant, not {', '.join(unknown)}")
        return value

    @field_validator("low_confidence")
    @classmethod
    def _below_high(cls, value: float, info: ValidationInfo) -> float:
        return _below(value, info, "high_confidence")

    @model_validator(mode="after")
    def _calibrated_bands(self) -> KnowledgeBaseSettings:
        """Scripts without a band of the shop's get the calibrated one, unless the shop chose
        its global band by hand: what a shop sets is what it gets."""
        if not {"high_confidence", "low_confidence"} & self.model_fields_set:
            calibrated = {script: BandSettings(high=high, low=low) for script, (high, low) in CALIBRATED_BANDS.items()}
            self.bands = calibrated | self.bands
        return self


SHOP_FACTS: dict[str, str] = {
    "shop_name": "our shop",
    "website": "https://shop.example.com",
    "support_email": "service@shop.example.com",
    "support_hours": "9:00–18:00 (Mon–Fri)",
    "delivery_days": "3–5",
    "dispatch_days": "1–2",
    "express_days": "1–2",
    "express_fee": "¥20",
    "shipping_fee": "¥10",
    "free_shipping_threshold": "¥99",
    "return_days": "7",
    "refund_days": "3–7",
    "cancellation_fee": "¥0",
}
"""Values of the {placeholders} in the shipped knowledge base's answers: the shop sets its own."""


class TicketsSettings(_Section):
    sign_replies: bool = True
    business_hours: str = "09:00-18:00"
    workdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    holidays: str | None = "CN"
    reopen_days: int = Field(default=7, ge=0, le=90)
    pending_days: int = Field(default=3, ge=1, le=90)
    album_wait_ms: int = Field(default=1500, ge=0, le=60_000)

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", value) or value[:5] >= value[6:]:
            raise ValueError('must be "HH:MM-HH:MM" with the opening before the closing, e.g. "09:00-18:00"')
        return value

    @field_validator("workdays")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= d <= 7 for d in value):
            raise ValueError("must list days 1 (Monday) to 7 (Sunday), e.g. [1, 2, 3, 4, 5]")
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        import holidays  # the calendar library: loaded only when a country is set

        if value.strip().upper() not in holidays.list_supported_countries():
            raise ValueError(f"must be a country code the holidays library knows (not {value!r}), e.g. \"CN\", \"HK\", \"TW\", or \"\" for none")
        return value.strip().upper()


class DeskQualitySettings(_Section):
    """Quality inspection (质检) of what agents send: phrases compared case- and script-blind."""

    forbidden: list[str] = Field(default_factory=list)
    """An agent's message holding one of these is stopped in the topic, with a warning; /send sends it anyway."""
    required_on_close: list[str] = Field(default_factory=list)
    """/resolve reminds the agent when none of their messages in the ticket held one of these."""

    @field_validator("forbidden", "required_on_close")
    @classmethod
    def _phrases(cls, value: list[str]) -> list[str]:
        phrases = [p.strip() for p in value]
        if any(not p for p in phrases):
            raise ValueError('must list non-empty phrases, e.g. ["不知道", "not my problem"]')
        return phrases


_AGENT_HOURS = re.compile(
    r"^(?:(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?"
    r"(?:,(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?)*\s+)?"
    r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
)
_TEAM_CATEGORIES = ("product_quality", "logistics", "returns", "payment", "service_attitude", "presale", "other")
"""ticketing/triage.py's categories (the kernel imports no domain: tests/test_presence.py holds the two equal)."""


class DeskSettings(_Section):
    convert_script: bool = True
    """An agent's reply to a customer who writes traditional Chinese is sent converted (OpenCC s2twp)."""
    quality: DeskQualitySettings = Field(default_factory=DeskQualitySettings)
    assignment: Literal["manual", "round_robin", "least_loaded"] = "least_loaded"
    """How a new ticket finds its agent (ticketing/assignment.py); manual: agents /claim, as before."""
    max_open: int = Field(default=5, ge=1, le=1000)
    """Open tickets (new, open, pending) an agent is given automatically at most; /claim and /assign may exceed it."""
    sticky_hours: int = Field(default=72, ge=0, le=24 * 90)
    """A returning customer goes first to the agent who served them within these hours, if online and under max_open."""
    idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """An online agent with no message in the agent group for this long is away."""
    nudge_seconds: int = Field(default=100, ge=10, le=24 * 3600)
    """A customer's message unanswered this long (business time) nudges its agent; twice as long, the supervisors."""
    teams: dict[str, list[str]] = Field(default_factory=dict)
    """Category → the @usernames of its agents: its tickets go to them only. A category with no team: any online agent."""
    hours: dict[str, str] = Field(default_factory=dict)
    """@username → the agent's own hours ("mon-fri 09:00-18:00", or "HH:MM-HH:MM" on the shop's workdays)."""

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for category, names in value.items():
            if category not in _TEAM_CATEGORIES:
                raise ValueError(f"names a category that does not exist ({category!r}): use one of {', '.join(_TEAM_CATEGORIES)}")
            if not names or any(not name.lstrip("@").strip() for name in names):
                raise ValueError(f'must list agents\' usernames for {category}, e.g. {category} = ["@wang", "@li"]')
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for name, hours in value.items():
            spec = " ".join(hours.lower().split())
            if not _AGENT_HOURS.match(spec) or spec[-11:-6] >= spec[-5:]:
                raise ValueError(f'for {name} must be like "mon-fri 09:00-18:00" or "09:00-18:00", the opening before the closing (not {hours!r})')
        return {name: " ".join(hours.lower().split()) for name, hours in value.items()}


class SchedulerSettings(_Section):
    timezone: str = "Asia/Shanghai"
    enabled: bool = True
    rate_per_second: float = Field(default=25, gt=0, le=1000)
    quiet_hours: str = "21:00-09:00"
    survey_delay_minutes: int = Field(default=10, ge=0)
    delivered_survey_hours: int = Field(default=24, ge=0)
    revisit_days: int = Field(default=7, ge=0)
    tick_seconds: float = Field(default=1, gt=0, le=60)
    servqual_sample: float = Field(default=0.0, ge=0, le=1)
    nps: bool = False
    greetings: list[str] = Field(
        default_factory=lambda: [
            "new_year", "spring_festival", "lantern", "dragon_boat", "qixi", "mid_autumn", "double_ninth",
            "national_day", "birthday",
        ]
    )
    shop_dates: list[dict[str, str]] = Field(default_factory=list)
    greeting_time: str = "10:00"

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value and not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", value):
            raise ValueError('must be "HH:MM-HH:MM", e.g. "21:00-09:00", or "" for none')
        return value

    @field_validator("greeting_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
            raise ValueError('must be "HH:MM", e.g. "10:00"')
        return value

    @field_validator("shop_dates")
    @classmethod
    def _shop_dates(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for item in value:
            if set(item) - {"name", "date"} or not _month_day(item.get("date", "")) or not item.get("name", "").strip():
                raise ValueError('each must be {name = "...", date = "MM-DD"} with a real day of the year, e.g. {name = "anniversary", date = "06-18"}')
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a time zone name such as Asia/Shanghai or Europe/Berlin") from None
        return value


def _month_day(value: str) -> bool:
    """"MM-DD" naming a day some year has (02-29 included)."""
    if not re.fullmatch(r"\d{2}-\d{2}", value):
        return False
    try:
        date(2000, int(value[:2]), int(value[3:]))
    except ValueError:
        return False
    return True


class ApiSettings(_Section):
    listen: str = "127.0.0.1:8080"
    token: SecretStr | None = None
    failed_attempts: int = Field(default=10, ge=0)
    failed_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    failed_clients_max: int = Field(default=10_000, ge=1, le=10_000_000)
    """Client addresses the refused-attempt counts remember at most (the oldest are forgotten)."""
    header_timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds a connection has to send a request's head (and then its body) before it is closed."""
    keepalive_timeout: float = Field(default=75.0, gt=0, le=3600)
    """Seconds an idle connection is kept open after an answer, for the client's next request."""
    max_connections: int = Field(default=900, ge=1, le=1_000_000)
    """Connections open at once; below the usual 1024 open files, leaving room for kefu's own."""

    @field_validator("token")
    @classmethod
    def _blank_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080")
        return value


class ReportsSettings(_Section):
    weekly: str = "mon 09:00"
    periods: int = Field(default=6, ge=2, le=52)
    conversion_days: int = Field(default=3, ge=1, le=90)
    """A pre-sale consultation converts when the customer orders within this many days of it."""

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str) -> str:
        if value and not re.match(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d$", value.strip().lower()):
            raise ValueError('must be a weekday and a time, e.g. "mon 09:00", or "" for no weekly report')
        return value.strip().lower()


class OrdersSettings(_Section):
    provider: Literal["local", "http"] = "local"
    notify_statuses: list[Literal["shipped", "out_for_delivery", "delivered"]] = Field(
        default_factory=lambda: ["shipped", "delivered"]
    )
    default_region: str = "CN"
    promised_days: int = Field(default=3, ge=1, le=60)
    """Delivery promised this many days after shipping, for orders without their own expected_delivery (the logistics report)."""
    webhook_secret: SecretStr | None = None
    legacy_signatures: bool = True
    url: str | None = Field(default=None, validate_default=True)
    phone_url: str | None = None
    auth_header: SecretStr | None = None
    auth_header_name: str = "Authorization"
    timeout: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)
    cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_cooldown: float = Field(default=30.0, gt=0, le=3600)
    max_response_bytes: int = Field(default=1_000_000, ge=1_000, le=100_000_000)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("is not a two-letter region code such as CN, TW, HK or US")
        return value.upper()

    @field_validator("webhook_secret", "auth_header")
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        stripped = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(stripped) if stripped else None

    @field_validator("webhook_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters long, e.g. from `openssl rand -hex 32`")
        return value

    @field_validator("auth_header_name")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9-]+$", value):
            raise ValueError("must be an HTTP header name such as Authorization or X-Api-Key")
        return value

    @field_validator("url")
    @classmethod
    def _order_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        if value is None and info.data.get("provider") == "http":
            raise ValueError('must be set when provider is "http", e.g. https://shop.example/api/orders/{order_no}')
        if value is not None and (not re.match(r"^https?://[^/\s]+", value) or "{order_no}" not in value):
            raise ValueError("must be an http:// or https:// URL containing {order_no}")
        return value

    @field_validator("phone_url")
    @classmethod
    def _phone_url(cls, value: str | None) -> str | None:
        value = value or None
        if value is not None and (not re.match(r"^https?://[^/\s]+", value) or "{phone}" not in value):
            raise ValueError("must be an http:// or https:// URL containing {phone}")
        return value


class SpamSettings(_Section):
    """Spam defence for new customers (ticketing/moderation.py, handlers/spam.py)."""

    first_contact: Literal["none", "button"] = "none"
    """button: a new customer presses "I'm not a robot" before anything they write reaches the
    agents or opens a ticket (what they wrote before is kept and handled after)."""
    block_patterns: list[str] = Field(default_factory=list)
    """Regular expressions (case-insensitive, anywhere in the text): a new customer's first
    message that matches one waits for a supervisor's allow or ban in the agent group."""

    @field_validator("block_patterns")
    @classmethod
    def _regular_expressions(cls, value: list[str]) -> list[str]:
        import regex  # the library the patterns are matched with (with a timeout)

        for pattern in value:
            try:
                regex.compile(pattern, regex.IGNORECASE)
            except regex.error as error:
                raise ValueError(f"has {pattern!r}, which is not a regular expression ({error})") from None
        return value


class PrivacySettings(_Section):
    keys: list[SecretStr] = Field(default_factory=list)

    @field_validator("keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        from bot.core.crypto import is_key

        keys = [SecretStr(k.get_secret_value().strip()) for k in value]
        if not all(is_key(k.get_secret_value()) for k in keys):
            raise ValueError("must be a JSON list of keys made by `kefu privacy new-key` (44 characters each)")
        return keys


class ConsoleSettings(_Section):
    """The console (bot/console/): web pages for agents and supervisors under /console/ of the
    ``[api] listen`` server, opened as a Telegram Mini App or through a one-time login link."""

    public_url: str = ""
    """The HTTPS address Telegram opens (e.g. https://kefu.shop.example, the reverse proxy in
    front of ``[api] listen``); "": links use the ``[api] listen`` address, and no menu button is set
    (Mini Apps need HTTPS)."""
    login_max_age: int = Field(default=86400, ge=60, le=30 * 86400)
    """Seconds a Mini App's initData may be old (its auth_date) when it signs in."""
    session_minutes: int = Field(default=480, ge=1, le=30 * 24 * 60)
    """Minutes a console session lasts from sign-in."""
    link_minutes: int = Field(default=10, ge=1, le=24 * 60)
    """Minutes a one-time login link (/console in the agent group) may be used in."""
    member_cache_seconds: int = Field(default=60, ge=0, le=3600)
    """Seconds the answer of getChatMember (is this person in the agent group?) is reused."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be the console's address, e.g. https://kefu.shop.example, or \"\"")
        return value.removesuffix("/console")

    def base_url(self, listen: str) -> str:
        """Where the console's links point: ``public_url``, else the ``[api] listen`` address."""
        return self.public_url or f"http://{listen}"

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")


_config_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    knowledge_base: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    tickets: TicketsSettings = Field(default_factory=TicketsSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    spam: SpamSettings = Field(default_factory=SpamSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

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
                example = "'[\"<a key from kefu privacy new-key>\"]'" if "SecretStr" in str(field.annotation) else "[111, 222]"
                return f"Setting {section.lower()}.{key.lower()} (env {name}) must be a JSON list, e.g. {example}; fix it in the environment."
    return "A KEFU_* environment variable holds a value that is not valid JSON; check the lists among them."


def _as_clause(message: str) -> str:
    """pydantic says "Input should be a valid integer"; we say "must be a valid integer"."""
    for prefix in ("Input should be ", "Input should "):
        if message.startswith(prefix):
            return "must be " + message.removeprefix(prefix) if prefix.endswith("be ") else "must " + message.removeprefix(prefix)
    return message[0].lower() + message[1:] if message else "is invalid"


def secrets_of(settings: BaseModel) -> list[str]:
    """Every secret value in the settings (tokens, webhook and feed secrets, privacy keys): what
    the logs must never show."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, SecretStr) and item.get_secret_value():
                found.append(item.get_secret_value())
            elif isinstance(item, BaseModel):
                found.extend(secrets_of(item))
    return found

