"""After-commit work for the bots, run by the outbox relay: slow voice recognition and pushed replies.

A callback must answer within the platform's budget (WeChat: 5 s), so anything slower answers at
once, writes an outbox event in the same transaction, and the result is pushed from here through
the platform's send-message API (customer-service message, WeCom app message, DingTalk robot).
Both are relay network handlers: downloads, recognition and pushes run with no transaction open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.settings import current
from bot.engine import BotServices, Inbound, respond
from bot.platforms import BotConfig, platform_for
from media.audio import decode_to_pcm16k
from media.speech import SpeechUnavailable, load_recognizer
from models.errors import DomainError
from models.infra import OutboxEvent
from workflows.relay import NetworkHandler, registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Push:
    """One text to push to a chat user (the platform's send-message API, no session)."""

    channel: str
    user_id: str
    text: str


@dataclass(frozen=True)
class Heard:
    """Recognised speech, to be answered like typed text (that needs the database)."""

    text: str


def _voice_request(_session: Session, event: OutboxEvent) -> dict[str, Any]:
    return dict(event.payload)


def _hear(request: dict[str, Any] | Push) -> Heard | None:
    """Download and recognise a voice message; push the answer at once when it needs no database."""
    if isinstance(request, Push):
        _push(request)
        return None
    p = request
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
        if text:
            return Heard(text)
        reply = "没听清，请再说一遍，或直接打字输入"
    _push(Push(p["channel"], p["user_id"], reply))
    return None


def _answer(session: Session, event: OutboxEvent, heard: Heard | None) -> Push | None:
    """Answer recognised speech like typed text (once per message: the chat log dedupes); push the reply next."""
    if heard is None:
        return None
    p = event.payload
    config = BotConfig.from_settings(current())
    platform = platform_for(p["channel"], config)
    with session.begin_nested():
        reply = respond(session, platform, Inbound(
            p["channel"], p["user_id"], f"voice:{p['msg_key']}", kind="voice", media_id=p["media_id"],
            recognition=heard.text), BotServices(config.vosk_model_path, config.media_root))
    return Push(p["channel"], p["user_id"], reply)


#: Download, recognise (slow, no transaction), answer in a short transaction, push (no transaction).
recognise_voice = registry.register("chat.voice_received", "bot.voice")(
    NetworkHandler(prepare=_voice_request, call=_hear, finish=_answer))


def _push_request(_session: Session, event: OutboxEvent) -> Push:
    p = event.payload
    return Push(p["channel"], p["user_id"], p["text"])


def _push(push: Push) -> None:
    platform_for(push.channel, BotConfig.from_settings(current())).push_text(push.user_id, push.text)


def _pushed(_session: Session, _event: OutboxEvent, _outcome: None) -> None:
    return None


#: Send ``payload.text`` to ``payload.user_id`` on ``payload.channel``, with no transaction open.
push_text = registry.register("chat.push", "bot.push")(
    NetworkHandler(prepare=_push_request, call=_push, finish=_pushed))
