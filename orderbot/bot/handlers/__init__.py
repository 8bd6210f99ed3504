"""Handlers: one module per area, each exporting `ROUTES`; this package joins them in a fixed order.

A handler takes the parsed `Intent` (or a button's argument) and a `Context`, and returns a `Reply`. Handlers
never call a platform API and never write SQL: they call core use cases and report queries.
"""
from __future__ import annotations

from orderbot.bot.handlers.base import Context, Route, help_reply
from orderbot.bot.handlers import admin, alerts, courier, orders, reports, stock, warehouse
from orderbot.bot.handlers import lists

ROUTES: dict[str, Route] = {}
for _module in (orders, reports, stock, admin, warehouse, alerts, courier):  # order matters only for help listings
    for _route in _module.ROUTES:
        ROUTES[_route.name] = _route
for _route in lists.ROUTES:  # order lists, a customer's orders, one figure
    ROUTES[_route.name] = _route
ROUTES["help"] = Route("help", lambda intent, ctx: _help(ctx), None, False, "", "帮助", "帮助")


async def _help(ctx: Context):
    return help_reply(ctx.asker.roles, [], lang=ctx.lang)


__all__ = ["ROUTES", "Context", "Route", "help_reply"]
