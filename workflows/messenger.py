"""Outbound DingTalk cards and WeChat subscribe messages behind one small Protocol.

The real implementation uses the platform SDKs (alibabacloud-dingtalk ``card_1_0``, wechatpy);
``*_API_BASE`` points them elsewhere (platforms.redirect; a devstubs server in tests). Without
credentials a recording messenger keeps what would have been sent (development and the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.settings import Settings, current
from platforms.dingtalk import dingtalk_tokens
from platforms.redirect import dingtalk_sdk_config
from platforms.wechat import wechat_client

#: DingTalk's answer to createAndDeliver when the outTrackId already has a card instance.
CARD_EXISTS = "card.instance.exist"
#: DingTalk's answer to an update of an outTrackId that has no card instance.
CARD_MISSING = "card.instance.not.exist"


class Messenger(Protocol):
    def send_card(self, track_id: str, user_ids: list[str], params: dict[str, str]) -> None: ...
    def update_card(self, track_id: str, params: dict[str, str]) -> None: ...
    def send_subscribe(self, openid: str, message: dict[str, Any]) -> None: ...


@dataclass
class RecordingMessenger:
    """Keep every outbound message in memory (dev default, tests)."""

    sent: list[tuple[str, Any]] = field(default_factory=list)

    def send_card(self, track_id: str, user_ids: list[str], params: dict[str, str]) -> None:
        self.sent.append(("card", {"track_id": track_id, "user_ids": user_ids, "params": params}))

    def update_card(self, track_id: str, params: dict[str, str]) -> None:
        self.sent.append(("update", {"track_id": track_id, "params": params}))

    def send_subscribe(self, openid: str, message: dict[str, Any]) -> None:
        self.sent.append(("subscribe", {"openid": openid, **message}))


@dataclass
class PlatformMessenger:
    """DingTalk interactive cards (card_1_0) and WeChat subscribe messages (wechatpy)."""

    dingtalk_key: str
    dingtalk_secret: str
    card_template_id: str
    robot_code: str
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    dingtalk_base: str | None = None
    wechat_base: str | None = None

    def _config(self) -> Any:
        return dingtalk_sdk_config(self.dingtalk_base)

    def _access_token(self) -> str:
        # One token per app for the whole process, shared with the bot and the login (platforms.dingtalk).
        return dingtalk_tokens(self.dingtalk_key, self.dingtalk_secret, self.dingtalk_base).get()

    def _card_client(self) -> Any:
        from alibabacloud_dingtalk.card_1_0.client import Client

        return Client(self._config())

    def send_card(self, track_id: str, user_ids: list[str], params: dict[str, str]) -> None:
        from alibabacloud_dingtalk.card_1_0 import models as m
        from alibabacloud_tea_util.models import RuntimeOptions

        request = m.CreateAndDeliverRequest(
            out_track_id=track_id, card_template_id=self.card_template_id, callback_type="HTTP",
            card_data=m.CreateAndDeliverRequestCardData(card_param_map=params),
            open_space_id="dtv1.card//" + ";".join(f"IM_ROBOT.{u}" for u in user_ids),
            im_robot_open_space_model=m.CreateAndDeliverRequestImRobotOpenSpaceModel(support_forward=False),
            im_robot_open_deliver_model=m.CreateAndDeliverRequestImRobotOpenDeliverModel(
                space_type="IM_ROBOT", robot_code=self.robot_code),
            user_id_type=1,
        )
        headers = m.CreateAndDeliverHeaders(x_acs_dingtalk_access_token=self._access_token())
        try:
            self._card_client().create_and_deliver_with_options(request, headers, RuntimeOptions())
        except Exception as exc:
            # A retried send (the card went out, the handler failed after it) finds the outTrackId
            # taken: the card exists, so bring it up to date instead of failing on every retry.
            if getattr(exc, "code", None) != CARD_EXISTS:
                raise
            self.update_card(track_id, params)

    def update_card(self, track_id: str, params: dict[str, str]) -> None:
        from alibabacloud_dingtalk.card_1_0 import models as m
        from alibabacloud_tea_util.models import RuntimeOptions

        request = m.UpdateCardRequest(
            out_track_id=track_id, card_data=m.UpdateCardRequestCardData(card_param_map=params),
            card_update_options=m.UpdateCardRequestCardUpdateOptions(update_card_data_by_key=True),
            user_id_type=1,
        )
        headers = m.UpdateCardHeaders(x_acs_dingtalk_access_token=self._access_token())
        try:
            self._card_client().update_card_with_options(request, headers, RuntimeOptions())
        except Exception as exc:
            # No card under this outTrackId (that level's approvers have no DingTalk account, so
            # none was sent): nothing to update, and retrying would fail the same way forever.
            if getattr(exc, "code", None) != CARD_MISSING:
                raise

    def send_subscribe(self, openid: str, message: dict[str, Any]) -> None:
        if not self.wechat_appid or not self.wechat_secret:
            return
        # One client per app for the process, so its token is reused (it used to be fetched per message).
        client = wechat_client(self.wechat_appid, self.wechat_secret, api_base=self.wechat_base)
        client.wxa.send_subscribe_message(openid, message["template_id"], message["data"], page=message["page"])


_current: Messenger | None = None


def messenger_from_env(env: Mapping[str, str] | None = None) -> Messenger:
    """Build the messenger the environment asks for (recording when DingTalk is not configured)."""
    return messenger_for(current() if env is None else Settings.from_env(env))


def messenger_for(settings: Settings) -> Messenger:
    """Build the messenger ``settings`` ask for (recording when DingTalk is not configured)."""
    ding, mini = settings.dingtalk, settings.miniprogram
    if not ding.app_key:
        return RecordingMessenger()
    return PlatformMessenger(
        dingtalk_key=ding.app_key, dingtalk_secret=ding.app_secret, card_template_id=ding.card_template_id,
        robot_code=ding.robot, wechat_appid=mini.wechat_app_id, wechat_secret=mini.wechat_app_secret,
        dingtalk_base=ding.api_base, wechat_base=settings.wechat.api_base,
    )


def get_messenger() -> Messenger:
    """Return the process-wide messenger."""
    global _current
    if _current is None:
        _current = messenger_from_env()
    return _current


def set_messenger(messenger: Messenger | None) -> None:
    """Replace the process-wide messenger (tests, or None to re-read the environment)."""
    global _current
    _current = messenger
