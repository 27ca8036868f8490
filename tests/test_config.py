"""Settings: config.toml documents the defaults, the environment overrides, mistakes are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, Settings, TelegramSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_file_states_the_defaults() -> None:
    assert load_settings(ROOT / "config.toml") == Settings()


def test_environment_overrides_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_TELEGRAM__TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    monkeypatch.setenv("KEFU_TELEGRAM__BASE_URL", "http://127.0.0.1:8081/bot")
    monkeypatch.setenv("KEFU_TELEGRAM__AGENT_CHAT_ID", "-1001234567890")
    monkeypatch.setenv("KEFU_TELEGRAM__SUPERVISORS", "[111, 222]")
    monkeypatch.setenv("KEFU_DATABASE__URL", "postgres://kefu@db/kefu")
    monkeypatch.setenv("KEFU_KNOWLEDGE_BASE__FILES", '["shop.yaml", "faq.csv"]')
    monkeypatch.setenv("KEFU_SCHEDULER__TIMEZONE", "Asia/Taipei")
    settings = load_settings(ROOT / "config.toml")
    assert settings.telegram.token.get_secret_value() == "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert settings.telegram.agent_chat_id == -1001234567890
    assert settings.telegram.supervisors == [111, 222]
    assert settings.database.url == "postgres://kefu@db/kefu"
    assert settings.knowledge_base.files == ["shop.yaml", "faq.csv"]
    assert settings.scheduler.timezone == "Asia/Taipei"


def test_file_downloads_go_to_the_same_server_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_TELEGRAM__BASE_URL", "http://127.0.0.1:8081/bot")
    assert load_settings().telegram.file_url() == "http://127.0.0.1:8081/file/bot"
    assert TelegramSettings().file_url() == "https://api.telegram.org/file/bot"
    monkeypatch.setenv("KEFU_TELEGRAM__BASE_FILE_URL", "http://files.local/file/bot")
    assert load_settings().telegram.file_url() == "http://files.local/file/bot"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("KEFU_TELEGRAM__AGENT_CHAT_ID", "agents", "Setting telegram.agent_chat_id (env KEFU_TELEGRAM__AGENT_CHAT_ID) must be a valid integer"),
        ("KEFU_TELEGRAM__SUPERVISORS", "[1, two]", "Setting telegram.supervisors (env KEFU_TELEGRAM__SUPERVISORS) must be a JSON list"),
        ("KEFU_TELEGRAM__BASE_URL", "api.telegram.org", "telegram.base_url (env KEFU_TELEGRAM__BASE_URL) must be an http:// or https:// URL"),
        ("KEFU_SCHEDULER__TIMEZONE", "Mars/Olympus", "scheduler.timezone (env KEFU_SCHEDULER__TIMEZONE) is not a time zone name"),
        ("KEFU_DATABASE__URL", "mysql://x/y", "database.url (env KEFU_DATABASE__URL) must start with sqlite://"),
        ("KEFU_TELEGRAM__TOKEN", "not-a-token", "telegram.token (env KEFU_TELEGRAM__TOKEN) does not look like a bot token"),
        ("KEFU_TELEGRAM__POLLTIMEOUT", "3", "Unknown setting telegram.polltimeout"),
    ],
)
def test_a_wrong_value_is_explained_in_one_sentence_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, says: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert says in message
    assert "\n" not in message
    if "TOKEN" in key:
        assert value not in message


def test_a_broken_config_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("[telegram\nbase_url = 1\n")
    with pytest.raises(ConfigError, match=f"The config file {broken} is not valid TOML"):
        load_settings(broken)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
