"""What Telegram allows and how it says no: the limits, names and error texts of the Bot API.

Every other module of the emulator checks against these, so a limit lives in one place and
reads like Telegram's documentation; :class:`ApiError` is how a refusal travels back to the
client as ``{"ok": false, "error_code": ..., "description": ...}``.
"""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_MEDIA_GROUP = 10
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_REQUEST_BYTES = 64 * 1024 * 1024
GENERAL_TOPIC_ID = 1
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
PHOTO_SIZE = (100, 100)
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)
UPDATE_TYPES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages",
        "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
        "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
        "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
        "removed_chat_boost",
    }
)
# Telegram's default when allowed_updates was never set (or set to []).
DEFAULT_ALLOWED_UPDATES = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
MEDIA_KEYS = ("photo", "document", "voice", "audio", "video", "animation")
# Top-level message fields that make up its content (what copy/forward carry over).
CONTENT_KEYS = (
    "text", "entities", "link_preview_options", "caption", "caption_entities", "contact",
    "location", "venue", "sticker", "video_note", "dice", "poll", *MEDIA_KEYS,
)
PRIMARY_CONTENT_KEYS = frozenset(CONTENT_KEYS) - {
    "entities", "link_preview_options", "caption", "caption_entities",
}
INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
FILE_KINDS = {  # kind -> (file_path directory, default extension, default MIME type)
    "photo": ("photos", ".jpg", "image/jpeg"),
    "document": ("documents", "", "application/octet-stream"),
    "voice": ("voice", ".oga", "audio/ogg"),
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WEBHOOK_TIMEOUT = 30.0
WEBHOOK_FIRST_PAUSE = 0.05
WEBHOOK_LONGEST_PAUSE = 2.0


class ApiError(Exception):
    """A Bot API error, rendered as ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")
