"""`orderbot check-config`: the environment and the business config, every problem with its location."""

from __future__ import annotations

import os
from pathlib import Path

from orderbot.bootstrap import aibot_mode, staff_chat_channels
from orderbot.config import ConfigError, load_config
from orderbot.settings import Settings, SettingsError, load_settings


# --- check-config --------------------------------------------------------------------------------------------
def cmd_check_config(args) -> int:
    problems = 0
    try:
        config_path = load_settings().config_path
    except SettingsError as exc:
        for name, msg in exc.problems:
            print(f"环境变量 {name}: {msg}")
        problems += len(exc.problems)
        # Still check the business config, so one run shows every problem.
        config_path = Path(os.environ.get("ORDERBOT_CONFIG") or "./orderbot.toml")
    try:
        config = load_config(config_path, required=True)
        print(f"{config_path}: OK（{len(config.staff)} 名员工，{len(config.groups)} 个群，{len(config.rules)} 条规则）")
        try:
            for hint in _config_hints(load_settings(), config):
                print(f"提示：{hint}")
        except SettingsError:
            pass  # already reported above
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p))
        problems += len(exc.problems)
        if not Path(config_path).exists():
            print("提示：可以从示例开始：cp orderbot.example.toml orderbot.toml")
    if problems:
        print(f"发现 {problems} 个问题")
        return 1
    print("配置检查通过")
    return 0


def _config_hints(settings: Settings, config) -> list[str]:
    """Things that are not errors but that a person setting up `serve` wants to know: closed doors, owners
    nobody has, topics no group receives."""
    from orderbot.core.rules.builtins import RULES
    from orderbot.core.rules.engine import rule_config

    hints = []
    wecom = [settings.wecom_corp_id, settings.wecom_token, settings.wecom_encoding_aes_key]
    if any(wecom) and not all(wecom):
        hints.append(
            "企业微信回调需要 WECOM_CORP_ID、WECOM_TOKEN、WECOM_ENCODING_AES_KEY 三项都设置，/wecom/callback 目前关闭"
        )
    if settings.wecom_corp_id and not (settings.wecom_secret and settings.wecom_agent_id is not None):
        hints.append("没有 WECOM_SECRET / WECOM_AGENT_ID：机器人收得到企业微信消息，但无法主动发消息")
    closed = [
        name
        for name, value in (
            ("ORDERBOT_LABEL_SECRET（包裹标签校验，扫码会全部失败）", settings.label_secret),
            ("ORDERBOT_INGEST_SECRET（/webhooks/orders 关闭）", settings.ingest_secret),
            (
                "TRACKING_WEBHOOK_SECRET（/webhooks/tracking/* 关闭）",
                settings.tracking_webhook_secret
                or settings.tracking_aftership_secret
                or settings.tracking_17track_secret,
            ),
            ("QWEATHER_API_KEY（快递批次按 courier.fail_safe 处理）", settings.qweather_api_key),
            ("SMTP_URL（没有邮件通知）", settings.smtp_url),
        )
        if value is None
    ]
    if closed:
        hints.append("未设置：" + "；".join(closed))
    staff_ids = {s.id for s in config.staff}
    roles = {r for s in config.staff for r in s.roles}
    for name in RULES:
        owners = rule_config(config, name).owners
        if owners and not (set(owners) & (staff_ids | roles)):
            hints.append(f"规则 {name} 的 owners {owners} 没有对应的员工或角色，告警按钮没人能按")
    if config.courier.owners and not (set(config.courier.owners) & (staff_ids | roles)):
        hints.append(f"courier.owners {config.courier.owners} 没有对应的员工或角色，天气暂停没人收到")
    for key, group in config.groups.items():
        if group.platform == "sandbox":
            hints.append(
                f"群 {key}（{group.name}）的 platform 是 sandbox：只有 orderbot demo 的网页能看到，"
                "正式环境请改为 wecom_app（填 chat_id）、wecom_robot（填 webhook_key）或 dingtalk"
            )
        elif group.platform in ("wecom_app", "dingtalk") and not group.chat_id:
            hints.append(f"群 {key}（{group.name}）缺少 chat_id：发给这个群的消息会被跳过")
        elif group.platform == "wecom_robot" and not group.webhook_key:
            hints.append(f"群 {key}（{group.name}）缺少 webhook_key：发给这个群的消息会被跳过")
        elif group.platform == "wecom_aibot" and not group.chat_id:
            hints.append(f"群 {key}（{group.name}）缺少 chat_id（智能机器人看到的群 chatid）：发给这个群的消息会被跳过")
    hints += _button_hints(settings, config)
    if not any([settings.wecom_corp_id, settings.dingtalk_app_key, aibot_mode(settings)]) and not any(
        g.platform == "wecom_robot" for g in config.groups.values()
    ):
        hints.append("没有配置任何聊天平台（WECOM_* / DINGTALK_* / WECOM_AIBOT_* / 群机器人）：机器人联系不到任何人")
    from orderbot.core.stock.purchasing import purchasers

    if not purchasers(config):
        hints.append("没有采购人员（[purchasing] staff 或 purchasing 角色）：断货预测开的采购任务没人负责")
    if not config.carriers:
        hints.append("业务配置里没有 [[carriers]]：承运商合同条款需用 orderbot catalog import 导入，否则延误无条款可引")
    received = {t for g in config.groups.values() for t in g.receives}
    for topic in ("daily_report", "customs_stuck", "scan_exception", "weather"):
        if topic not in received:
            hints.append(f"没有群接收 {topic}")
    return hints


WAY_NAMES = {"wecom": "企业微信应用", "wecom_aibot": "智能机器人长连接", "dingtalk": "钉钉"}


def one_to_one_ways(settings: Settings) -> list[str]:
    """How a staff member can be sent a card 1:1 in this deployment (the channels `Addresses.staff` uses)."""
    return [WAY_NAMES[c] for c in staff_chat_channels(settings)]


def _button_hints(settings: Settings, config) -> list[str]:
    """Which groups show card buttons, and how the others get them (the AI bot's and WeCom's limits)."""
    ways = one_to_one_ways(settings)
    owners = (
        f"带按钮的卡片另经{'或'.join(ways)}单独发给负责人"
        if ways
        else "负责人没有一对一的渠道（企业微信应用、钉钉、智能机器人长连接都没有配置），带按钮的卡片不会发出"
    )
    out = []
    for key, group in config.groups.items():
        where = f"群 {key}（{group.name}）"
        if group.platform in ("sandbox", "dingtalk"):
            out.append(f"{where}：告警卡片带按钮")
        elif group.platform == "wecom_aibot":
            answers = f"{where}：在群里@机器人得到的回答带按钮；"
            if settings.wecom_aibot_mode == "ws":
                out.append(f"{answers}告警由智能机器人长连接以 markdown 推送到群里（不带按钮），{owners}")
            elif group.webhook_key:
                out.append(f"{answers}告警经群的消息推送 webhook 以 markdown 发到群里（不带按钮），{owners}")
            else:
                out.append(
                    f"{answers}告警发不到这个群：智能机器人回调模式不能主动发消息，这个群也没有 webhook_key。"
                    "请填 webhook_key（群设置 → 消息推送）或改用 WECOM_AIBOT_MODE=ws"
                )
        else:
            out.append(f"{where}：告警不带按钮（{group.platform} 不支持交互卡片），{owners}")
    aibot = (
        [settings.wecom_aibot_token, settings.wecom_aibot_encoding_aes_key]
        if settings.wecom_aibot_mode == "callback"
        else [settings.wecom_aibot_id, settings.wecom_aibot_secret]
    )
    if any(aibot) and not all(aibot):
        need = (
            "WECOM_AIBOT_TOKEN、WECOM_AIBOT_ENCODING_AES_KEY"
            if settings.wecom_aibot_mode == "callback"
            else "WECOM_AIBOT_ID、WECOM_AIBOT_SECRET"
        )
        out.append(f"智能机器人（{settings.wecom_aibot_mode} 模式）需要 {need} 都设置，目前未启用")
    return out
