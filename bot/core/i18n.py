"""Message catalogs: every text a customer sees, in zh-Hans, zh-Hant and English.

Catalogs are TOML files in ``bot/core/locales`` (``en.toml``, ``zh-Hans.toml``, ``zh-Hant.toml``),
one key per text, ``{placeholders}`` filled by :func:`text`. A shop edits them in place. A surface
with many texts of its own (the console's pages) keeps them in a folder per language beside them
(``locales/en/console.toml`` …), read as part of that language's catalog; a key given twice is an error.
"""

from __future__ import annotations

import html
import logging
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from bot.core.language import DEFAULT_LANGUAGE, LANGUAGES, Language

log = logging.getLogger(__name__)
LOCALES = Path(__file__).with_name("locales")

LANGUAGE_NAMES: dict[Language, str] = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}


@cache
def catalog(language: Language) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in [LOCALES / f"{language}.toml", *sorted((LOCALES / language).glob("*.toml"))]:
        with path.open("rb") as file:
            part = tomllib.load(file)
        if twice := texts.keys() & part.keys():
            raise ValueError(f"{path.name} gives again the texts {sorted(twice)} of the {language} catalog")
        texts.update({key: value.strip("\n") for key, value in part.items()})
    return texts


def text(language: Language | str, key: str, **params: Any) -> str:
    """The text ``key`` in ``language`` (English if that catalog lacks it), placeholders filled."""
    return _template(language, key).format_map(_Params(params))


class Markup(str):
    """HTML that :func:`html_text` puts in as it is."""


def html_text(language: Language | str, key: str, **params: Any) -> str:
    """:func:`text` for ``parse_mode="HTML"``: the catalog's own words and every value are escaped
    (a customer named ``<b>&`` shows as typed), except values wrapped in :class:`Markup`."""
    values = {k: v if isinstance(v, Markup) else html.escape(str(v), quote=False) for k, v in params.items()}
    return html.escape(_template(language, key), quote=False).format_map(_Params(values))


def _template(language: Language | str, key: str) -> str:
    lang: Language = language if language in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[assignment]
    template = catalog(lang).get(key)
    if template is None:
        log.warning("catalog %s has no text %r; using English", lang, key)
        template = catalog(DEFAULT_LANGUAGE)[key]
    return template


class _Params(dict[str, Any]):
    """A placeholder the code does not fill (a typo in an edited catalog) renders empty, not a crash."""

    def __missing__(self, key: str) -> str:
        log.warning("catalog text has an unknown placeholder {%s}", key)
        return ""
