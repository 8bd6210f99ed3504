"""DingTalk Stream mode with the official `dingtalk-stream` SDK, for companies without a public IP.

The SDK opens its connection with blocking `requests` calls inside its async loop, so it runs in a thread of
its own with its own event loop; each robot message hops to our loop (`run_coroutine_threadsafe`) into the
same pipeline as HTTP mode, and is acknowledged to DingTalk when our transaction has committed. Replies go
out through the outbox (session webhook or OpenAPI), never through the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import dingtalk_stream
import requests
from dingtalk_stream import AckMessage, CallbackMessage

from orderbot.messaging.pipeline import InboundPipeline
from orderbot.webhooks.dingtalk_msg import BadMessage, to_event

log = logging.getLogger("orderbot.dingtalk.stream")
ROBOT_TOPIC = dingtalk_stream.ChatbotMessage.TOPIC


class _Client(dingtalk_stream.DingTalkStreamClient):
    """The SDK client pointed at DINGTALK_API_BASE (the SDK hard-codes the public endpoint)."""

    def __init__(self, credential, api_base: str):
        super().__init__(credential, logger=logging.getLogger("orderbot.dingtalk.sdk"))
        self.open_url = api_base.rstrip("/") + "/v1.0/gateway/connections/open"

    def get_host_ip(self) -> str:  # the SDK probes 8.8.8.8; the gateway does not need our address
        return ""

    def open_connection(self):
        topics = [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        try:
            resp = requests.post(
                self.open_url,
                timeout=15,
                json={
                    "clientId": self.credential.client_id,
                    "clientSecret": self.credential.client_secret,
                    "subscriptions": topics,
                    "ua": "orderbot",
                    "localIp": "",
                },
            )
            resp.raise_for_status()
            return resp.json()
        except (requests.RequestException, ValueError) as exc:
            log.error("DingTalk stream: opening the connection failed: %s", exc)
            return None


class _RobotHandler(dingtalk_stream.ChatbotHandler):
    def __init__(self, pipeline: InboundPipeline, loop: asyncio.AbstractEventLoop, robot_code: str):
        super().__init__()
        self.pipeline, self.loop, self.robot_code = pipeline, loop, robot_code

    async def process(self, callback: CallbackMessage):
        data = callback.data if isinstance(callback.data, dict) else json.loads(callback.data)
        try:
            event = to_event(data, robot_code=self.robot_code)
        except BadMessage as exc:
            return AckMessage.STATUS_BAD_REQUEST, str(exc)
        if event is not None:
            future = asyncio.run_coroutine_threadsafe(self.pipeline.process(event), self.loop)
            await asyncio.wrap_future(future)
        return AckMessage.STATUS_OK, "OK"


class StreamRunner:
    """Start and stop the SDK client in its own thread; nothing of it runs on the app's event loop."""

    def __init__(self, *, app_key: str, app_secret: str, api_base: str, pipeline: InboundPipeline):
        self.app_key, self._secret, self.api_base, self.pipeline = app_key, app_secret, api_base, pipeline
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def start(self, main_loop: asyncio.AbstractEventLoop) -> None:
        client = _Client(dingtalk_stream.Credential(self.app_key, self._secret), self.api_base)
        client.register_callback_handler(ROBOT_TOPIC, _RobotHandler(self.pipeline, main_loop, self.app_key))
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._task = loop.create_task(client.start())
            ready.set()
            try:
                loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="dingtalk-stream", daemon=True)
        self._thread.start()
        ready.wait(5)

    async def stop(self, timeout: float = 10) -> None:
        if self._loop is None or self._task is None or self._thread is None:
            return
        # The SDK catches CancelledError in its reconnect loop and carries on, so keep cancelling until it ends.
        deadline = asyncio.get_running_loop().time() + timeout
        while self._thread.is_alive() and asyncio.get_running_loop().time() < deadline:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._task.cancel)
            await asyncio.to_thread(self._thread.join, 0.2)
