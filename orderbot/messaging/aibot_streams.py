"""Open streams and sent cards of the WeCom AI bot in callback mode, shared by the door and the sender.

In callback mode an answer that is not ready when WeCom's request is answered goes back as an unfinished
`stream`; WeCom then polls for it (about once a second, for at most 6 minutes from the message). The outbox
sender puts the finished answer here, and counts it delivered only once a poll has carried it out; otherwise
it falls back to the message's `response_url`. Cards are remembered by task id so a click can update the card
as it was sent. Both live in memory: after a restart an open stream is closed at its next poll and the answer
goes through `response_url`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field

STREAM_WINDOW = 330.0  # seconds: WeCom polls for 6 min after the message; keep a margin for the fallback
PLACEHOLDER = "⏳ 正在查询，请稍候…"
MAX_CARDS = 5000


@dataclass
class _Stream:
    opened: float
    body: dict | None = None  # the finished stream body, once the answer is in
    taken: asyncio.Future | None = None  # resolved when a poll has carried the finished body out
    extra: dict = field(default_factory=dict)  # e.g. a template_card sent with the finished stream
    feedback: str | None = None  # the answer's feedback id (WeCom honours it on the first frame only)


class StreamStore:
    def __init__(self, clock=time.monotonic, window: float = STREAM_WINDOW):
        self.clock, self.window = clock, window
        self._streams: dict[str, _Stream] = {}
        self.cards: OrderedDict[str, dict] = OrderedDict()

    def open(self, sid: str, feedback: str | None = None) -> None:
        self._prune()
        self._streams.setdefault(sid, _Stream(self.clock(), feedback=feedback))

    def live(self, sid: str) -> bool:
        s = self._streams.get(sid)
        return s is not None and self.clock() - s.opened < self.window and (s.taken is None or not s.taken.done())

    def finish(self, sid: str, body: dict, extra: dict | None = None, *, delivered: bool = False) -> asyncio.Future:
        """Put the finished answer in; the future resolves once a poll has taken it (at once if `delivered`,
        i.e. it already went back in a response)."""
        s = self._streams.setdefault(sid, _Stream(self.clock()))
        s.body, s.extra = body, extra or {}
        if s.taken is None or s.taken.done():
            s.taken = asyncio.get_running_loop().create_future()
        if delivered:
            s.taken.set_result(True)
        return s.taken

    def poll(self, sid: str) -> dict:
        """The reply to a stream poll: the finished body (then it counts as delivered), the placeholder while
        the answer is being made, or a closing frame for a stream we do not know (after a restart)."""
        s = self._streams.get(sid)
        if s is None:
            return {"msgtype": "stream", "stream": {"id": sid, "finish": True, "content": "（这条回答稍后单独发送）"}}
        rated = {"feedback": {"id": s.feedback}} if s.feedback else {}
        if s.body is None:
            waited = int(self.clock() - s.opened)
            content = PLACEHOLDER + (f"（已用 {waited} 秒）" if waited >= 3 else "")
            return {"msgtype": "stream", "stream": {"id": sid, "finish": False, "content": content, **rated}}
        if s.taken is not None and not s.taken.done():
            s.taken.set_result(True)
        if s.extra:
            return {"msgtype": "stream_with_template_card", "stream": {**s.body, **rated}, **s.extra}
        return {"msgtype": "stream", "stream": {**s.body, **rated}}

    def remember_card(self, task_id: str, card: dict) -> None:
        self.cards[task_id] = card
        self.cards.move_to_end(task_id)
        while len(self.cards) > MAX_CARDS:
            self.cards.popitem(last=False)

    def _prune(self) -> None:
        horizon = self.clock() - 2 * self.window
        for sid in [k for k, s in self._streams.items() if s.opened < horizon]:
            del self._streams[sid]
