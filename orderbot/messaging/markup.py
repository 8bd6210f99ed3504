"""Values from outside in the bot's own markup: one escaping function per dialect.

Shoppers, shops, carriers and imported files write text the bot repeats (order notes, customer names, SKU names,
channel order ids, tracking statuses, carrier messages). In WeCom or DingTalk markdown such text could become a
link ("[领取退款](http://…)"), a heading, a `<font>`, a mention (`<@all>`, `@all`) or, on DingTalk, a button
(`dtmd://` links send a command as whoever taps them). Each dialect's function below makes a value inert by
replacing the characters that carry markup with their full-width forms (［ ］ ＜ ＞ ＃ ＊ ｀ ＠ ｜ ～), which read
naturally in Chinese, and by breaking `://` so no URL is clickable.

How values reach the renderer: a `Reply` that is not `markdown` is data through and through, and
`messaging.text.reply_markdown` escapes all of it (title, text, table, card). A `markdown` reply's text mixes the
handler's own `**bold**` with data: the handler wraps each outside value in `outside()`, which brackets it with
two invisible marker characters, and the renderer escapes exactly the bracketed spans. Plain-text renderers
(`plain`) only drop the markers; the sandbox draws with `textContent`, so `escape_html` is for HTML output.
"""

from __future__ import annotations

import html
import re

OPEN, CLOSE = "\u2063", "\u2064"  # INVISIBLE SEPARATOR, INVISIBLE PLUS: zero-width where a renderer ignores them
_MARKERS = str.maketrans("", "", OPEN + CLOSE)
_SPAN = re.compile(f"{OPEN}([^{OPEN}{CLOSE}]*){CLOSE}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Characters that start markup in WeCom's markdown (links, headings, bold, code, quotes, <font>, <@userid>).
_WECOM = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "#": "＃", "*": "＊", "`": "｀", "@": "＠"})
# DingTalk's markdown adds images (![x](…)), tables (|), strikethrough (~) and dtmd:// action links.
_DINGTALK = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "#": "＃",
        "*": "＊",
        "`": "｀",
        "@": "＠",
        "|": "｜",
        "~": "～",
        "!": "！",
    }
)


def outside(value: object) -> str:
    """Mark a value that came from outside, for a `markdown` reply's text. Markers inside the value are removed
    first, so a value cannot close its own span early."""
    return f"{OPEN}{str(value).translate(_MARKERS)}{CLOSE}"


def plain(text: str) -> str:
    """Text for destinations without markup (text messages, email, template card fields): markers dropped."""
    return _CONTROL.sub("", text.translate(_MARKERS))


def _inert_urls(text: str) -> str:
    return text.replace("://", "：//")


def escape_wecom_markdown(text: str) -> str:
    """A value made inert in WeCom markdown (app messages and group robots)."""
    return _inert_urls(plain(text).translate(_WECOM))


def escape_dingtalk_markdown(text: str) -> str:
    """A value made inert in DingTalk markdown (session webhooks and the robot OpenAPI)."""
    return _inert_urls(plain(text).translate(_DINGTALK))


def escape_card_text(text: str) -> str:
    """A value for a WeCom template card's text fields, which show text as is: markers and control characters
    dropped, lines joined (a field is one line)."""
    return " ".join(plain(text).split("\n"))


def escape_html(text: str) -> str:
    """A value for HTML (attribute-safe)."""
    return html.escape(plain(text), quote=True)


def marked(text: str, escape) -> str:
    """A `markdown` text with each `outside()` span escaped by `escape` and stray markers dropped."""
    return _SPAN.sub(lambda m: escape(m.group(1)), text).translate(_MARKERS)
