"""After-commit work for the bots, run by the outbox relay: slow voice recognition and pushed replies.

A callback must answer within the platform's budget (WeChat: 5 s), so anything slower answers at
once, writes an outbox event in the same transaction, and the result is pushed from here through
the platform's send-message API (customer-service message, WeCom app message, DingTalk robot).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from app.settings import current
from bot.engine import BotServices, Inbound, respond
from bot.platforms import BotConfig, platform_for
from media.audio import decode_to_pcm16k
from media.speech import SpeechUnavailable, load_recognizer
from models.errors import DomainError
from models.infra import OutboxEvent
from workflows.relay import registry

log = logging.getLogger(__name__)


@registry.register("chat.voice_received", "bot.voice")
def recognise_voice(session: Session, event: OutboxEvent) -> None:
    """Download a voice message, recognise it locally, answer it like typed text, push the reply."""
    p = event.payload
    config = BotConfig.from_settings(current())
    platform = platform_for(p["channel"], config)
    try:
        recognizer = load_recognizer(config.vosk_model_path)
        audio = decode_to_pcm16k(platform.fetch_media(p["media_id"]))
        text = recognizer.recognize(audio).compact_text.strip()
    except SpeechUnavailable:
        reply = "语音识别未启用，请直接打字输入，例如：入库 茶青 一级 23.5公斤"
    except DomainError as exc:
        reply = f"{exc.message}。也可以直接打字输入"
    else:
        if not text:
            reply = "没听清，请再说一遍，或直接打字输入"
        else:
            with session.begin_nested():
                reply = respond(session, platform, Inbound(
                    p["channel"], p["user_id"], f"voice:{p['msg_key']}", kind="voice", media_id=p["media_id"],
                    recognition=text), BotServices(config.vosk_model_path, config.media_root))
    platform.push_text(p["user_id"], reply)


@registry.register("chat.push", "bot.push")
def push_text(_session: Session, event: OutboxEvent) -> None:
    """Send ``payload.text`` to ``payload.user_id`` on ``payload.channel``."""
    p = event.payload
    platform_for(p["channel"], BotConfig.from_settings(current())).push_text(p["user_id"], p["text"])
