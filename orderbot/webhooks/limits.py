"""Limits every door applies before it parses anything: body size, XML depth, JSON depth and numbers.

A hostile sender must not be able to make the event loop do real work before the signature is checked: the
body is read only up to a small cap (413 past it), XML nesting is counted by a streaming pass that stops at the
first tag too deep, and JSON is parsed with finite numbers only and a depth bound (400 with the reason otherwise).
"""

from __future__ import annotations

import json
import math
from xml.parsers import expat

from aiohttp import web

# WeCom and DingTalk callbacks are a few KB at most (a text message is ≤ 2048 bytes before encryption).
CALLBACK_MAX_BYTES = 64 * 1024
MAX_XML_DEPTH = 16  # WeCom's deepest message (template_card_event with SelectedItems) nests 4 levels
MAX_JSON_DEPTH = 32  # Shopify's order resource nests about 6 levels


class TooDeep(ValueError):
    """The document nests deeper than any platform's real messages (or carries a DTD)."""


def _json_error(status: int, reason: str) -> dict:
    return {"text": json.dumps({"ok": False, "error": reason}, ensure_ascii=False), "content_type": "application/json"}


async def read_capped(request: web.Request, limit: int = CALLBACK_MAX_BYTES) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` (by Content-Length, or while
    reading a chunked body), so an oversized body is never buffered whole."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(limit, request.content_length)
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(limit, size)
        chunks.append(chunk)


def check_xml_depth(data: bytes | str, max_depth: int = MAX_XML_DEPTH) -> None:
    """Raise `TooDeep` at the first element nested deeper than `max_depth`, and refuse a DTD outright (no entity
    is ever expanded here). A streaming expat pass that builds nothing and stops at the first offence, so a
    100,000-deep body costs microseconds before the tree-building parser ever sees it. Malformed XML is left
    for that parser to report."""
    parser = expat.ParserCreate()
    depth = 0

    def start(_name, _attrs):
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise TooDeep(f"XML nests deeper than {max_depth} levels")

    def end(_name):
        nonlocal depth
        depth -= 1

    def doctype(*_args):
        raise TooDeep("XML with a DTD is not accepted")

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        return


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(value, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise TooDeep(f"JSON nests deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def loads_bounded(body: bytes, max_depth: int = MAX_JSON_DEPTH):
    """`json.loads` for outside input: UTF-8, finite numbers only (no 1e400, NaN or Infinity), integers of at
    most Python's digit limit, and at most `max_depth` levels. Raises ValueError with a reason to show."""
    try:
        value = json.loads(body.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep(f"JSON nests deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None
    _depth(value, max_depth)
    return value


def json_body_or_400(body: bytes):
    """The parsed body, or a 400 naming what is wrong with it."""
    try:
        return loads_bounded(body)
    except ValueError as exc:  # JSONDecodeError, TooDeep and out-of-range numbers are all ValueErrors
        raise web.HTTPBadRequest(**_json_error(400, f"请求体不是合法的JSON：{exc}")) from None
