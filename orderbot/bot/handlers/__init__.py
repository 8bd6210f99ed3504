"""Handlers: one module per area, each exporting `ROUTES`; this package joins them in a fixed order.

A handler takes the parsed `Intent` (or a button's argument) and a `Context`, and returns a `Reply`. Handlers
never call a platform API and never write SQL: they call core use cases and report queries.
"""

from __future__ import annotations

from orderbot.bot.handlers.base import Context, Route, help_reply
from orderbot.bot.handlers import (
    admin,
    alerts,
    courier,
    lists,
    orders,
    reports,
    review,
    stock,
    stockin,
    tasks,
    warehouse,
)

ROUTES: dict[str, Route] = {}
for _module in (orders, lists, reports, stock, stockin, admin, review, warehouse, alerts, courier, tasks):  # help order
    for _route in _module.ROUTES:
        ROUTES[_route.name] = _route
ROUTES["help"] = Route("help", lambda intent, ctx: _help(ctx), None, False, "", "帮助", "帮助")


async def _help(ctx: Context):
    return help_reply(ctx.asker.roles, [], lang=ctx.lang)


__all__ = ["ROUTES", "Context", "Route", "help_reply"]
