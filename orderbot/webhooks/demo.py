"""`GET /` in `orderbot demo`: until the sandbox chat page lands, a page that says what runs and how to try it."""
from __future__ import annotations

from html import escape

from aiohttp import web

from .common import CONFIG

EXAMPLES = [("wanglei", "查看华东区昨日延迟TOP3客户"), ("liuyang", "现在订单都卡在哪"), ("sunli", "延迟原因TOP5"),
            ("zhangsan", "我今天的扫码准确率"), ("heping", "冻结TikTok渠道"), ("zhoumin", "帮助")]


async def index(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    people = "".join(f"<li><code>{escape(s.id)}</code> {escape(s.name)}（{escape('、'.join(s.roles))}）</li>"
                     for s in config.staff)
    tries = "".join(f"<li><code>orderbot ask --as {u} \"{escape(t)}\"</code></li>" for u, t in EXAMPLES)
    html = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>OrderBot 演示</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.6}}
code{{background:#f3f3f3;padding:0 .3em;border-radius:3px}}</style></head><body>
<h1>OrderBot 演示正在运行</h1>
<p>演示数据库已就绪，Webhook、出站队列和接口都在工作（<a href="/healthz">/healthz</a>、<a href="/metrics">/metrics</a>）。
网页版聊天沙盒（群、卡片、扫码面板、时间快进）将在下一个版本提供；现在可以在另一个终端用同一个数据库和机器人对话：</p>
<p><code>export ORDERBOT_DATABASE_URL=sqlite+aiosqlite:///./orderbot-demo.db</code></p>
<ul>{tries}</ul>
<h2>演示里的员工</h2><ul>{people}</ul>
</body></html>"""
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
