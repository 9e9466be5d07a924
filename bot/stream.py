"""DingTalk Stream mode: no public URL needed. Run as its own process (`python -m bot.stream`).

The dingtalk-stream SDK holds a WebSocket to DingTalk; robot messages arrive as callbacks with
the same JSON as the HTTP callback and go through the same engine and handlers. Replies go
back through the message's session webhook, as the SDK's ``reply_text`` does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import dingtalk_stream
from dingtalk_stream import AckMessage, ChatbotMessage
from sqlalchemy.orm import Session, sessionmaker

from bot.dingtalk import inbound_from_robot
from bot.engine import BotServices, ChatPlatform, handle_inbound
from bot.platforms import BotConfig, DingTalk

log = logging.getLogger(__name__)


class BotStreamHandler(dingtalk_stream.ChatbotHandler):
    """Feed Stream-mode robot messages to the bot engine."""

    def __init__(self, session_factory: sessionmaker[Session], platform: ChatPlatform, services: BotServices) -> None:
        super().__init__()
        self.session_factory, self.platform, self.services = session_factory, platform, services

    def answer(self, data: dict[str, Any]) -> str:
        """Answer one robot message (synchronously: database work)."""
        return handle_inbound(self.session_factory, self.platform, inbound_from_robot(data), self.services)

    async def process(self, callback: dingtalk_stream.CallbackMessage) -> tuple[int, str]:
        data = callback.data if isinstance(callback.data, dict) else {}
        if not data.get("msgId") or not data.get("senderStaffId"):
            return AckMessage.STATUS_OK, "ignored"
        reply = await asyncio.to_thread(self.answer, data)
        if reply:
            await asyncio.to_thread(self.reply_text, reply, ChatbotMessage.from_dict(data))
        return AckMessage.STATUS_OK, "OK"


def main() -> None:
    """Connect to DingTalk with the app's key and secret and serve robot messages forever."""
    from app.settings import Settings
    from models import node
    from models.db import make_engine, make_session_factory

    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    node.configure(settings.node_name)  # receipts typed in DingTalk are numbered as this node's
    config = BotConfig.from_settings(settings)
    if not (config.dingtalk_app_key and config.dingtalk_app_secret):
        # Idle instead of exiting: under honcho (make run) one exiting process stops them all.
        log.warning("DingTalk Stream mode not configured (DINGTALK_APP_KEY/DINGTALK_APP_SECRET); idle")
        threading.Event().wait()
        return
    factory = make_session_factory(make_engine(settings.database_url))
    handler = BotStreamHandler(factory, DingTalk(config), BotServices(config.vosk_model_path, config.media_root))
    client = dingtalk_stream.DingTalkStreamClient(
        dingtalk_stream.Credential(config.dingtalk_app_key, config.dingtalk_app_secret))
    client.register_callback_handler(ChatbotMessage.TOPIC, handler)
    client.start_forever()


if __name__ == "__main__":
    main()
