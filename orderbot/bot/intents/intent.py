"""The parsed message: a frozen `Intent` value that handlers read instead of the raw text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from collections.abc import Mapping

from orderbot.bot.intents.spec import SLOTS, UNKNOWN, WRITE_INTENTS

# Below this the bot asks back ("你是想查……吗？") instead of acting; write intents are never run below it.
CLARIFY_THRESHOLD = 0.6


@dataclass(frozen=True)
class Intent:
    """One message understood: the intent name, every slot of that intent, and how sure the parser is.

    `missing` names required slots the text did not give (their value is None: the parser never guesses them);
    `alternatives` are the next most likely intent names, for a clarifying question.
    `unknown_names` names slots whose value is a name kept as written because the vocabulary does not hold it
    (an unknown staff name in `staff` is also in `missing`: the bot asks back instead of reading it as "me");
    `repaired` is True when a speech slip was repaired by sound to reach this reading.
    """

    name: str
    slots: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 0.0
    missing: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    unknown_names: tuple[str, ...] = ()
    repaired: bool = False

    def __post_init__(self) -> None:
        if self.name not in SLOTS:
            raise ValueError(f"unknown intent name {self.name!r}")
        if list(self.slots) != list(SLOTS[self.name]):
            raise ValueError(f"{self.name} needs exactly the slots {SLOTS[self.name]}, got {tuple(self.slots)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")
        # a read-only view keeps the value frozen all the way down (slot values are str/int/None)
        object.__setattr__(self, "slots", MappingProxyType(dict(self.slots)))

    def __hash__(self) -> int:  # the slots view is not hashable itself; its items are
        return hash(
            (
                self.name,
                tuple(self.slots.items()),
                self.confidence,
                self.missing,
                self.alternatives,
                self.unknown_names,
                self.repaired,
            )
        )

    @classmethod
    def unknown(cls, alternatives: tuple[str, ...] = ()) -> Intent:
        return cls(UNKNOWN, {}, 0.0, (), alternatives)

    @property
    def is_write(self) -> bool:
        return self.name in WRITE_INTENTS

    @property
    def needs_clarification(self) -> bool:
        """True when the bot should ask back instead of acting."""
        return self.name == UNKNOWN or bool(self.missing) or self.confidence < CLARIFY_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.name, "slots": dict(self.slots), "confidence": self.confidence}

    def to_json(self) -> str:
        """The `orderbot parse` line of INTENTS.md: intent, slots in table order, confidence."""
        return json.dumps(self.to_dict(), ensure_ascii=False)
