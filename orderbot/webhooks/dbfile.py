"""The SQLite file the server opened must still be the database: same device and inode, still writable.

SQLite keeps writing happily to a file that was deleted (or replaced) under a running server, and every such
write is lost at the next restart. So `/healthz` compares the file with the one opened at start-up, and every
write door (any POST) refuses with 503 before and after its handler while the file is gone: the platform or
shop retries later instead of being told "created" for an order that no longer exists anywhere.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from aiohttp import web

log = logging.getLogger("orderbot.http")


class DatabaseFile:
    """Identity of the SQLite file behind the app's database; `problem()` is None while it is the same file."""

    def __init__(self, path: Path | None):
        self.path = Path(os.path.abspath(path)) if path is not None else None
        self.identity: tuple[int, int] | None = None

    def remember(self) -> None:
        """Record the file as it is now (at start-up, once the database is open and migrated)."""
        if self.path is not None and self.path.exists():
            st = self.path.stat()
            self.identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        if self.path is None or self.identity is None:
            return None  # PostgreSQL, an in-memory database, or nothing to compare with yet
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return f"数据库文件不见了：{self.path}"
        except OSError as exc:
            return f"数据库文件无法访问：{exc.strerror}"
        if (st.st_dev, st.st_ino) != self.identity:
            return f"数据库文件被替换了，已不是启动时打开的那个：{self.path}"
        if not os.access(self.path, os.W_OK):
            return f"数据库文件不可写：{self.path}"
        return None


DB_FILE = web.AppKey("database_file", DatabaseFile)


def _refuse(reason: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error": f"{reason}；本次数据未保存，请稍后重试"},
        status=503,
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


@web.middleware
async def database_file_guard(request: web.Request, handler):
    """A write (POST) is refused with 503 while the database file is gone, checked before and after it runs."""
    guard = request.app.get(DB_FILE)
    if request.method != "POST" or guard is None:
        return await handler(request)
    if (reason := guard.problem()) is not None:
        log.error("refusing %s %s: %s", request.method, request.path, reason)
        return _refuse(reason)
    response = await handler(request)
    if response.status < 300 and (reason := guard.problem()) is not None:
        log.error("%s %s wrote to a database file that is gone: %s", request.method, request.path, reason)
        return _refuse(reason)
    return response


def setup(app: web.Application, path: Path | None) -> None:
    app[DB_FILE] = guard = DatabaseFile(path)

    async def _remember(app: web.Application):
        guard.remember()
        yield

    app.cleanup_ctx.append(_remember)
