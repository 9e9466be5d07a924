"""The channel-independent bot: one inbound message → dedupe → identity → route → handler → reply.

WeChat, WeCom and DingTalk sit behind the small ``ChatPlatform`` protocol, so every handler is
written once. One message is one transaction; a redelivered message gets its first reply back
and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from models.actor import Actor, load_actor
from models.chat import claim_inbound, dialog_orgs, inbound_reply
from models.errors import DomainError
from models.operations.identity import members_for_identity
from models.org import IdentityProvider
from models.uow import run

log = logging.getLogger(__name__)

UNBOUND_REPLY = ("您好！您的账号还没有绑定到合作社成员。\n请向管理员索取12位绑定码，然后发送：绑定 1234 5678 9012")
BUSY_REPLY = "系统繁忙，请稍后再发一次"


class ChatPlatform(Protocol):
    """What the bot needs from a chat platform: its identity scheme, media download and push."""

    #: "wechat" | "wecom" | "dingtalk"
    channel: str
    provider: IdentityProvider

    def fetch_media(self, media_id: str) -> bytes:
        """Download a voice or image the user sent (WeChat media_id, DingTalk downloadCode)."""
        ...

    def push_text(self, user_id: str, text: str) -> None:
        """Send a text message later, outside the callback (customer-service / app / robot message)."""
        ...


@dataclass(frozen=True)
class Inbound:
    """One message or event, as every platform's adapter hands it over."""

    channel: str
    user_id: str
    #: Dedupe key: MsgId, FromUserName+CreateTime for events, DingTalk msgId.
    msg_key: str
    kind: str = "text"  # text | voice | image | event | other
    text: str = ""
    media_id: str = ""
    #: WeChat's own speech recognition, when the account has it switched on.
    recognition: str = ""
    event: str = ""


@dataclass(frozen=True)
class BotServices:
    """Local resources handlers need: the speech model and the media store."""

    vosk_model_path: str | None
    media_root: Path


@dataclass
class Context:
    session: Session
    platform: ChatPlatform
    inbound: Inbound
    services: BotServices
    org_id: int
    member_id: int

    @cached_property
    def actor(self) -> Actor:
        """The member as an actor (roles and sites), loaded once per message."""
        return load_actor(self.session, self.member_id)


def respond(session: Session, platform: ChatPlatform, inbound: Inbound, services: BotServices) -> str:
    """Answer one message inside the caller's transaction (the caller commits)."""
    seen = inbound_reply(session, inbound.channel, inbound.msg_key)
    if seen is not None:
        return seen.reply or ""
    record = claim_inbound(session, inbound.channel, inbound.msg_key, inbound.user_id)
    record.reply = _answer(session, platform, inbound, services)
    session.flush()
    return record.reply


def handle_inbound(session_factory: sessionmaker[Session], platform: ChatPlatform, inbound: Inbound,
                   services: BotServices) -> str:
    """Answer one message as one transaction (models.uow.run: a concurrent duplicate's unique-key clash
    is retried and gets the first reply); anything that still fails is a polite busy reply."""
    try:
        return run(session_factory, respond, platform, inbound, services)
    except Exception:
        log.exception("chat message %s failed", inbound.msg_key)
        return BUSY_REPLY


def _answer(session: Session, platform: ChatPlatform, inbound: Inbound, services: BotServices) -> str:
    from bot import handlers
    from bot.intents import Bind, route

    if inbound.kind == "event":
        return handlers.on_event(session, platform, inbound)
    members = members_for_identity(session, platform.provider, inbound.user_id)
    text = inbound.text
    if inbound.kind == "voice" and inbound.recognition:
        text = inbound.recognition
        inbound = replace(inbound, kind="text", text=text)
    intent = route(text) if inbound.kind == "text" else None
    if isinstance(intent, Bind):
        return _guarded(session, lambda: handlers.bind(session, platform, inbound, intent))
    if not members:
        return UNBOUND_REPLY
    member = members[0]  # one per organisation: the one with an open question, else the first bound
    if len(members) > 1:
        open_orgs = dialog_orgs(session, inbound.channel, inbound.user_id)
        member = next((m for m in members if m.org_id in open_orgs), member)
    ctx = Context(session, platform, inbound, services, member.org_id, member.id)
    if inbound.kind == "voice":
        return _guarded(session, lambda: handlers.voice(ctx))
    if inbound.kind == "image":
        return _guarded(session, lambda: handlers.image(ctx))
    if intent is None:
        return "暂时只支持文字、语音和图片消息。发送“帮助”查看用法"
    reply = _guarded(session, lambda: handlers.dispatch(ctx, intent))
    if inbound.recognition:
        reply = f"听到：{text}\n{reply}"
    return reply


def _guarded(session: Session, fn: Callable[[], str]) -> str:
    """Run a handler in a savepoint: a domain error becomes its Chinese message and writes nothing."""
    savepoint = session.begin_nested()
    try:
        reply = fn()
    except DomainError as exc:
        savepoint.rollback()
        return handlers_error_text(exc)
    savepoint.commit()
    return reply


def handlers_error_text(exc: DomainError) -> str:
    """The reply for a refused request: the error's own Chinese message, with a hint where useful."""
    from models.errors import InsufficientStock, PermissionDenied

    if isinstance(exc, PermissionDenied):
        return f"{exc.message}。如需开通请联系管理员"
    if isinstance(exc, InsufficientStock):
        return f"{exc.message}，未登记。请核对数量后重新发送"
    return exc.message
