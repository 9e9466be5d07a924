"""The bots' Flask blueprint: WeChat official account, WeCom app, DingTalk robot and events."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from flask import Blueprint, Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import BotServices, ChatPlatform, Inbound, handle_inbound
from bot.platforms import BotConfig, platform_for
from models.chat import claim_signature
from models.errors import DomainError

bp = Blueprint("bot", __name__, url_prefix="/bot")


class BadSignature(DomainError):
    code = "BAD_SIGNATURE"
    http_status = 403
    default_message = "签名校验失败"


class StaleRequest(DomainError):
    code = "STALE_REQUEST"
    http_status = 403
    default_message = "请求时间戳无效或已过期"


class PlainModeRefused(DomainError):
    code = "PLAIN_MODE_REFUSED"
    http_status = 403
    default_message = "只接受安全模式（加密）的回调"


class MalformedCallback(DomainError):
    code = "MALFORMED_CALLBACK"
    http_status = 400
    default_message = "回调内容无法解析"


def init_bot(app: Flask, overrides: dict[str, str] | None = None) -> None:
    """Read the bot settings and register the bot endpoints on ``app``."""
    from bot import dingtalk, wechat  # noqa: F401  (routes register on bp)

    # create_app built the settings from the same environment and overrides.
    config = BotConfig.from_settings(app.extensions["liuzhuan"]["settings"])
    config.check(production=app.extensions["liuzhuan"]["settings"].production)
    app.extensions["liuzhuan_bot"] = {"config": config, "platforms": {}}
    app.register_blueprint(bp)


def bot_config() -> BotConfig:
    return current_app.extensions["liuzhuan_bot"]["config"]


def platform(channel: str) -> ChatPlatform:
    """The (cached) platform adapter of this app."""
    cache = current_app.extensions["liuzhuan_bot"]["platforms"]
    if channel not in cache:
        cache[channel] = platform_for(channel, bot_config())
    return cache[channel]


def answer(channel: str, inbound: Inbound) -> str:
    """Run one inbound message through the bot engine."""
    config = bot_config()
    factory: sessionmaker[Session] = current_app.extensions["liuzhuan"]["session_factory"]
    services = BotServices(config.vosk_model_path, config.media_root)
    return handle_inbound(factory, platform(channel), inbound, services)


def fresh(timestamp: str | None, window: int, *, millis: bool = False) -> bool:
    """Tell whether a signed request's timestamp lies within ``window`` seconds of now."""
    try:
        ts = int(timestamp or "")
    except ValueError:
        return False
    return abs(time.time() - (ts / 1000 if millis else ts)) <= window


def require_fresh(timestamp: str | None, window: int, *, millis: bool = False) -> None:
    """Refuse a signed request whose timestamp lies outside the window."""
    if not fresh(timestamp, window, millis=millis):
        raise StaleRequest()


def remember_signature(channel: str, sig_key: str, body: bytes, window: int) -> None:
    """Accept a signature with one body only, for as long as its timestamp is accepted.

    The row outlives the window on both sides of now (a timestamp may run ahead of our clock).
    """
    factory: sessionmaker[Session] = current_app.extensions["liuzhuan"]["session_factory"]
    with factory() as session:
        claim_signature(session, channel, sig_key, hashlib.sha256(body).hexdigest(),
                        timedelta(seconds=2 * window + 60))
