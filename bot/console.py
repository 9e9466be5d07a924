"""Chat with the bot from a terminal, no platform needed: `python -m bot.console wecom zhou`.

Uses the configured database (DATABASE_URL or the embedded SQLite) and the same engine and
handlers as the platforms. The demo's chat ids: wechat demo-openid-wang (王阿姨), wecom zhou
(小周), dingtalk sun (老孙) / zhao (赵经理) / qian (钱总监).
"""

from __future__ import annotations

import argparse
import uuid

from app.settings import Settings
from bot.engine import BotServices, Inbound, handle_inbound
from bot.platforms import BotConfig
from models import node
from models.db import make_engine, make_session_factory
from models.org import IdentityProvider

_PROVIDERS = {"wechat": IdentityProvider.WECHAT_OPENID, "wecom": IdentityProvider.WECOM_USERID,
              "dingtalk": IdentityProvider.DINGTALK_USERID}


class ConsolePlatform:
    """A platform whose pushes print to the terminal and which has no media."""

    def __init__(self, channel: str) -> None:
        self.channel, self.provider = channel, _PROVIDERS[channel]

    def fetch_media(self, media_id: str) -> bytes:
        raise LookupError("the console has no media")

    def push_text(self, user_id: str, text: str) -> None:
        print(f"[推送给 {user_id}] {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("channel", choices=sorted(_PROVIDERS))
    parser.add_argument("user_id")
    args = parser.parse_args()
    settings = Settings.from_env()
    node.configure(settings.node_name)  # at an edge node, receipts typed here carry the node's code
    config = BotConfig.from_settings(settings)
    factory = make_session_factory(make_engine(settings.database_url))
    platform, services = ConsolePlatform(args.channel), BotServices(None, config.media_root)
    print("输入消息，Ctrl-D 退出。试试：帮助")
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if text:
            print(handle_inbound(factory, platform, Inbound(args.channel, args.user_id,
                                                            f"console:{uuid.uuid4()}", text=text), services))


if __name__ == "__main__":
    main()
