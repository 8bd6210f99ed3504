"""What handlers produce: a platform-neutral `Reply`. Channels render it within their own limits.

A reply is a value (frozen, JSON-serialisable through `to_dict`/`from_dict`) so it can sit in the outbox row
written in the same transaction as the change that caused it. `to_dict` carries chart images inline (base64);
the outbox stores them through `core/media` and keeps a reference (`{"title", "media": id}`), which the outbox
worker turns back into the image before a sender reads the payload (`messaging/worker.py`, `load_images`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    """A card button. `key` routes the click back: '<action>:<argument>' such as 'undo_freeze:tiktok'."""

    text: str
    key: str
    style: int = 1  # WeCom: 1 primary, 2 secondary, 3 warning, 4 danger


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    title: str
    png: bytes


@dataclass(frozen=True)
class Card:
    title: str
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    task_id: str | None = None  # unique per card; WeCom needs it for update_template_card


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/octet-stream"

    def to_dict(self) -> dict[str, str]:
        """The attachment in JSON (an outbox payload): its bytes as base64."""
        return {"filename": self.filename, "mime": self.mime, "content": base64.b64encode(self.content).decode()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attachment:
        return cls(d["filename"], base64.b64decode(d["content"]), d.get("mime", ""))


@dataclass(frozen=True)
class Reply:
    text: str = ""
    markdown: bool = False
    title: str = ""
    table: Table | None = None
    charts: tuple[Chart, ...] = ()
    card: Card | None = None
    mentions: tuple[str, ...] = ()  # platform user ids to @
    files: tuple[Attachment, ...] = ()
    digest_key: str | None = None  # similar notifications with the same key may be folded into one digest
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "markdown": self.markdown,
            "title": self.title,
            "table": {"headers": list(self.table.headers), "rows": [list(r) for r in self.table.rows]}
            if self.table
            else None,
            "charts": [{"title": c.title, "png": base64.b64encode(c.png).decode()} for c in self.charts],
            "card": {
                "title": self.card.title,
                "description": self.card.description,
                "fields": [list(f) for f in self.card.fields],
                "buttons": [{"text": b.text, "key": b.key, "style": b.style} for b in self.card.buttons],
                "task_id": self.card.task_id,
            }
            if self.card
            else None,
            "mentions": list(self.mentions),
            "files": [f.to_dict() for f in self.files],
            "digest_key": self.digest_key,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        t, c = d.get("table"), d.get("card")
        return cls(
            text=d.get("text", ""),
            markdown=d.get("markdown", False),
            title=d.get("title", ""),
            table=Table(tuple(t["headers"]), tuple(tuple(r) for r in t["rows"])) if t else None,
            charts=tuple(Chart(x["title"], _chart_png(x)) for x in d.get("charts", [])),
            card=Card(
                c["title"],
                c.get("description", ""),
                tuple(tuple(f) for f in c.get("fields", [])),
                tuple(Button(**b) for b in c.get("buttons", [])),
                c.get("task_id"),
            )
            if c
            else None,
            mentions=tuple(d.get("mentions", [])),
            files=tuple(Attachment.from_dict(f) for f in d.get("files", [])),
            digest_key=d.get("digest_key"),
            meta=d.get("meta", {}),
        )


def _chart_png(chart: dict[str, Any]) -> bytes:
    if "png" not in chart:  # a reference the outbox worker has not loaded: never send an empty picture
        raise ValueError(f"图表「{chart.get('title', '')}」的图片未载入（media {chart.get('media')}）")
    return base64.b64decode(chart["png"])
