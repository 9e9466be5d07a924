"""DingTalk interactive cards stand-in: createAndDeliver / update (card_1_0) and signed card callbacks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devstubs.server import StubRequest, StubResponse, StubServer


@dataclass
class CardStore:
    """Cards by outTrackId as DingTalk holds them: one shared card data, seen by every receiver."""

    cards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def params(self, track_id: str) -> dict[str, str]:
        return self.cards[track_id]["cardParamMap"]


def install_dingtalk_cards(server: StubServer) -> CardStore:
    """Answer POST /v1.0/card/instances/createAndDeliver and PUT /v1.0/card/instances."""
    store = CardStore()

    def _authorised(req: StubRequest) -> bool:
        return bool(req.headers.get("x-acs-dingtalk-access-token", "").strip('"').startswith("stub-ding-"))

    @server.route("POST", "/v1.0/card/instances/createAndDeliver")
    def create(req: StubRequest) -> StubResponse:
        if not _authorised(req):
            return StubResponse(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        body = req.json()
        track = body.get("outTrackId")
        if not track or not body.get("cardTemplateId"):
            return StubResponse(400, {"code": "param.invalid", "message": "outTrackId/cardTemplateId 必填"})
        if track in store.cards:
            return StubResponse(400, {"code": "card.instance.exist", "message": "outTrackId 已存在"})
        store.cards[track] = {"cardParamMap": dict((body.get("cardData") or {}).get("cardParamMap") or {}),
                              "openSpaceId": body.get("openSpaceId"), "updates": 0}
        return StubResponse(200, {"success": True, "result": {"outTrackId": track, "deliverResults": [
            {"spaceType": "IM_ROBOT", "spaceId": s, "success": True}
            for s in str(body.get("openSpaceId", "")).removeprefix("dtv1.card//").split(";")]}})

    @server.route("PUT", "/v1.0/card/instances")
    def update(req: StubRequest) -> StubResponse:
        if not _authorised(req):
            return StubResponse(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        body = req.json()
        card = store.cards.get(body.get("outTrackId", ""))
        if card is None:
            return StubResponse(400, {"code": "card.instance.not.exist", "message": "卡片不存在"})
        new = (body.get("cardData") or {}).get("cardParamMap") or {}
        if (body.get("cardUpdateOptions") or {}).get("updateCardDataByKey"):
            card["cardParamMap"].update(new)
        else:
            card["cardParamMap"] = dict(new)
        card["updates"] += 1
        return StubResponse(200, {"success": True, "result": True})

    return store


def card_callback(crypto: Any, *, out_track_id: str, user_id: str, action: str, reason: str = "",
                  corp_id: str = "ding-corp") -> tuple[dict[str, str], dict[str, str]]:
    """Build an encrypted card callback as DingTalk posts it: (query args, JSON body)."""
    content = json.dumps({"cardPrivateData": {"actionIds": [action], "params": {"reason": reason}}},
                         ensure_ascii=False)
    plain = json.dumps({"outTrackId": out_track_id, "userId": user_id, "corpId": corp_id, "content": content,
                        "type": "actionCallback"}, ensure_ascii=False)
    sealed = crypto.encrypt_message(plain)
    query = {"signature": sealed["msg_signature"], "timestamp": sealed["timeStamp"], "nonce": sealed["nonce"]}
    return query, {"encrypt": sealed["encrypt"]}
