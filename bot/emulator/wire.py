"""The Bot API on the wire: request parameters in, ``{"ok": ...}`` envelopes out.

python-telegram-bot sends forms in which every value is a string; curl and other clients send
JSON with native types; files come as multipart parts. :class:`Params` reads all of them the
same way, so a method handler never cares how it was called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web

from .limits import JSON, ApiError, bad_request

dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


_JSON_PARAMS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "reply_parameters", "link_preview_options",
        "allowed_updates", "commands", "scope", "media", "results", "permissions", "message_ids",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id", "from_chat_id", "message_id", "message_thread_id", "reply_to_message_id",
        "user_id", "offset", "limit", "timeout", "duration", "icon_color", "cache_time",
        "max_connections", "width", "height",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "allow_sending_without_reply", "disable_web_page_preview", "has_spoiler",
        "show_caption_above_media", "disable_content_type_detection",
    }
)
_INT_RE = re.compile(r"-?\d+")


class Params:
    """Bot API parameters from the query string and a form, multipart or JSON body.

    PTB sends forms in which every value is a string: numbers as "42", booleans as
    "true", complex values JSON-encoded. A JSON body (curl) carries native types. The
    typed getters accept both, so ``get_str("text")`` stays "123" and
    ``get_int("chat_id")`` is 123 either way.
    """

    def __init__(self, values: Mapping[str, Any], uploads: Mapping[str, Upload] | None = None) -> None:
        self._values = dict(values)
        self._uploads = dict(uploads or {})

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._uploads

    def get_str(self, key: str) -> str | None:
        value = self._values.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return dumps(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        raise bad_request(f'field "{key}" must be a valid Number')

    def get_float(self, key: str, default: float = 0.0) -> float:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{key}" must be a valid Number') from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool | int):
            return bool(value)
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad_request(f'field "{key}" must be of type Boolean')

    def get_json(self, key: str) -> Any:
        value = self._values.get(key)
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {key} JSON object") from None

    def get_chat_id(self, key: str = "chat_id") -> int | str | None:
        """An integer chat id or an "@username"; None when absent."""
        value = self._values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        if _INT_RE.fullmatch(text):
            return int(text)
        raise bad_request("chat not found")

    def get_file(self, key: str) -> Upload | str | None:
        """An uploaded part, or a file_id/URL string; resolves "attach://name" references."""
        if key in self._uploads:
            return self._uploads[key]
        value = self.get_str(key)
        if value and value.startswith("attach://"):
            upload = self._uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return upload
        return value

    def logged(self) -> JSON:
        """The parameters with JSON, numbers and booleans decoded, for the call log."""
        result = {key: self._decoded(key, value) for key, value in self._values.items()}
        for key, upload in self._uploads.items():
            result[key] = {
                "filename": upload.filename, "content_type": upload.content_type, "size": len(upload.data),
            }
        return result

    @staticmethod
    def _decoded(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in _JSON_PARAMS:
            try:
                return json.loads(value)
            except ValueError:
                return value
        if key in _INT_PARAMS and _INT_RE.fullmatch(value.strip()):
            return int(value)
        if key in _BOOL_PARAMS and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value


async def read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method != "POST" or not request.body_exists:
        return Params(values)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON request body")
        values.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                uploads[key] = Upload(value.filename or key, value.content_type, value.file.read())
            else:
                values[key] = value
    return Params(values, uploads)


def ok_response(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result}, dumps=dumps)


def error_response(exc: ApiError) -> web.Response:
    body: JSON = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status, dumps=dumps)
