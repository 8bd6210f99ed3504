"""What `orderbot parse` prints: one INTENTS.md JSON line per message (the CLI wiring lives in cli.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from orderbot.bot.intents.intent import Intent
from orderbot.bot.intents.parser import IntentParser
from orderbot.bot.intents.vocabulary import Vocabulary


def format_parse_line(intent: Intent) -> str:
    """`{"intent": …, "slots": {…}, "confidence": …}` exactly as INTENTS.md shows it."""
    return intent.to_json()


def main_parse(texts: Iterable[str], now: datetime, parser: IntentParser | None = None) -> Iterator[str]:
    """Parse each non-blank text (stdin lines, or the one TEXT argument) and yield its line.

    Without a parser one is built with the static vocabulary and jieba's default cache place; a caller with a
    database passes a parser built from `load_vocabulary`.
    """
    if parser is None:
        parser = IntentParser(Vocabulary.static())
    for text in texts:
        text = text.strip()
        if text:
            yield format_parse_line(parser.parse(text, now))
