"""The sandbox (`orderbot demo`): a WeCom-like page for every role, its routes, static files and demo clock."""
