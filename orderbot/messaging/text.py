"""Plain-text and markdown rendering of replies, and UTF-8-aware splitting under a platform's byte limit."""
from __future__ import annotations

from orderbot.bot.reply import Reply, Table


def table_lines(table: Table) -> list[str]:
    """Chat markdown on WeCom has no tables: one line per row, the first column bold, the rest joined."""
    out = [" · ".join(table.headers)]
    for row in table.rows:
        head, *rest = row
        out.append(f"**{head}** · " + " · ".join(rest) if rest else f"**{head}**")
    return out


def reply_markdown(reply: Reply) -> str:
    parts: list[str] = []
    if reply.title:
        parts.append(f"### {reply.title}")
    if reply.text:
        parts.append(reply.text)
    if reply.table:
        parts.append("\n".join(table_lines(reply.table)))
    if reply.card:
        card = reply.card
        head = f"**{card.title}**" if card.title != reply.title else ""
        parts.append("\n".join(x for x in (head, card.description) if x))
        if card.fields:
            parts.append("\n".join(f"{k}：{v}" for k, v in card.fields))
    return "\n\n".join(parts)


def reply_plain(reply: Reply) -> str:
    """The markdown above without its marks, for text-only destinations."""
    text = reply_markdown(reply)
    for mark in ("### ", "**"):
        text = text.replace(mark, "")
    return text


def _cut(line: str, limit: int) -> list[str]:
    """Cut one over-long line at character boundaries so that each piece fits `limit` bytes."""
    pieces, current, size = [], [], 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit and current:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    pieces.append("".join(current))
    return pieces


def split_utf8(text: str, limit: int, *, numbered: bool = True) -> list[str]:
    """Split at line boundaries so every part is at most `limit` bytes of UTF-8, numbering parts '(k/n)'.

    The numbering prefix is counted in the limit; a single line longer than a part is cut between characters.
    """
    if len(text.encode("utf-8")) <= limit:
        return [text]
    reserve = len("(99/99)\n".encode()) if numbered else 0
    budget = limit - reserve
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = _cut(line, budget) if len(line.encode("utf-8")) > budget else [line]
        for piece in pieces:
            n = len(piece.encode("utf-8")) + (1 if current else 0)
            if current and size + n > budget:
                parts.append("\n".join(current))
                current, size = [], 0
                n = len(piece.encode("utf-8"))
            current.append(piece)
            size += n
    if current:
        parts.append("\n".join(current))
    if numbered and len(parts) > 1:
        parts = [f"({i}/{len(parts)})\n{p}" for i, p in enumerate(parts, start=1)]
    return parts
