"""What every command shares: settings and business config loaded with clear errors, and `--now` parsing."""
from __future__ import annotations

import logging
import sys

from orderbot.config import ConfigError, load_config
from orderbot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("orderbot")


def _settings(**overrides) -> Settings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        for name, msg in exc.problems:
            print(f"环境变量 {name}: {msg}", file=sys.stderr)
        raise SystemExit(2) from None
    from orderbot.db.engine import set_sqlite_driver

    set_sqlite_driver(settings.sqlite_driver)
    return settings


def _config(settings: Settings, required: bool = False, example_fallback: bool = False):
    """The business config. With `example_fallback` (demo, ask, label), a missing file means the example
    company's config, said on stderr, rather than an empty staff list that would make everyone a stranger."""
    from orderbot.config import EXAMPLE_CONFIG

    path = settings.config_path
    if example_fallback and not path.exists():
        print(f"（没有 {path}，使用示例配置 {EXAMPLE_CONFIG.name}）", file=sys.stderr)
        path = EXAMPLE_CONFIG
    try:
        return load_config(path, required=required)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        raise SystemExit(2) from None


def _parse_now(value: str | None):
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    if not value:
        return datetime.now(timezone.utc)
    try:
        now = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"--now 不是 ISO-8601 时间：{value}") from None
    return now if now.tzinfo else now.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
