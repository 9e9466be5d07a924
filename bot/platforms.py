"""Bot settings and the real ChatPlatform implementations (wechatpy, alibabacloud-dingtalk).

``LIUZHUAN_PLATFORM_API_BASE`` points every SDK client at a local stub (tests, development
without credentials); the SDKs themselves are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.settings import Settings
from models.errors import ValidationError
from models.org import IdentityProvider
from platforms.dingtalk import dingtalk_tokens
from platforms.redirect import dingtalk_sdk_config
from platforms.wechat import wechat_client, wecom_client


@dataclass(frozen=True)
class BotConfig:
    """Credentials of each platform; a platform without its token is simply not served."""

    wechat_token: str = ""
    wechat_aes_key: str = ""
    wechat_appid: str = ""
    wechat_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_corp_id: str = ""
    wecom_secret: str = ""
    wecom_agent_id: str = ""
    dingtalk_app_key: str = ""
    dingtalk_app_secret: str = ""
    dingtalk_robot_code: str = ""
    dingtalk_event_token: str = ""
    dingtalk_event_aes_key: str = ""
    #: Stub server base URL for every outbound SDK call (None: the platforms' real hosts).
    api_base: str | None = None
    vosk_model_path: str | None = None
    media_root: Path = Path("var/media")
    #: Seconds a signed request's timestamp may differ from our clock.
    wechat_window: int = 300
    #: DingTalk documents 1 h for the robot's timestamp header; the header is the send time, so a
    #: shorter window (clock skew plus delivery) shrinks what a captured (timestamp, sign) is worth.
    dingtalk_window: int = 300
    #: Event subscriptions sign their (encrypted) body, and a redelivery is deduped: DingTalk's hour.
    dingtalk_event_window: int = 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotConfig:
        """Read the bot settings from the environment (or a dict), through the one settings object."""
        return cls.from_settings(Settings.from_env(env))

    @classmethod
    def from_settings(cls, s: Settings) -> BotConfig:
        """The bot's view of the settings."""
        return cls(
            wechat_token=s.wechat.token, wechat_aes_key=s.wechat.aes_key,
            wechat_appid=s.wechat.app_id, wechat_secret=s.wechat.secret,
            wecom_token=s.wecom.token, wecom_aes_key=s.wecom.aes_key,
            wecom_corp_id=s.wecom.corp_id, wecom_secret=s.wecom.secret, wecom_agent_id=s.wecom.agent_id,
            dingtalk_app_key=s.dingtalk.app_key, dingtalk_app_secret=s.dingtalk.app_secret,
            dingtalk_robot_code=s.dingtalk.robot,
            dingtalk_event_token=s.dingtalk.event_token, dingtalk_event_aes_key=s.dingtalk.event_aes_key,
            api_base=s.platform_api_base, vosk_model_path=s.vosk_model_path, media_root=s.media_root,
            wechat_window=s.wechat.window_s, dingtalk_window=s.dingtalk.robot_window_s,
        )

    def check(self, *, production: bool) -> None:
        """Refuse bot settings that would accept forgeable callbacks, before anything starts."""
        for name, window in (("WECHAT_WINDOW_S", self.wechat_window), ("DINGTALK_ROBOT_WINDOW_S",
                                                                        self.dingtalk_window)):
            if not 10 <= window <= 3600:
                raise ValidationError(f"{name} 必须在 10 到 3600 秒之间", field=name)
        # Plain mode signs only token+timestamp+nonce, never the message: production needs AES.
        if production and self.wechat_token and not self.wechat_aes_key:
            raise ValidationError("生产环境的微信公众号回调必须使用安全模式：请设置 WECHAT_AES_KEY",
                                  field="WECHAT_AES_KEY")
        if production and self.wecom_token and not self.wecom_aes_key:
            raise ValidationError("生产环境的企业微信回调必须设置 WECOM_AES_KEY", field="WECOM_AES_KEY")


class WeChatOfficial:
    """WeChat official account: media download and customer-service messages."""

    channel = "wechat"
    provider = IdentityProvider.WECHAT_OPENID

    def __init__(self, config: BotConfig) -> None:
        self.config = config

    @property
    def client(self) -> Any:
        # Shared by every adapter of this app in the process (bot.push builds one per message): one token.
        return wechat_client(self.config.wechat_appid, self.config.wechat_secret, api_base=self.config.api_base)

    def fetch_media(self, media_id: str) -> bytes:
        # media.download() as wechatpy does it, with a timeout (download() takes none).
        resp = self.client.media._get("media/get", params={"media_id": media_id}, timeout=MEDIA_TIMEOUT_S)
        if resp.headers.get("Content-Type", "").startswith(("application/json", "text/plain")):
            raise RuntimeError(f"WeChat media download failed: {resp.text[:200]}")
        return resp.content

    def push_text(self, user_id: str, text: str) -> None:
        self.client.message.send_text(user_id, text)


#: A photo is fetched while the platform waits for the reply (WeChat gives up after 5 s and retries):
#: past this the download is abandoned and the member is asked to resend, inside the budget.
MEDIA_TIMEOUT_S = 3.0


class WeCom:
    """WeCom self-built app: media download and app messages."""

    channel = "wecom"
    provider = IdentityProvider.WECOM_USERID

    def __init__(self, config: BotConfig) -> None:
        self.config = config

    @property
    def client(self) -> Any:
        # Shared by every adapter of this app in the process: one token, fetched once.
        return wecom_client(self.config.wecom_corp_id, self.config.wecom_secret, api_base=self.config.api_base)

    def fetch_media(self, media_id: str) -> bytes:
        # wechatpy's WeCom download uses bare requests.get; go through the client's session instead.
        resp = self.client._http.get(self.client.media.get_url(media_id), timeout=MEDIA_TIMEOUT_S)
        resp.raise_for_status()
        if resp.headers.get("Content-Type", "").startswith(("application/json", "text/plain")):
            raise RuntimeError(f"WeCom media download failed: {resp.text[:200]}")
        return resp.content

    def push_text(self, user_id: str, text: str) -> None:
        self.client.message.send_text(self.config.wecom_agent_id, user_id, text)


class DingTalk:
    """DingTalk internal-app robot: file download and one-to-one robot messages (new OpenAPI)."""

    channel = "dingtalk"
    provider = IdentityProvider.DINGTALK_USERID

    def __init__(self, config: BotConfig) -> None:
        self.config = config

    def _sdk_config(self) -> Any:
        return dingtalk_sdk_config(self.config.api_base)

    def _token(self) -> str:
        # Cached per app for the whole process (it used to be fetched on every call), shared with the
        # approval cards and the mini-program login.
        return dingtalk_tokens(self.config.dingtalk_app_key, self.config.dingtalk_app_secret,
                               self.config.api_base).get()

    def fetch_media(self, media_id: str) -> bytes:
        from alibabacloud_dingtalk.robot_1_0 import client as robot_client
        from alibabacloud_dingtalk.robot_1_0 import models as robot_models
        from alibabacloud_tea_util.models import RuntimeOptions

        resp = robot_client.Client(self._sdk_config()).robot_message_file_download_with_options(
            robot_models.RobotMessageFileDownloadRequest(download_code=media_id,
                                                         robot_code=self.config.dingtalk_robot_code),
            robot_models.RobotMessageFileDownloadHeaders(x_acs_dingtalk_access_token=self._token()),
            RuntimeOptions())
        got = requests.get(resp.body.download_url, timeout=MEDIA_TIMEOUT_S)
        got.raise_for_status()
        return got.content

    def push_text(self, user_id: str, text: str) -> None:
        from alibabacloud_dingtalk.robot_1_0 import client as robot_client
        from alibabacloud_dingtalk.robot_1_0 import models as robot_models
        from alibabacloud_tea_util.models import RuntimeOptions

        robot_client.Client(self._sdk_config()).batch_send_otowith_options(
            robot_models.BatchSendOTORequest(robot_code=self.config.dingtalk_robot_code, user_ids=[user_id],
                                             msg_key="sampleText", msg_param=json.dumps({"content": text},
                                                                                         ensure_ascii=False)),
            robot_models.BatchSendOTOHeaders(x_acs_dingtalk_access_token=self._token()), RuntimeOptions())


def platform_for(channel: str, config: BotConfig) -> WeChatOfficial | WeCom | DingTalk:
    """The platform adapter of a channel name."""
    adapters: dict[str, type[WeChatOfficial | WeCom | DingTalk]] = {
        "wechat": WeChatOfficial, "wecom": WeCom, "dingtalk": DingTalk}
    return adapters[channel](config)
