"""A server process for `orderbot bench`: `python -m benchmarks.server full|bare PORT`.

`full` is the real app (migrated SQLite file from ORDERBOT_DATABASE_URL, fallback handler, outbox worker);
`bare` only verifies, decrypts, parses and answers 200: the baseline the full path is compared with.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def bare_app(settings) -> web.Application:
    from wechatpy.enterprise.crypto import WeChatCrypto

    from orderbot.webhooks.wecom import signature
    from orderbot.webhooks.wecom_xml import fields, parse_xml, to_event

    token = settings.wecom_token.get_secret_value()
    crypto = WeChatCrypto(token, settings.wecom_encoding_aes_key.get_secret_value(), settings.wecom_corp_id)

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        enc = fields(parse_xml(await request.read()))["Encrypt"]
        if signature(token, q["timestamp"], q["nonce"], enc) != q["msg_signature"]:
            return web.Response(status=401)
        to_event(parse_xml(crypto.decrypt_message({"Encrypt": enc}, q["msg_signature"], q["timestamp"], q["nonce"])))
        return web.Response(text="")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/wecom/callback", callback)
    app.router.add_get("/healthz", health)
    return app


async def main(mode: str, port: int) -> None:
    from orderbot.app import create_app, freeze_startup_heap
    from orderbot.db.engine import make_engine
    from orderbot.db.migrate import upgrade
    from orderbot.settings import load_settings

    settings = load_settings(env_file=None)
    if mode == "full":
        engine = make_engine(settings.database_url)
        await upgrade(engine)
        await engine.dispose()
        app = create_app(settings)
    else:
        app = bare_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if mode == "full":
        freeze_startup_heap()  # as `orderbot serve` does
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
