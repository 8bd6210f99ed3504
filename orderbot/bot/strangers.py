"""How often someone outside the staff directory hears from the bot.

Anyone in the app's visibility can message it. A stranger gets the "you are not in the directory" help a few
times per hour, then silence until the hour has passed, so a flood costs the bot no outbox rows and nobody's
attention (their scans are folded into one ticket per hour in `core.warehouse.scanning`).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta


class StrangerLimit:
    """At most `per_window` answers per sender per `window`; remembers at most `max_senders` senders."""

    def __init__(self, per_window: int = 3, window: timedelta = timedelta(hours=1), max_senders: int = 10_000):
        self.per_window, self.window, self.max_senders = per_window, window, max_senders
        self._seen: OrderedDict[tuple[str, str], list[datetime]] = OrderedDict()

    def allow(self, sender: tuple[str, str], now: datetime) -> bool:
        """True if this sender may get an answer now (and counts it)."""
        times = [t for t in self._seen.pop(sender, []) if now - t < self.window]
        allowed = len(times) < self.per_window
        if allowed:
            times.append(now)
        self._seen[sender] = times
        while len(self._seen) > self.max_senders:  # the oldest sender is forgotten first
            self._seen.popitem(last=False)
        return allowed
