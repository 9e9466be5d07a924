"""DingTalk interactive card callbacks: verify, parse, call the operation, answer with the new card.

A channel like any other: the decision goes through ``decide_transfer`` / ``decide_approval``;
the relay then updates the card for every viewer (``approval.decided``). The first decision
wins: a replayed callback replays the first answer (idempotency key), a later tap gets the
card as decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy.orm import Session, sessionmaker

from app.settings import current
from cards.approval import dingtalk_card
from models.approvals import ApprovalRequest
from models.errors import (
    ApprovalNotOpened,
    IdempotencyConflict,
    InvalidState,
    PermissionDenied,
    ValidationError,
)
from models.operations.approvals import DecideApproval, decide_approval
from models.queries.documents import card_target
from models.uow import run
from workflows.approvals import card_for

bp = Blueprint("cards", __name__, url_prefix="/cards")


@dataclass(frozen=True)
class CardAction:
    out_track_id: str
    user_id: str
    action: str
    reason: str


def parse_action(body: dict[str, Any]) -> CardAction:
    """Read DingTalk's callback body: outTrackId, userId and content.cardPrivateData."""
    content = body.get("content") or "{}"
    data = json.loads(content) if isinstance(content, str) else content
    private = data.get("cardPrivateData") or {}
    actions = private.get("actionIds") or []
    params = private.get("params") or {}
    if not body.get("outTrackId") or not body.get("userId") or not actions:
        raise ValueError("not a card action")
    return CardAction(str(body["outTrackId"]), str(body["userId"]), str(actions[0]), str(params.get("reason", "")))


def _track_base(out_track_id: str) -> str:
    return out_track_id.rsplit("-L", 1)[0]


def apply_card_action(session_factory: sessionmaker[Session], action: CardAction) -> dict[str, str]:
    """Decide the approval behind a card for the member who tapped; return the card as it now stands."""
    with session_factory() as session:
        target = card_target(session, _track_base(action.out_track_id), action.user_id)
    actor, request_id = target.actor, target.request_id
    if action.action in ("approve", "reject"):
        try:
            run(session_factory, decide_approval, actor,
                DecideApproval(request_id, action.action == "approve", action.reason),
                idempotency_key=f"card:{action.out_track_id}:{action.user_id}")
        except (InvalidState, IdempotencyConflict):
            pass  # decided already (or a replay): the card as it stands is the answer
        except (PermissionDenied, ValidationError, ApprovalNotOpened) as exc:  # incl. SELF_APPROVAL
            return {**_card(session_factory, request_id), "error": exc.message}
    return _card(session_factory, request_id)


def _card(session_factory: sessionmaker[Session], request_id: int) -> dict[str, str]:
    with session_factory() as session:
        return dingtalk_card(card_for(session, session.get_one(ApprovalRequest, request_id)))


def _crypto() -> Any:
    from dingtalk.crypto import DingTalkCrypto

    # The app's settings; a bare app (the blueprint mounted alone) falls back to the process's.
    ding = (current_app.extensions["liuzhuan"].get("settings") or current()).dingtalk
    token, aes_key, app_key = ding.callback_token, ding.callback_aes_key, ding.app_key
    if not (token and aes_key and app_key):
        abort(503, "DingTalk callback is not configured")
    return DingTalkCrypto(token, aes_key, app_key)


@bp.post("/dingtalk/callback")
def dingtalk_callback() -> Any:
    """Verify the encrypted callback, apply the tap, answer with the card data."""
    envelope = request.get_json(silent=True) or {}
    try:
        plain = _crypto().decrypt_encrypt_str(
            request.args.get("signature", ""), request.args.get("timestamp", ""), request.args.get("nonce", ""),
            envelope.get("encrypt", ""))
        action = parse_action(json.loads(plain))
    except Exception:  # (bad signature, bad cipher text, bad JSON: all the same to the sender)
        abort(403)
    factory = current_app.extensions["liuzhuan"]["session_factory"]
    params = apply_card_action(factory, action)
    return jsonify({"cardData": {"cardParamMap": params}})
