"""The [orders] settings (and [api] token): overridable from the environment, mistakes named in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "0123456789abcdef0123456789abcdef"


def test_the_environment_overrides_every_orders_key(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "PROVIDER": "http", "DEFAULT_REGION": "tw", "WEBHOOK_SECRET": f"  {SECRET}  ",
        "URL": "https://shop.example/api/orders/{order_no}", "PHONE_URL": "https://shop.example/api/orders?phone={phone}",
        "AUTH_HEADER": "Bearer k", "AUTH_HEADER_NAME": "X-Api-Key", "TIMEOUT": "2.5", "RETRIES": "0",
        "CACHE_SECONDS": "0", "BREAKER_FAILURES": "3", "BREAKER_COOLDOWN": "60",
    }
    for key, value in values.items():
        monkeypatch.setenv(f"KEFU_ORDERS__{key}", value)
    monkeypatch.setenv("KEFU_API__TOKEN", "api-token")
    settings = load_settings(ROOT / "config.toml")
    orders = settings.orders
    assert orders.webhook_secret and orders.auth_header and settings.api.token
    assert (orders.provider, orders.default_region, orders.webhook_secret.get_secret_value()) == ("http", "TW", SECRET)
    assert orders.url == values["URL"] and orders.phone_url == values["PHONE_URL"]
    assert (orders.auth_header.get_secret_value(), orders.auth_header_name) == ("Bearer k", "X-Api-Key")
    assert (orders.timeout, orders.retries, orders.cache_seconds) == (2.5, 0, 0)
    assert (orders.breaker_failures, orders.breaker_cooldown) == (3, 60)
    assert settings.api.token.get_secret_value() == "api-token"
    assert SECRET not in repr(settings) and "api-token" not in repr(settings)


def test_by_default_orders_are_local_and_the_feed_is_off() -> None:
    orders = load_settings(ROOT / "config.toml").orders
    assert orders.provider == "local" and orders.webhook_secret is None and orders.default_region == "CN"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"KEFU_ORDERS__PROVIDER": "http"}, "Setting orders.url (env KEFU_ORDERS__URL) must be set when provider is \"http\""),
        ({"KEFU_ORDERS__URL": "https://shop.example/api/orders"}, "orders.url (env KEFU_ORDERS__URL) must be an http:// or https:// URL containing {order_no}"),
        ({"KEFU_ORDERS__PHONE_URL": "shop.example/{phone}"}, "orders.phone_url (env KEFU_ORDERS__PHONE_URL) must be an http"),
        ({"KEFU_ORDERS__DEFAULT_REGION": "China"}, "orders.default_region (env KEFU_ORDERS__DEFAULT_REGION) is not a two-letter region code"),
        ({"KEFU_ORDERS__WEBHOOK_SECRET": "short"}, "orders.webhook_secret (env KEFU_ORDERS__WEBHOOK_SECRET) must be at least 16 characters"),
        ({"KEFU_ORDERS__AUTH_HEADER_NAME": "X Api Key:"}, "orders.auth_header_name (env KEFU_ORDERS__AUTH_HEADER_NAME) must be an HTTP header name"),
        ({"KEFU_ORDERS__TIMEOUT": "0"}, "orders.timeout (env KEFU_ORDERS__TIMEOUT) must be greater than 0"),
        ({"KEFU_ORDERS__PROVIDER": "shopify"}, "orders.provider (env KEFU_ORDERS__PROVIDER) must be 'local' or 'http'"),
    ],
)
def test_a_wrong_orders_setting_is_explained_in_one_sentence(monkeypatch: pytest.MonkeyPatch, env: dict, says: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert says in str(error.value) and "\n" not in str(error.value)
    assert "short" not in str(error.value)  # a secret is never repeated
