"""Process settings: secrets and endpoints from the environment or `.env`.

One validated object built at start-up by the composition root and passed down; nothing below the root reads
`os.environ`. A missing or malformed value is reported by its environment variable name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """Start-up configuration is wrong; `problems` lists `(variable, message)` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_url: str = Field("sqlite+aiosqlite:///./orderbot.db", alias="ORDERBOT_DATABASE_URL")
    config_path: Path = Field(Path("./orderbot.toml"), alias="ORDERBOT_CONFIG")
    host: str = Field("127.0.0.1", alias="ORDERBOT_HOST")
    port: int = Field(8080, alias="ORDERBOT_PORT", ge=1, le=65535)
    public_url: str = Field("http://127.0.0.1:8080", alias="ORDERBOT_PUBLIC_URL")
    label_secret: SecretStr | None = Field(None, alias="ORDERBOT_LABEL_SECRET")
    ingest_secret: SecretStr | None = Field(None, alias="ORDERBOT_INGEST_SECRET")
    max_body_bytes: int = Field(1_048_576, alias="ORDERBOT_MAX_BODY_BYTES", ge=1024)
    cache_dir: Path = Field(Path.home() / ".cache" / "orderbot", alias="ORDERBOT_CACHE_DIR")
    metrics_token: SecretStr | None = Field(None, alias="ORDERBOT_METRICS_TOKEN")
    sqlite_driver: Literal["auto", "inline", "stock"] = Field("auto", alias="ORDERBOT_SQLITE_DRIVER")
    outbox_retry_window_hours: float = Field(24.0, alias="ORDERBOT_OUTBOX_RETRY_WINDOW_HOURS", gt=0, le=24 * 14)

    wecom_corp_id: str | None = Field(None, alias="WECOM_CORP_ID")
    wecom_agent_id: int | None = Field(None, alias="WECOM_AGENT_ID")
    wecom_secret: SecretStr | None = Field(None, alias="WECOM_SECRET")
    wecom_token: SecretStr | None = Field(None, alias="WECOM_TOKEN")
    wecom_encoding_aes_key: SecretStr | None = Field(None, alias="WECOM_ENCODING_AES_KEY")
    wecom_api_base: str = Field("https://qyapi.weixin.qq.com", alias="WECOM_API_BASE")
    dingtalk_app_key: str | None = Field(None, alias="DINGTALK_APP_KEY")
    dingtalk_app_secret: SecretStr | None = Field(None, alias="DINGTALK_APP_SECRET")
    dingtalk_api_base: str = Field("https://api.dingtalk.com", alias="DINGTALK_API_BASE")
    dingtalk_mode: Literal["http", "stream"] = Field("http", alias="ORDERBOT_DINGTALK_MODE")
    wechat_mp_app_id: str | None = Field(None, alias="WECHAT_MP_APP_ID")
    wechat_mp_secret: SecretStr | None = Field(None, alias="WECHAT_MP_SECRET")
    wechat_mp_api_base: str = Field("https://api.weixin.qq.com", alias="WECHAT_MP_API_BASE")
    shopify_webhook_secret: SecretStr | None = Field(None, alias="SHOPIFY_WEBHOOK_SECRET")
    tracking_webhook_secret: SecretStr | None = Field(None, alias="TRACKING_WEBHOOK_SECRET")
    # AfterShip and 17TRACK each issue their own key: these override TRACKING_WEBHOOK_SECRET for one provider.
    tracking_aftership_secret: SecretStr | None = Field(None, alias="TRACKING_WEBHOOK_SECRET_AFTERSHIP")
    tracking_17track_secret: SecretStr | None = Field(None, alias="TRACKING_WEBHOOK_SECRET_17TRACK")
    qweather_api_key: SecretStr | None = Field(None, alias="QWEATHER_API_KEY")
    qweather_api_base: str = Field("https://devapi.qweather.com", alias="QWEATHER_API_BASE")
    smtp_url: SecretStr | None = Field(None, alias="SMTP_URL")
    # WeCom 智能机器人 (AI bot): callback mode needs the token and key, long-connection mode the bot id and secret.
    wecom_aibot_mode: Literal["callback", "ws"] = Field("callback", alias="WECOM_AIBOT_MODE")
    wecom_aibot_token: SecretStr | None = Field(None, alias="WECOM_AIBOT_TOKEN")
    wecom_aibot_encoding_aes_key: SecretStr | None = Field(None, alias="WECOM_AIBOT_ENCODING_AES_KEY")
    wecom_aibot_id: str | None = Field(None, alias="WECOM_AIBOT_ID")
    wecom_aibot_secret: SecretStr | None = Field(None, alias="WECOM_AIBOT_SECRET")
    wecom_aibot_ws_url: str = Field("wss://openws.work.weixin.qq.com", alias="WECOM_AIBOT_WS_URL")
    wecom_aibot_name: str = Field("OrderBot", alias="WECOM_AIBOT_NAME")  # the bot's display name, for @-mentions

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v

    @field_validator("wecom_encoding_aes_key", "wecom_aibot_encoding_aes_key")
    @classmethod
    def _aes_key_len(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) != 43:
            raise ValueError("must be the 43-character EncodingAESKey from the WeCom console")
        return v

    @field_validator("wecom_api_base", "dingtalk_api_base", "wechat_mp_api_base", "qweather_api_base", "public_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("wecom_aibot_ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        if not v.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL")
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def tracking_secret(self, provider: str) -> tuple[SecretStr | None, str]:
        """The secret a tracking provider signs with, and the variable it came from (for error messages)."""
        own = {
            "aftership": ("tracking_aftership_secret", "TRACKING_WEBHOOK_SECRET_AFTERSHIP"),
            "17track": ("tracking_17track_secret", "TRACKING_WEBHOOK_SECRET_17TRACK"),
        }.get(provider)
        if own is not None and getattr(self, own[0]) is not None:
            return getattr(self, own[0]), own[1]
        return self.tracking_webhook_secret, "TRACKING_WEBHOOK_SECRET"


def load_settings(env_file: str | Path | None = ".env", **overrides) -> Settings:
    """Build settings from the environment (and `.env`), raising `SettingsError` naming each bad variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            info = Settings.model_fields.get(field)
            name = info.alias if info and info.alias else field
            problems.append((name, err["msg"]))
        raise SettingsError(problems) from None
