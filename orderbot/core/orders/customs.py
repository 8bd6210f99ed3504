"""Customs compliance grade A/B/C: from the product category table; an order takes its worst line."""

from __future__ import annotations

from collections.abc import Iterable

GRADE_ORDER = {"A": 0, "B": 1, "C": 2}
DOCS_TASK_TYPE = "customs_docs"
DOCS_TASK_SUBJECT = "报关资料待补"


def worst_grade(grades: Iterable[str]) -> str:
    return max(grades, key=lambda g: GRADE_ORDER.get(g, 0), default="A")


def needs_documents(grade: str) -> bool:
    """Grade B or above opens a 报关资料待补 task when the order arrives."""
    return GRADE_ORDER.get(grade, 0) >= GRADE_ORDER["B"]
