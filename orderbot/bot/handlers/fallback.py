"""Until the intents and handlers of the understanding issue land: acknowledge and say what is coming."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..inbound import CardAction, ChatMessage, EnterAgent, InboundEvent, ScanEvent
from ..reply import Reply


async def fallback_handler(event: InboundEvent, session: AsyncSession) -> Reply | None:
    if isinstance(event, ChatMessage):
        return Reply(text=f"收到：{event.text}\n我还在学习理解这类消息，稍后就能帮你查订单、看报表。")
    if isinstance(event, ScanEvent):
        return Reply(text=f"已收到扫码：{event.text}")
    if isinstance(event, CardAction):
        return Reply(text=f"已收到操作：{event.key}")
    if isinstance(event, EnterAgent):
        return None
    return None
