"""`orderbot demo` beside a production `.env`: the demo runs on its own secrets, never on the company's.

Settings come from the environment and `.env`, so a demo started in the production directory would sign its
labels with the production label secret (its unauthenticated `/sandbox/packages` would hand out labels that
verify in the warehouse) and send through the real WeCom, DingTalk, WeChat and mail accounts. `isolate` drops
every secret and platform credential from the settings and gives the demo a label secret of its own, random,
kept beside the demo database so labels printed in one demo session still scan in the next.

`with_fake_wecom` then points the demo's WeCom at the demo itself: the AI bot runs in callback mode on a token
and key made up for this process, and the WeCom API base (the group robot's 消息推送 webhook) is the demo's own
fake WeCom (`sandbox/aibot.py`), so an alert for an AI-bot group never leaves the machine.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

from pydantic import SecretStr

from orderbot.settings import Settings

# Platform identities that are not secret by themselves but would address a real account.
_PLATFORM_IDS = re.compile(r"(corp_id|agent_id|app_key|app_id|aibot_id|_url)$")
_KEEP = frozenset({"database_url", "public_url"})  # the demo's own database and address


def credential_fields() -> list[str]:
    """Every setting that is a secret (SecretStr) or names a platform account."""
    out = []
    for name, info in Settings.model_fields.items():
        if name in _KEEP:
            continue
        if "SecretStr" in str(info.annotation) or _PLATFORM_IDS.search(name):
            out.append(name)
    return out


def demo_label_secret(db_path: Path, production: str | None = None) -> str:
    """The demo's label secret, created once per demo database (file mode 0600), never the production one."""
    path = db_path.with_name(db_path.name + ".label-secret")
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if secret and secret != production:
            return secret
    secret = "demo-" + secrets.token_hex(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    return secret


def isolate(settings: Settings, db_path: Path) -> tuple[Settings, list[str]]:
    """Settings for the demo: no secret or platform credential from the environment, the demo's label secret.
    Returns them and the environment variable names that were set and are now ignored (to say so at start):
    only those whose value differs from the default, so a setting nobody set is never named."""
    production = settings.label_secret.get_secret_value() if settings.label_secret else None
    ignored, updates = [], {}
    for name in credential_fields():
        field = Settings.model_fields[name]
        if getattr(settings, name) != field.default:
            ignored.append(field.alias or name.upper())
        updates[name] = None
    updates["label_secret"] = SecretStr(demo_label_secret(db_path, production))
    return settings.model_copy(update=updates), sorted(ignored)


def with_fake_wecom(settings: Settings, own_url: str) -> Settings:
    """The demo's WeCom: the AI bot in callback mode with credentials of its own (random, for this process; the
    only caller is the demo's fake WeCom, in the same process) and the WeCom API at the demo's own fake."""
    from orderbot.sandbox.aibot import PREFIX

    return settings.model_copy(
        update={
            "wecom_aibot_mode": "callback",
            "wecom_aibot_token": SecretStr(secrets.token_urlsafe(24)),
            "wecom_aibot_encoding_aes_key": SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()[:43]),
            "wecom_aibot_id": None,
            "wecom_api_base": own_url.rstrip("/") + PREFIX,
        }
    )
