"""The business: orders, stock, rules and reports as values, predicates and use cases.

Nothing here imports from `orderbot.bot`, `orderbot.webhooks` or aiohttp; clocks are passed in.
"""
