"""Named domain errors, each with a Chinese message a person can act on; turned into replies in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every business rule violation. `message` is shown to people as it is."""

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class OrderNotFound(DomainError):
    def __init__(self, ref: str):
        super().__init__(f"没有找到订单 {ref}，请核对单号、渠道单号或运单号", ref=ref)


class IllegalTransition(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class InsufficientStock(DomainError):
    def __init__(self, sku: str, wanted: int, available: int):
        super().__init__(
            f"{sku} 可用库存不足：需要 {wanted}，可用 {available}", sku=sku, wanted=wanted, available=available
        )


class UnknownSku(DomainError):
    def __init__(self, sku: str):
        super().__init__(f"没有这个SKU：{sku}", sku=sku)


class InvalidOrder(DomainError):
    """An incoming order failed validation; `problems` lists `(field, reason)`."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("；".join(f"{f}: {r}" for f, r in problems), problems=problems)


class InvalidRow(DomainError):
    """A master-data or receiving row failed validation; `problems` lists `(field, reason)`."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("；".join(f"{f}: {r}" for f, r in problems), problems=problems)
