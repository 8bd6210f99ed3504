"""The understanding layer: chat text and speech transcripts → one frozen `Intent` (INTENTS.md).

Build one `IntentParser` at start-up (it loads jieba eagerly) from a `Vocabulary` — `await load_vocabulary(
session)` with a database, `Vocabulary.static()` without — and hand it to whoever needs it; nothing here is
created at import time. Handlers read the `Intent`, never the raw text.

How a message is read: `evidence` (IDs by pattern → ASR slips → dates → numbers → phrases → jieba tokens),
`scoring` (which intent, how sure), `slots` (values and defaults). Choices where INTENTS.md is silent:
- A province alone fills `province` and leaves `region` null; both are kept when both are named.
- A range asked for `report.daily` gives its last day; a range or a relative shift ("推迟3天") is never an
  `eta`: the slot stays null and is listed in `Intent.missing`.
- Explicit dates without a year count today in both directions; a bare weekday ("周五") for a delivery date
  means the next one after today, in a report the latest one up to today. "N号" alone is a day of the
  nearest month in the intent's direction. 近半个月 = 15 days, 近N个月 = 30·N days, past N weeks = 7·N days.
- `order_ref` drops the separator in "SO-2026…" / "SO 2026 0201 0001"; Amazon and S10 ids are kept as written.
- `staff`: a known staff name or id wins, then a team word, else "me".
- `unknown` has confidence 0.0; two order numbers in one write halve the confidence (ask which).
"""

from __future__ import annotations

from orderbot.bot.intents.command import format_parse_line, main_parse
from orderbot.bot.intents.intent import CLARIFY_THRESHOLD, Intent
from orderbot.bot.intents.parser import IntentParser
from orderbot.bot.intents.spec import INTENT_NAMES, REQUIRED, SLOTS, WRITE_INTENTS
from orderbot.bot.intents.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "CLARIFY_THRESHOLD",
    "INTENT_NAMES",
    "REQUIRED",
    "SLOTS",
    "WRITE_INTENTS",
    "Intent",
    "IntentParser",
    "Vocabulary",
    "format_parse_line",
    "load_vocabulary",
    "main_parse",
]
