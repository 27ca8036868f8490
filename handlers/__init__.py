"""Telegram handlers: translate updates into calls on the services, and render the result."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import KefuApp, KefuContext
from bot.core import metrics
from bot.core.config import Settings
from handlers import (
    agent_help,
    answers,
    assigning,
    callbacks,
    campaigns,
    chat,
    common,
    contact,
    desk,
    errors,
    flood,
    kb_attach,
    kb_teach,
    language,
    media,
    orders,
    preferences,
    privacy,
    quality,
    reports,
    spam,
    start,
    surveys,
    tickets,
)
from handlers.agent_group import record_member, relay_from_agent
from handlers.callbacks import on_press

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


async def _count_update(update: Update, context: KefuContext) -> None:
    metrics.MESSAGES_IN.labels(update.effective_chat.type if update.effective_chat else "none").inc()


def register(app: KefuApp, settings: Settings) -> None:
    app.add_handler(TypeHandler(Update, _count_update), group=-101)
    # Spam and abuse: a banned, shadowbanned, held or unverified customer's update goes no further.
    app.add_handler(TypeHandler(Update, spam.gate), group=-100)
    app.add_handler(TypeHandler(Update, flood.slow_down), group=-99)
    # A customer who asked to be forgotten: only a message of their own is handled (handlers/common.py).
    app.add_handler(TypeHandler(Update, privacy.refuse_forgotten), group=-98)
    agent_chat = settings.telegram.agent_chat_id
    agent_group = filters.Chat(chat_id=agent_chat) if agent_chat is not None else filters.Chat(chat_id=[])

    app.add_handler(CommandHandler("start", start.start, filters=PRIVATE))
    app.add_handler(CommandHandler("help", start.help_command, filters=PRIVATE))
    app.add_handler(CommandHandler("lang", language.lang_command, filters=PRIVATE))
    app.add_handler(on_press(language.lang_button, callbacks.PickLanguage))
    app.add_handler(on_press(
        answers.button, callbacks.FeedbackUp, callbacks.FeedbackDown, callbacks.PickEntry, callbacks.FollowUp,
        callbacks.AskPerson,
    ))
    app.add_handler(CommandHandler("order", orders.order_command, filters=PRIVATE))
    app.add_handler(MessageHandler(PRIVATE & filters.CONTACT, orders.contact))
    app.add_handler(on_press(orders.button, callbacks.OrderDetails, callbacks.OrderProblem, callbacks.OrderPerson))
    # Four digits answer "the last 4 digits of the order's phone?" before anything else reads them.
    app.add_handler(MessageHandler(PRIVATE & filters.Regex(r"^\s*[0-9０-９]{4}\s*$"), orders.last4), group=-1)

    app.add_handler(CommandHandler("complaint", tickets.complaint_command, filters=PRIVATE))
    app.add_handler(CommandHandler("human", tickets.human_command, filters=PRIVATE))
    app.add_handler(CommandHandler("mytickets", tickets.my_tickets, filters=PRIVATE))
    app.add_handler(on_press(tickets.button, callbacks.TicketCategory, callbacks.TicketSolved))
    # While a ticket is worked, whatever the customer sends goes to its topic, before anything else.
    # (A contact too: the customer's own phone goes on to verify them, anyone else's to the topic.)
    customer_says = filters.ChatType.PRIVATE & ~filters.COMMAND & (
        filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    )
    app.add_handler(MessageHandler(customer_says, tickets.relay_from_customer), group=-2)

    for command, callback in {
        "unsubscribe": preferences.unsubscribe, "subscribe": preferences.subscribe,
        "birthday": preferences.birthday, "timezone": preferences.timezone,
    }.items():
        app.add_handler(CommandHandler(command, callback, filters=PRIVATE))
    app.add_handler(CommandHandler("forgetme", privacy.forgetme, filters=PRIVATE))
    app.add_handler(on_press(privacy.button, callbacks.ForgetMe, callbacks.KeepMyData))
    app.add_handler(on_press(surveys.button, callbacks.Stars, callbacks.SkipComment))
    app.add_handler(on_press(surveys.servqual_button, callbacks.Servqual))
    app.add_handler(on_press(surveys.nps_button, callbacks.NpsScore))
    # Right after rating a survey, the customer's next text is the comment, not a ticket message.
    app.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, surveys.comment), group=-3)

    # The agent group. Whoever writes there is recorded as an agent first (for /assign @name).
    app.add_handler(MessageHandler(agent_group & filters.UpdateType.MESSAGE, record_member), group=-3)
    # Presence (handlers/assigning.py): every message of an agent keeps them online.
    app.add_handler(MessageHandler(agent_group & filters.UpdateType.MESSAGE, assigning.agent_active), group=-4)
    for command, callback in {
        "online": assigning.online_command, "away": assigning.away_command, "offline": assigning.offline_command,
        "agents": assigning.agents_command,
    }.items():
        app.add_handler(CommandHandler(command, callback, filters=agent_group))
    for command, callback in {
        "note": desk.note_command, "close": desk.close_command, "claim": desk.claim_command,
        "assign": desk.assign_command, "priority": desk.priority_command, "pending": desk.pending_command,
        "resolve": desk.resolve_command, "reopen": desk.reopen_command, "customer": desk.customer_command,
        "snippet": desk.snippet_command, "snippets": desk.snippets_command, "tickets": desk.tickets_command,
        "ticket": desk.ticket_command,
    }.items():
        app.add_handler(CommandHandler(command, callback, filters=agent_group))
    app.add_handler(on_press(desk.card_button, callbacks.ClaimTicket, callbacks.SetPriority, callbacks.CloseTicket))
    app.add_handler(CommandHandler("campaign", campaigns.campaign_command, filters=agent_group))
    app.add_handler(CommandHandler("report", reports.report_command, filters=agent_group))
    app.add_handler(on_press(
        campaigns.button, callbacks.CampaignSegment, callbacks.CampaignTemplate, callbacks.SendCampaign,
        callbacks.CancelCampaign, callbacks.StopCampaign, callbacks.KeepCampaign,
    ))
    agent_text = agent_group & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(agent_text, campaigns.draft_text), group=-1)
    agent_says = agent_group & ~filters.COMMAND & filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL
    app.add_handler(MessageHandler(agent_says, relay_from_agent))
    # An album's parts wait for the rest (group -1, before the relay); edits and /delete reach the customer's copy.
    app.add_handler(MessageHandler(agent_says & media.IN_ALBUM, media.agent_album_part), group=-1)
    app.add_handler(MessageHandler(agent_group & filters.UpdateType.EDITED_MESSAGE & ~filters.COMMAND, media.agent_edited))
    app.add_handler(CommandHandler("delete", media.delete_command, filters=agent_group & filters.UpdateType.MESSAGE))
    # Quality inspection first (group -2, before a campaign draft and the relay): a message it stops goes no further.
    app.add_handler(MessageHandler(agent_says, quality.inspect), group=-2)
    agent_edits = agent_group & filters.UpdateType.EDITED_MESSAGE & ~filters.COMMAND
    app.add_handler(MessageHandler(agent_edits, quality.inspect_edit), group=-2)  # a stopped message edited clean goes
    app.add_handler(CommandHandler("send", quality.send_command, filters=agent_group))
    app.add_handler(CommandHandler("contact", contact.contact_command, filters=agent_group))
    app.add_handler(CommandHandler("help", agent_help.help_command, filters=agent_group))
    app.add_handler(CommandHandler("kb_missed", kb_teach.kb_missed, filters=agent_group))
    app.add_handler(CommandHandler("kb_add", kb_teach.kb_add, filters=agent_group))
    app.add_handler(CommandHandler("kb_learn", kb_teach.kb_learn, filters=agent_group))
    app.add_handler(on_press(kb_teach.kb_learn_button, callbacks.AcceptCandidate, callbacks.RejectCandidate))
    app.add_handler(on_press(kb_attach.attach_button, callbacks.AttachQuestion, callbacks.AttachAsNewEntry))
    for command, callback in {
        "ban": spam.ban_command, "shadowban": spam.shadowban_command, "unban": spam.unban_command,
    }.items():
        app.add_handler(CommandHandler(command, callback, filters=agent_group))
    app.add_handler(on_press(spam.not_a_robot, callbacks.NotARobot))
    app.add_handler(on_press(spam.held_button, callbacks.AllowHeld, callbacks.BanHeld))

    app.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, chat.message))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, chat.unknown_command))
    app.add_handler(MessageHandler(PRIVATE & ~filters.TEXT, chat.unsupported))
    # Last: a press that is none of kefu's buttons (handlers/callbacks.py) is still answered.
    app.add_handler(CallbackQueryHandler(common.unknown_button))
    app.add_error_handler(errors.error_handler)
