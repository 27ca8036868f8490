"""The Bot API methods the emulator answers, with Telegram's checks and error descriptions.

Only what a customer-service bot needs is emulated (messages, media, copies and forwards,
edits, callback answers, files, chats and members, forum topics, commands), but what is
emulated follows Telegram closely so failure paths can be tested offline. Behaviours bots trip
over: editMessageText without reply_markup removes the inline keyboard; in a forum topic, a
message that is not a reply has ``reply_to_message`` set to the topic's ``forum_topic_created``
service message; an edit that changes nothing is a 400 "message is not modified"; a blocked
user or a group the bot left is a 403. Method names match case-insensitively, as on Telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .limits import (
    ADMIN_STATUSES,
    BLOCKED,
    BOT_COMMAND_NAME_RE,
    CHAT_ACTIONS,
    CONTENT_KEYS,
    GENERAL_TOPIC_ID,
    JSON,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_DOWNLOAD_BYTES,
    MAX_MEDIA_GROUP,
    MAX_TEXT_LENGTH,
    MEDIA_KEYS,
    NOT_MODIFIED,
    PRIMARY_CONTENT_KEYS,
    TOPIC_ICON_COLORS,
    ApiError,
    bad_request,
)
from .markup import (
    EntityParseError,
    parse_formatted,
    utf16_len,
    validate_inline_keyboard,
)
from .records import ChatState, StoredFile, chat_member, compact, forward_origin, now
from .updates import Updates
from .wire import Params, Upload, dumps

ApiHandler = Callable[[Params], Any]


class BotApi(Updates):
    """The world as the bot sees it through the Bot API: one handler per method."""

    def _method_table(self) -> dict[str, tuple[str, ApiHandler]]:
        handlers: dict[str, ApiHandler] = {
            "getMe": self._get_me,
            "logOut": self._accept,
            "close": self._accept,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": partial(self._send_media, "photo"),
            "sendDocument": partial(self._send_media, "document"),
            "sendVoice": partial(self._send_media, "voice"),
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "copyMessages": self._copy_messages,
            "sendMediaGroup": self._send_media_group,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "createForumTopic": self._create_forum_topic,
            "editForumTopic": self._edit_forum_topic,
            "closeForumTopic": partial(self._set_topic_closed, True),
            "reopenForumTopic": partial(self._set_topic_closed, False),
            "deleteForumTopic": self._delete_forum_topic,
            # Accepted so bots configuring themselves at start-up don't fail; not modelled.
            "setMyDescription": self._accept,
            "setMyShortDescription": self._accept,
            "setMyName": self._accept,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
        }
        # Telegram matches method names case-insensitively.
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    def _accept(self, _params: Params) -> bool:
        return True

    def _get_me(self, _params: Params) -> JSON:
        return dict(self.bot_user)

    # commands

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        return dumps(scope, sort_keys=True), params.get_str("language_code") or ""

    def _set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not (isinstance(command, dict) and BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command")))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        cleaned = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands[self._commands_key(params)] = cleaned
        return True

    def _get_my_commands(self, params: Params) -> list[JSON]:
        return list(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: Params) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    # sending

    def _send_message(self, params: Params) -> JSON:
        text, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH, required=True)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        preview = params.get_json("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        return self._send(params, content)

    def _send_media(self, kind: str, params: Params) -> JSON:
        stored = self._input_file(params, kind)
        content: JSON = {kind: stored.payload(params.get_int("duration"))}
        content.update(self._caption(params))
        return self._send(params, content)

    def _caption(self, params: Params) -> JSON:
        caption, entities = self._formatted(params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        return compact({"caption": caption or None, "caption_entities": entities or None})

    def _send_chat_action(self, params: Params) -> bool:
        state = self._writable_chat(params)
        action = params.get_str("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread_id = self._bot_thread(state, params.get_int("message_thread_id"))
        event = compact({"chat_id": state.id, "action": action, "message_thread_id": thread_id})
        self._emit("chat_action", event)
        return True

    def _copy_message(self, params: Params) -> JSON:
        source = self._source_message(params, "copy")
        content = self._copyable(source)
        if content is None:
            raise bad_request("message can't be copied")
        if "caption" in params and any(key in content for key in MEDIA_KEYS):
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(params))
        return {"message_id": self._send(params, content)["message_id"]}

    def _copyable(self, source: JSON) -> JSON | None:
        """What a copy of ``source`` holds, or None when Telegram copies no such message (a service
        message; a quiz poll whose correct option the bot does not know)."""
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not PRIMARY_CONTENT_KEYS.intersection(content):
            return None
        poll = content.get("poll")
        if poll is not None:
            if poll.get("type") == "quiz" and poll.get("correct_option_id") is None and not poll.get("correct_option_ids"):
                return None
            content["poll"] = {**poll, "id": str(next(self._poll_ids)), "total_voter_count": 0,
                               "options": [{**o, "voter_count": 0} for o in poll.get("options", [])]}
        return content

    def _copy_messages(self, params: Params) -> list[JSON]:
        """copyMessages: 1–100 ids in strictly increasing order; those not found or not copyable are
        skipped; parts of one album stay one album (a new media_group_id in the target chat)."""
        source_chat = self._resolve_chat(params.get_chat_id("from_chat_id"))
        ids = params.get_json("message_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise bad_request("message identifiers are not specified")
        if len(ids) > 100:
            raise bad_request("too many messages to copy")
        if any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
            raise bad_request("message identifiers must be in strictly increasing order")
        remove_caption = params.get_bool("remove_caption")
        groups: dict[str, str] = {}
        copied: list[JSON] = []
        for message_id in ids:
            source = source_chat.messages.get(message_id)
            content = self._copyable(source) if source is not None else None
            if content is None:
                continue
            if remove_caption:
                content.pop("caption", None)
                content.pop("caption_entities", None)
            if group := source.get("media_group_id"):
                content["media_group_id"] = groups.setdefault(group, str(next(self._media_group_ids)))
            copied.append({"message_id": self._send(params, content)["message_id"]})
        if not copied:
            raise bad_request("there are no messages to copy")
        return copied

    def _send_media_group(self, params: Params) -> list[JSON]:
        """sendMediaGroup: 2–10 photos and videos, or documents, or audios, as one album."""
        media = params.get_json("media")
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= MAX_MEDIA_GROUP:
            raise bad_request("wrong number of media in the group: from 2 to 10 are allowed")
        kinds = [item.get("type") for item in media]
        if any(kind not in ("photo", "video", "document", "audio") for kind in kinds):
            raise bad_request("can't parse InputMedia: media type is not supported in a media group")
        for lone in ("document", "audio"):
            if lone in kinds and any(kind != lone for kind in kinds):
                raise bad_request(f"{lone} can't be mixed with other media types")
        self._writable_chat(params)  # refused as a whole before anything is sent
        contents = []
        for number, (kind, item) in enumerate(zip(kinds, media, strict=True), start=1):
            try:
                stored = self._media_file(params, kind, item.get("media"))
                caption = self._caption(Params({**item, "caption": item.get("caption")}))
            except ApiError as exc:
                reason = exc.description.removeprefix("Bad Request: ")
                raise bad_request(f'failed to send message #{number} with the error message "{reason}"') from None
            contents.append({kind: stored.payload(), **caption})
        group = str(next(self._media_group_ids))
        return [self._send(params, {**content, "media_group_id": group}) for content in contents]

    def _media_file(self, params: Params, kind: str, media: object) -> StoredFile:
        """An InputMedia's file: a file_id of that kind, or ``attach://<name>`` of an uploaded part."""
        if isinstance(media, str) and media.startswith("attach://"):
            upload = params.get_file(media.removeprefix("attach://"))
            if not isinstance(upload, Upload):
                raise bad_request("media not found")
            return self._store_file(kind if kind in ("photo", "document") else "document", upload.data,
                                    file_name=upload.filename, mime_type=upload.content_type)
        stored = self.files.get(media) if isinstance(media, str) else None
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
        return stored

    def _forward_message(self, params: Params) -> JSON:
        source = self._source_message(params, "forward")
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not PRIMARY_CONTENT_KEYS.intersection(content):
            raise bad_request("message can't be forwarded")
        return self._send(params, {"forward_origin": forward_origin(source), **content})

    def _source_message(self, params: Params, verb: str) -> JSON:
        source_chat = self._resolve_chat(params.get_chat_id("from_chat_id"))
        message = source_chat.messages.get(self._message_id(params))
        if message is None:
            raise bad_request(f"message to {verb} not found")
        return message

    def _send(self, params: Params, content: JSON) -> JSON:
        """Validate placement and markup, then store ``content`` as a new bot message."""
        state = self._writable_chat(params)
        reply_to = self._reply_target(state, params)
        thread_id = params.get_int("message_thread_id")
        if thread_id is None and reply_to is not None:
            thread_id = reply_to.get("message_thread_id")
        thread_id = self._bot_thread(state, thread_id)
        inline, keyboard = self._reply_markup(params)
        if inline is not None:
            content["reply_markup"] = inline
        message = self._append_message(state, self._sender, content, thread_id, reply_to)
        self._track_keyboard(state.id, keyboard)
        self._record_bot_message(state, message, keyboard)
        return dict(message)

    # resolving chats, threads, replies, markup and files

    def _resolve_chat(self, ref: int | str | None) -> ChatState:
        if ref is None:
            raise bad_request("chat_id is empty")
        chat_id = self._usernames.get(ref[1:].lower()) if isinstance(ref, str) else ref
        state = self._chats.get(chat_id) if chat_id is not None else None
        if state is None:
            raise bad_request("chat not found")
        return state

    def _writable_chat(self, params: Params) -> ChatState:
        """The target chat, checking the bot may still write there."""
        state = self._resolve_chat(params.get_chat_id())
        if state.is_private and state.id in self._blocked:
            raise ApiError(403, BLOCKED)
        status = state.members.get(self.bot_id, "left")
        if status == "kicked":
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        if status == "left":
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return state

    def _bot_thread(self, state: ChatState, thread_id: int | None) -> int | None:
        if thread_id is None or not state.is_forum or thread_id == GENERAL_TOPIC_ID:
            return None
        topic = self.topics.get(state.id, {}).get(thread_id)
        if topic is None or topic["deleted"]:
            raise bad_request("message thread not found")
        return thread_id

    def _reply_target(self, state: ChatState, params: Params) -> JSON | None:
        reply = params.get_json("reply_parameters") or {}
        if not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = reply.get("message_id", params.get_int("reply_to_message_id"))
        if message_id is None:
            return None
        reply_chat = Params(reply).get_chat_id()
        if reply_chat is not None and self._resolve_chat(reply_chat).id != state.id:
            raise bad_request("replies to messages in other chats are not supported by the emulator")
        target = state.messages.get(int(message_id))
        allow_missing = reply.get(
            "allow_sending_without_reply", params.get_bool("allow_sending_without_reply")
        )
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    def _reply_markup(self, params: Params) -> tuple[JSON | None, JSON | None]:
        """(inline keyboard, other reply markup); Telegram echoes only the inline one."""
        markup = params.get_json("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            validate_inline_keyboard(markup)
            return (markup if markup["inline_keyboard"] else None), None
        if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            return None, markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _inline_markup(self, params: Params) -> JSON | None:
        inline, other = self._reply_markup(params)
        if other is not None:
            raise bad_request("inline keyboard expected")
        return inline

    def _formatted(
        self, params: Params, text_key: str, entities_key: str, limit: int, *, required: bool = False
    ) -> tuple[str, list[JSON]]:
        raw = params.get_str(text_key)
        if raw is None:
            if required:
                raise bad_request("message text is empty")
            return "", []
        entities = params.get_json(entities_key)
        if entities is not None:
            if not isinstance(entities, list) or not all(isinstance(entity, dict) for entity in entities):
                raise bad_request(f"can't parse {entities_key} JSON object")
            text = raw
        elif parse_mode := params.get_str("parse_mode"):
            text, entities = self._parse(raw, parse_mode)
        else:
            text, entities = raw, []
        if required and not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request("message is too long" if text_key == "text" else "message caption is too long")
        return text, entities

    def _parse(self, text: str, parse_mode: str) -> tuple[str, list[JSON]]:
        try:
            return parse_formatted(text, parse_mode, self._users)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        except ValueError:
            raise bad_request("unsupported parse_mode") from None

    def _message_id(self, params: Params) -> int:
        message_id = params.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return message_id

    def _input_file(self, params: Params, kind: str) -> StoredFile:
        value = params.get_file(kind)
        if value is None or value == "":
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, Upload):
            return self._store_file(kind, value.data, file_name=value.filename, mime_type=value.content_type)
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
        return stored

    # editing and deleting

    def _bot_message(self, params: Params, missing: str) -> tuple[ChatState, JSON]:
        if params.get_str("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the emulator has no inline mode
        state = self._writable_chat(params)
        message = state.messages.get(self._message_id(params))
        if message is None:
            raise bad_request(missing)
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return state, message

    def _edit_message_text(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH, required=True)
        changes = {"text": text, "entities": entities or None, "reply_markup": self._inline_markup(params)}
        preview = params.get_json("link_preview_options")
        if isinstance(preview, dict) and preview:
            changes["link_preview_options"] = preview
        return self._apply_edit(message, changes)

    def _edit_message_caption(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        if not any(key in message for key in MEDIA_KEYS):
            raise bad_request("there is no caption in the message to edit")
        caption = self._caption(params)
        changes = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
            "reply_markup": self._inline_markup(params),
        }
        return self._apply_edit(message, changes)

    def _edit_message_reply_markup(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        return self._apply_edit(message, {"reply_markup": self._inline_markup(params)})

    def _apply_edit(self, message: JSON, changes: JSON) -> JSON:
        """Apply top-level changes (None removes a field) in place, so every view sees them."""
        if all(message.get(key) == value for key, value in changes.items()):
            raise bad_request(NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = now()
        record = self._record_index.get((message["chat"]["id"], message["message_id"]))
        self._emit("edit", record.view() if record else dict(message))
        return dict(message)

    def _delete_message(self, params: Params) -> bool:
        state = self._resolve_chat(params.get_chat_id())
        message_id = self._message_id(params)
        if state.remove(message_id) is None:
            raise bad_request("message to delete not found")
        self._mark_deleted(state.id, message_id)
        self._emit("delete", {"chat_id": state.id, "message_id": message_id})
        return True

    def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id")
        if query_id not in self._open_callbacks:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(params.get_str("text") or "") > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        answer = params.logged()
        self.callback_answers.append(answer)
        self._emit("callback_answer", dict(answer))
        return True

    # files and chats

    def _get_file(self, params: Params) -> JSON:
        stored = self.files.get(params.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.file_info()

    def _get_chat(self, params: Params) -> JSON:
        state = self._resolve_chat(params.get_chat_id())
        gifts = (
            "unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels",
        )
        info: JSON = {
            **state.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }
        if not state.is_private:
            info["permissions"] = {"can_send_messages": True, "can_manage_topics": False}
        return info

    def _get_chat_member(self, params: Params) -> JSON:
        state = self._resolve_chat(params.get_chat_id())
        user_id = params.get_int("user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        if user_id == self.bot_id:
            user = self._sender
        else:
            placeholder = {"id": user_id, "is_bot": False, "first_name": "Deleted Account"}
            user = self._users.get(user_id, placeholder)
        return chat_member(user, state.members.get(user_id, "left"))

    # the menu button of a private chat (a Mini App's, kefu's console)

    def _set_chat_menu_button(self, params: Params) -> bool:
        chat_id = params.get_chat_id()
        if chat_id is not None and not self._resolve_chat(chat_id).is_private:
            raise bad_request("chat_id must be a private chat")
        button = params.get_json("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise bad_request("can't parse menu button JSON object")
        if button["type"] == "web_app":
            url = str((button.get("web_app") or {}).get("url", ""))
            if not url.startswith("https://") or not button.get("text"):
                raise bad_request("BUTTON_URL_INVALID")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    def _get_chat_menu_button(self, params: Params) -> JSON:
        chat_id = params.get_chat_id()
        return self.menu_buttons.get(chat_id if isinstance(chat_id, int) else None) or {"type": "default"}

    # forum topics

    def _forum(self, params: Params) -> ChatState:
        state = self._writable_chat(params)
        if not state.is_forum:
            raise bad_request("the chat is not a forum")
        if state.members.get(self.bot_id) not in ADMIN_STATUSES:
            raise bad_request("not enough rights to manage topics")
        return state

    def _topic(self, state: ChatState, params: Params) -> tuple[int, JSON]:
        thread_id = params.get_int("message_thread_id")
        topic = self.topics.get(state.id, {}).get(thread_id or 0)
        if thread_id is None or topic is None or topic["deleted"]:
            raise bad_request("TOPIC_ID_INVALID")
        return thread_id, topic

    def _create_forum_topic(self, params: Params) -> JSON:
        state = self._forum(params)
        name = params.get_str("name") or ""
        if not name.strip():
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        icon_color = params.get_int("icon_color", TOPIC_ICON_COLORS[0])
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        emoji_id = params.get_str("icon_custom_emoji_id") or None
        created = compact({"name": name, "icon_color": icon_color, "icon_custom_emoji_id": emoji_id})
        thread_id = state.last_message_id + 1  # a topic's id is the id of its creation message
        self.topics.setdefault(state.id, {})[thread_id] = {**created, "closed": False, "deleted": False}
        self._append_message(state, self._sender, {"forum_topic_created": created}, thread_id, None)
        self._emit_topic(state.id, thread_id, "created")
        return {"message_thread_id": thread_id, **created}

    def _edit_forum_topic(self, params: Params) -> bool:
        state = self._forum(params)
        thread_id, topic = self._topic(state, params)
        changes = compact(
            {
                "name": params.get_str("name") or None,
                "icon_custom_emoji_id": params.get_str("icon_custom_emoji_id"),
            }
        )
        if all(topic.get(key) == value for key, value in changes.items()):
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.update(changes)
        self._append_message(state, self._sender, {"forum_topic_edited": changes}, thread_id, None)
        self._emit_topic(state.id, thread_id, "edited")
        return True

    def _set_topic_closed(self, closed: bool, params: Params) -> bool:
        state = self._forum(params)
        thread_id, topic = self._topic(state, params)
        if topic["closed"] == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        service = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._append_message(state, self._sender, {service: {}}, thread_id, None)
        self._emit_topic(state.id, thread_id, "closed" if closed else "reopened")
        return True

    def _delete_forum_topic(self, params: Params) -> bool:
        state = self._forum(params)
        thread_id, _ = self._topic(state, params)
        self.delete_topic(state.id, thread_id)
        return True
