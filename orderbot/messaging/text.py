"""Plain-text and markdown rendering of replies (outside values escaped per dialect), and UTF-8-aware splitting
under a platform's byte limit."""

from __future__ import annotations

from collections.abc import Callable

from orderbot.messaging.reply import Reply, Table
from orderbot.messaging.markup import escape_wecom_markdown, marked, plain


def table_lines(table: Table, escape: Callable[[str], str] = plain) -> list[str]:
    """Chat markdown on WeCom has no tables: one line per row, the first column bold, the rest joined. Every
    cell is data, escaped with `escape`."""
    out = [" · ".join(escape(str(h)) for h in table.headers)]
    for row in table.rows:
        head, *rest = (escape(str(c)) for c in row)
        out.append(f"**{head}** · " + " · ".join(rest) if rest else f"**{head}**")
    return out


def reply_markdown(reply: Reply, escape: Callable[[str], str] = escape_wecom_markdown) -> str:
    """The reply as chat markdown, with every value from outside made inert by the dialect's `escape`
    (`messaging.markup`): all of a non-markdown reply's text, the `outside()` spans of a markdown one, and the
    title, table and card, which are data."""
    parts: list[str] = []
    if reply.title:
        parts.append(f"### {escape(reply.title)}")
    if reply.text:
        parts.append(marked(reply.text, escape) if reply.markdown else escape(reply.text))
    if reply.table:
        parts.append("\n".join(table_lines(reply.table, escape)))
    if reply.card:
        card = reply.card
        head = f"**{escape(card.title)}**" if card.title != reply.title else ""
        parts.append("\n".join(x for x in (head, escape(card.description)) if x))
        if card.fields:
            parts.append("\n".join(f"{escape(str(k))}：{escape(str(v))}" for k, v in card.fields))
    return "\n\n".join(parts)


def reply_plain(reply: Reply) -> str:
    """The markdown above without its marks, for text-only destinations (nothing to escape there)."""
    text = reply_markdown(reply, plain)
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
    reserve = len(b"(99/99)\n") if numbered else 0
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
