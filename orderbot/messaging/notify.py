"""Where group notifications go: the business config's groups that receive a topic, as outbox addresses."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig, GroupEntry
from orderbot.core import outbox
from orderbot.messaging.reply import Reply


# Where a pushed message cannot carry buttons: a group robot (消息推送) takes no interactive cards, an app-created
# group chat takes no template cards, and the AI bot may push only markdown into a group (cards 1:1 only).
BUTTONLESS = frozenset({"wecom_robot", "wecom_app", "wecom_aibot"})


def shows_buttons(group: GroupEntry) -> bool:
    """Whether an alert pushed to this group keeps its buttons (else its card also goes 1:1 to the owners)."""
    return group.platform not in BUTTONLESS


def group_address(key: str, group: GroupEntry) -> tuple[str, str] | None:
    if group.platform == "sandbox":
        return "sandbox", f"group:{key}"
    if group.platform == "wecom_app" and group.chat_id:
        return "wecom", f"chat:{group.chat_id}"
    if group.platform == "wecom_robot" and group.webhook_key:
        return "wecom_robot", f"robot:{group.webhook_key}"
    if group.platform == "wecom_aibot" and group.chat_id:
        return "wecom_aibot", f"chat:{group.chat_id}"
    if group.platform == "dingtalk" and group.chat_id:
        return "dingtalk", f"group:{group.chat_id}"
    return None


async def notify_groups(
    session: AsyncSession, config: BusinessConfig, topic: str, reply: Reply, *, now, dedupe_key: str | None = None
) -> int:
    """Queue the reply to every group that receives `topic`, in the caller's transaction."""
    sent = 0
    for key, group in config.groups.items():
        if topic not in group.receives:
            continue
        address = group_address(key, group)
        if address is None:
            continue
        await outbox.enqueue(
            session,
            channel=address[0],
            destination=address[1],
            kind="reply",
            payload=reply.to_dict(),
            now=now,
            dedupe_key=f"{dedupe_key}:{key}" if dedupe_key else None,
        )
        sent += 1
    return sent
