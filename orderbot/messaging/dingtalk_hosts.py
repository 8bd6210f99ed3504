"""Where a DingTalk reply may be POSTed: the one check both the inbound door and the sender apply."""

from __future__ import annotations

from urllib.parse import urlsplit

# DingTalk's own hosts for robot session webhooks (https://oapi.dingtalk.com/robot/sendBySession?session=…) and
# its OpenAPI. A reply is POSTed to the body's sessionWebhook, and DingTalk's sign covers only the timestamp, so
# any other host would let a replayed signature send a reply (an order card) anywhere.
DINGTALK_SESSION_HOSTS = frozenset({"oapi.dingtalk.com", "api.dingtalk.com"})


def session_webhook_allowed(url: object, api_base: str | None = None) -> bool:
    """True when `url` is an https URL on one of DingTalk's hosts, or on the configured DINGTALK_API_BASE's
    origin (a local fake in tests, a proxy in staging). Pure, so the sender checks it again before posting."""
    if not isinstance(url, str) or len(url) > 2048:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if (
        parts.scheme == "https"
        and parts.hostname in DINGTALK_SESSION_HOSTS
        and port in (None, 443)
        and not parts.username
        and not parts.password
    ):
        return True
    if api_base:
        base = urlsplit(api_base)
        return (
            (parts.scheme, parts.hostname, port) == (base.scheme, base.hostname, base.port)
            and not parts.username
            and not parts.password
        )
    return False
