"""Files through the WeCom AI bot, over the real transports against the fake platforms, on SQLite and PostgreSQL:
the evidence spreadsheet behind a card button arrives byte for byte over the long connection (chunked upload,
then a `file` message), through the group's 消息推送 webhook in callback mode, 1:1 through the WeCom app when the
group has no webhook, or is named with where to get it when no way exists; a file over 20 MB is refused with a
note in the answer; an upload cut by a dropped connection is retried on its own row, the answer not doubled."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import time
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlalchemy import select

from orderbot.app import AIBOT_WS, create_app
from orderbot.config import GroupEntry
from orderbot.core import outbox
from orderbot.core.models import OutboxMessage
from orderbot.messaging.inbound import CardAction, Origin
from orderbot.messaging.reply import Attachment, Reply
from orderbot.settings import load_settings
from orderbot.webhooks.aibot_crypto import AibotCrypto
from orderbot.webhooks.common import WORKER
from orderbot.webhooks.wecom_aibot import AIBOT

from tests.fakes import serving
from tests.e2e.test_wecom_aibot import (  # noqa: F401  (fixtures)
    AES_KEY,
    GROUP,
    TOKEN,
    _until,
    group_card_click,
    group_message,
    running_clock,
    staffed,
    urls,
    ws_bot,
    ws_bot_app,
)
from tests.e2e.test_wecom_callback import Recorder
from tests.fakes.wecom import FakeWeCom
from tests.fakes.wecom_aibot import CallbackDriver, FakeAibotWs
from tests.integration.test_dispatch import parser  # noqa: F401  (the fixture)
from tests.integration.test_reports import NOW, staffed_business  # noqa: F401  (the fixture)

QUESTION = "@OrderBot 2月4日到2月10日的延迟原因TOP5"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheets(content: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(content))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


async def file_rows(db) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.execute(select(OutboxMessage).where(OutboxMessage.kind == "file"))).scalars())


async def sent_file_rows(db, count: int = 1) -> list[OutboxMessage]:
    """The file rows once the worker has recorded them sent (it records after the platform's ack)."""
    deadline = time.monotonic() + 10
    while True:
        rows = await file_rows(db)
        if (len(rows) == count and all(r.state == "sent" for r in rows)) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def sandbox_evidence(pipeline, key: str) -> Attachment:
    """What the same button gives in the sandbox (and the WeCom app): the spreadsheet to compare with."""
    origin = Origin("sandbox", "sunli", None, reply_channel="sandbox", reply_to="user:sunli")
    (xlsx,) = (await pipeline.process(CardAction(origin, key, "sandbox-click", NOW))).reply.files
    return xlsx


# --- long connection -----------------------------------------------------------------------------------------
async def test_ws_evidence_button_in_a_group_sends_the_spreadsheet_intact(ws_bot):  # noqa: F811
    client, fake = ws_bot
    req = await fake.push_callback(group_message("wf-1", "SunLi", QUESTION))
    await _until(lambda: any(f.get("msgtype") == "template_card" for f in fake.answers(req)))
    card = next(f for f in fake.answers(req) if f.get("msgtype") == "template_card")["template_card"]
    evidence = card["button_list"][0]
    assert evidence["key"].startswith("evidence:")
    click = group_card_click("wf-2", "SunLi", evidence["key"], card["task_id"])
    creq = await fake.push_callback(click, "aibot_event_callback")
    await _until(lambda: any(p.get("msgtype") == "file" for p in fake.pushes))
    (update,) = fake.answers(creq)
    assert update["cmd"] == "aibot_respond_update_msg"
    assert update["template_card"]["sub_title_text"].startswith("已导出 3 单的索赔证据")
    assert "附件" not in update["template_card"]["sub_title_text"]  # it follows in the chat: nothing to explain
    (push,) = [p for p in fake.pushes if p.get("msgtype") == "file"]
    assert (push["chatid"], push["chat_type"]) == (GROUP, 2)  # a click's req_id cannot carry it: pushed
    name, received = fake.media[push["file"]["media_id"]]
    (row,) = await sent_file_rows(client.app[AIBOT_WS].pipeline.db)
    assert received == base64.b64decode(row.payload["file"]["content"])  # every byte, through the chunks
    assert row.state == "sent" and name.startswith("索赔证据_") and name.endswith(".xlsx")
    same = await sandbox_evidence(client.app[AIBOT_WS].pipeline, evidence["key"])
    assert same.filename == name and sheets(same.content) == sheets(received)
    assert [r[0] for r in sheets(received)["受影响订单"][1:]] == ["SO202602010001", "SO202602010002", "SO202602010003"]
    assert fake.errors == []


@contextlib.asynccontextmanager
async def ws_app(db, config, handler):
    fake = FakeAibotWs()
    async with ws_bot_app(fake, config=config, db=db, clock=running_clock(), handler=handler) as client:
        yield client, fake


@pytest.mark.slow
async def test_ws_upload_cut_mid_way_is_retried_alone_and_the_answer_is_not_doubled(db, config):
    sheet = os.urandom(1_300_000)  # three chunks of ≤ 512 KB
    recorder = Recorder(
        reply=lambda e: Reply(
            title="1月绩效", text="明细见附件。", files=(Attachment("绩效_2026-01.xlsx", sheet, XLSX),)
        )
    )
    async with ws_app(db, config, recorder) as (client, fake):
        fake.drop_on_chunk = 2  # the link drops while the second chunk is on its way
        req = await fake.push_callback(group_message("wu-1", "SunLi", "@OrderBot 1月绩效"))
        await _until(lambda: any(f.get("msgtype") == "file" for f in fake.answers(req)), timeout=20)
        answers = fake.answers(req)
        assert [a["msgtype"] for a in answers] == ["stream", "file"]  # the answer once, then the file
        assert answers[0]["stream"]["content"] == "### 1月绩效\n\n明细见附件。"
        streams = [f for f in fake.frames if f["req_id"] == req and f.get("msgtype") == "stream"]
        assert len([f for f in streams if f["stream"]["finish"]]) == 1  # the answer was never sent again
        # (before it, a slow answer's unfinished "正在查询" frame of the same stream)
        assert fake.media[answers[1]["file"]["media_id"]] == ("绩效_2026-01.xlsx", sheet)
        assert fake.subscribed >= 2 and len(fake.uploads) == 1  # the cut upload was abandoned, a new one finished
        (row,) = await sent_file_rows(db)
        async with db.read() as s:
            reply_row = (await s.execute(select(OutboxMessage).where(OutboxMessage.kind == "reply"))).scalar_one()
        assert row.state == "sent" and row.attempts >= 2 and row.id > reply_row.id
        assert reply_row.state == "sent" and reply_row.attempts == 0  # went back on the connection, once
        assert "files" not in reply_row.payload or reply_row.payload["files"] == []
        assert fake.errors == []


async def test_ws_a_file_over_20_mb_is_refused_with_a_note_in_the_answer(db, config):
    big = Attachment("全年明细.xlsx", b"x" * (20 * 1024 * 1024 + 1), XLSX)
    recorder = Recorder(reply=lambda e: Reply(title="全年明细", text="已导出。", files=(big,)))
    async with ws_app(db, config, recorder) as (client, fake):
        req = await fake.push_callback(group_message("wb-1", "SunLi", "@OrderBot 全年明细"))
        await _until(lambda: fake.answers(req))
        await asyncio.sleep(0.3)
        (answer,) = fake.answers(req)
        content = answer["stream"]["content"]
        assert "附件「全年明细.xlsx」有 20.0 MB，超过企业微信允许的 20.0 MB，无法发送" in content
        assert "缩短日期区间" in content
        assert fake.uploads == {} and fake.media == {} and await file_rows(db) == []


# --- callback mode ---------------------------------------------------------------------------------------------
@pytest.fixture
async def wecom_api():
    async with serving(FakeWeCom()) as fake:
        yield fake


def _with_group(config, *, webhook_key: str | None):
    # the example config's own 销售群 uses the same chat id: this test's group replaces it
    groups = {k: g for k, g in config.groups.items() if g.chat_id != GROUP}
    groups["sales_aibot"] = GroupEntry(
        name="销售群", platform="wecom_aibot", chat_id=GROUP, webhook_key=webhook_key, receives=[]
    )
    return config.model_copy(update={"groups": groups})


@pytest.mark.parametrize("way", ["webhook", "app", "none"])
async def test_callback_evidence_goes_by_the_groups_webhook_else_1to1_by_the_app_else_a_note(
    way,
    staffed,  # noqa: F811
    config,
    parser,  # noqa: F811
    urls,  # noqa: F811
    wecom_api,
):
    env = dict(WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_API_BASE=wecom_api.base)
    if way == "app":
        env.update(WECOM_CORP_ID="wwcorp", WECOM_SECRET="app-secret", WECOM_AGENT_ID="1000002")
    config = _with_group(config, webhook_key="HOOK" if way == "webhook" else None)
    app = create_app(load_settings(env_file=None, **env), config=config, db=staffed, clock=lambda: NOW, parser=parser)
    async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
        driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
        final = await driver.ask(driver.message("cf-1", "text", {"content": QUESTION}, user="SunLi", chat=GROUP))
        card = final["template_card"]
        evidence = card["button_list"][0]["key"]
        event = {"card_type": "button_interaction", "event_key": evidence, "task_id": card["task_id"]}
        status, update = await driver.post(
            driver.event("cf-2", "template_card_event", event, user="SunLi", chat=GROUP), "template_card_event"
        )
        assert status == 200 and update["response_type"] == "update_template_card"
        sub = update["template_card"]["sub_title_text"]
        assert sub.startswith("已导出 3 单的索赔证据")
        pipeline = client.app[AIBOT].pipeline
        same = await sandbox_evidence(pipeline, evidence)
        if way == "none":
            assert "无法经智能机器人发送：请在企业微信应用 OrderBot 里发同样的话获取" in sub
            assert await file_rows(pipeline.db) == []
            assert wecom_api.robot_messages == {} and wecom_api.messages == []
            return
        (row,) = await sent_file_rows(pipeline.db)
        assert row.state == "sent"
        sent = base64.b64decode(row.payload["file"]["content"])
        if way == "webhook":
            assert "附件" not in sub
            (msg,) = wecom_api.robot_messages["HOOK"]
            assert msg["msgtype"] == "file"
            key, name, received = wecom_api.webhook_media[msg["file"]["media_id"]]
            assert key == "HOOK" and wecom_api.messages == []
        else:
            assert "附件另经企业微信应用 OrderBot 发给你" in sub  # the text names the file already
            text, file_msg = wecom_api.messages  # a line saying what it is, then the file, to the asker
            assert text["touser"] == file_msg["touser"] == "SunLi" and file_msg["msgtype"] == "file"
            assert "你在智能机器人里要的附件" in text["markdown"]["content"]
            received = wecom_api.media[file_msg["file"]["media_id"]]
            name = wecom_api.media_names[file_msg["file"]["media_id"]]
            assert wecom_api.robot_messages == {}
        assert received == sent and sheets(received) == sheets(same.content)
        assert unquote(name) == same.filename  # aiohttp percent-encodes it in the multipart, as for the app's uploads
        assert driver.errors == []


# --- pushes (reports, alerts): the files go after the markdown, as steps of the push's own row ----------------
async def _push(db, worker, reply: Reply) -> OutboxMessage:
    async with db.write() as s:
        await outbox.enqueue(
            s, channel="wecom_aibot", destination=f"chat:{GROUP}", kind="reply", payload=reply.to_dict(), now=NOW
        )
    worker.wake.set()
    deadline = time.monotonic() + 10
    while True:
        async with db.read() as s:
            row = (await s.execute(select(OutboxMessage).where(OutboxMessage.kind == "reply"))).scalars().all()[-1]
        if row.state != "pending" or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.05)


SHEET = Attachment("直连绩效考核表_2026-01.xlsx", os.urandom(600_000), XLSX)
HUGE = Attachment("全年扫码明细.xlsx", b"x" * (21 * 1024 * 1024), XLSX)
REPORT = Reply(title="1月打包员绩效考核表", text="1月扫码绩效：3 位打包员，达标 2 位。", files=(SHEET, HUGE))


async def test_ws_push_with_files_sends_the_markdown_then_each_file_that_fits(db, config):
    async with ws_app(db, config, Recorder(reply=None)) as (client, fake):
        await fake.push_callback(group_message("wp-1", "SunLi", "@OrderBot 你好"))  # the group may be pushed to
        row = await _push(db, client.app[WORKER], REPORT)
        assert row.state == "sent", row.last_error
        markdown, file_msg = fake.pushes
        assert markdown["msgtype"] == "markdown" and "达标 2 位" in markdown["markdown"]["content"]
        assert "附件「全年扫码明细.xlsx」有 21.0 MB，超过企业微信允许的 20.0 MB" in markdown["markdown"]["content"]
        assert file_msg["msgtype"] == "file" and (file_msg["chatid"], file_msg["chat_type"]) == (GROUP, 2)
        assert fake.media[file_msg["file"]["media_id"]] == (SHEET.filename, SHEET.content)
        assert fake.errors == []


async def test_callback_push_with_files_goes_through_the_groups_webhook(db, config, wecom_api):
    env = dict(WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_API_BASE=wecom_api.base)
    config = _with_group(config, webhook_key="HOOK")
    app = create_app(load_settings(env_file=None, **env), config=config, db=db, clock=lambda: NOW, handler=Recorder())
    async with TestClient(TestServer(app)) as client:
        row = await _push(db, client.app[WORKER], REPORT)
        assert row.state == "sent", row.last_error
        markdown, file_msg = wecom_api.robot_messages["HOOK"]
        assert markdown["msgtype"] == "markdown" and "达标 2 位" in markdown["markdown"]["content"]
        assert "「全年扫码明细.xlsx」有 21.0 MB" in markdown["markdown"]["content"]
        assert file_msg["msgtype"] == "file"
        assert wecom_api.webhook_media[file_msg["file"]["media_id"]][2] == SHEET.content


async def test_the_fake_refuses_uploads_outside_the_documented_limits(db, config):
    """The fake is only worth its tests if it refuses what WeCom refuses: the frames sent raw."""
    from orderbot.messaging.senders.base import SendError

    async with ws_app(db, config, Recorder()) as (client, fake):
        link = client.app[AIBOT_WS]

        async def code(cmd: str, body: dict) -> int:
            try:
                await link.request(cmd, body)
            except SendError as exc:
                return exc.code
            return 0

        def init(size: int, chunks: int, kind: str = "file") -> dict:
            return {"type": kind, "filename": "a.xlsx", "total_size": size, "total_chunks": chunks}

        assert await code("aibot_upload_media_init", init(20 * 1024 * 1024 + 1, 41)) == 40006  # over 20 MB
        assert await code("aibot_upload_media_init", init(3 * 1024 * 1024, 6, "image")) == 40006  # image ≤ 2 MB
        assert await code("aibot_upload_media_init", init(1000, 101)) == 40058  # more than 100 chunks
        assert await code("aibot_upload_media_init", init(600_000, 1)) == 40058  # a chunk would be over 512 KB
        ack = await link.request("aibot_upload_media_init", {**init(600_000, 2), "md5": "0" * 32})
        upload = ack["body"]["upload_id"]
        big = base64.b64encode(b"x" * (512 * 1024 + 1)).decode()
        chunk = {"upload_id": upload, "chunk_index": 0, "base64_data": big}
        assert await code("aibot_upload_media_chunk", chunk) == 40058  # chunk over 512 KB
        assert await code("aibot_upload_media_chunk", {**chunk, "chunk_index": 2, "base64_data": "eA=="}) == 40058
        assert await code("aibot_upload_media_chunk", {**chunk, "upload_id": "nope", "base64_data": "eA=="}) == 40058
        half = base64.b64encode(b"x" * 300_000).decode()
        assert await code("aibot_upload_media_chunk", {**chunk, "base64_data": half}) == 0
        assert await code("aibot_upload_media_finish", {"upload_id": upload}) == 40058  # chunk 1 missing
        assert await code("aibot_upload_media_chunk", {**chunk, "chunk_index": 1, "base64_data": half}) == 0
        assert await code("aibot_upload_media_finish", {"upload_id": upload}) == 40058  # md5 is not the content's
        fake.uploads[upload]["began"] -= 1801  # the session lives 30 minutes
        assert await code("aibot_upload_media_finish", {"upload_id": upload}) == 40058
        push = {"chatid": "LiuYang", "msgtype": "file", "file": {"media_id": "never-issued"}}
        assert await code("aibot_send_msg", push) == 40007
        assert fake.media == {}
