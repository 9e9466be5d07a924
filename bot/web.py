"""The bots' Flask blueprint: WeChat official account, WeCom app, DingTalk robot and events."""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import BotServices, ChatPlatform, Inbound, handle_inbound
from bot.platforms import BotConfig, platform_for

bp = Blueprint("bot", __name__, url_prefix="/bot")


def init_bot(app: Flask, overrides: dict[str, str] | None = None) -> None:
    """Read the bot settings and register the bot endpoints on ``app``."""
    from bot import dingtalk, wechat  # noqa: F401  (routes register on bp)

    config = BotConfig.from_env({**os.environ, **(overrides or {})})
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
