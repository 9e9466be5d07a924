"""协同 · Webhook: subscriptions (no secrets), their delivery log, subscribe, pause and resume."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.operations.rules import TRIGGERS
from models.operations.webhooks import (
    SubscribeWebhook,
    SwitchWebhook,
    subscribe_webhook,
    switch_webhook,
)
from models.queries.workflow_config import list_webhooks, webhook_deliveries

DELIVERY_STATUS = {"delivered": "已送达", "pending": "待发送", "failed": "失败"}
RUN_STATUS = {"done": "完成", "retry": "等待重试", "dead": "已放弃（死信）", "queued": "排队中", "running": "发送中"}


def _page(*, status: int = 200, error: str | None = None, url: str = "", kinds: list[str] | None = None,
          secret: str | None = None) -> ResponseReturnValue:
    who = actor()
    return render("console/collaboration/webhooks.html", status=status, subs=list_webhooks(read_db(), who),
                  triggers=TRIGGERS, error=error, url=url, chosen=kinds or [], secret=secret,
                  may_change=can_anywhere(who, Permission.ROLES))


@bp.get("/collaboration/webhooks")
@member_page(Permission.RULES)
def collaboration_webhooks() -> ResponseReturnValue:
    return _page()


@bp.post("/collaboration/webhooks")
@member_page(Permission.RULES)
def collaboration_webhook_add() -> ResponseReturnValue:
    url = request.form.get("url", "").strip()[:2000]
    kinds = [k[:64] for k in request.form.getlist("kinds")][:60]
    try:
        # No idempotency key on purpose: the answer carries the secret, which must never be stored in an
        # idempotency record. A double submit makes a second subscription, shown in the list.
        sub = call(subscribe_webhook, SubscribeWebhook(url=url, kinds=tuple(kinds)))
    except DomainError as exc:
        return _page(status=exc.http_status, error=f"{exc.message}（{exc.code}）", url=url, kinds=kinds)
    # The secret is shown on this one answer (not a redirect: it must not sit in a flash cookie).
    return _page(status=201, secret=sub.secret)


@bp.post("/collaboration/webhooks/<int:sub_id>/switch")
@member_page(Permission.RULES)
def collaboration_webhook_switch(sub_id: int) -> ResponseReturnValue:
    active = request.form.get("enabled") == "1"
    call(switch_webhook, SwitchWebhook(sub_id, active))  # idempotent by state
    return done("Webhook 已恢复推送" if active else "Webhook 已暂停推送", url_for("console.collaboration_webhooks"))


@bp.get("/collaboration/webhooks/<int:sub_id>")
@member_page(Permission.RULES)
def collaboration_webhook_log(sub_id: int) -> ResponseReturnValue:
    who = actor()
    lines = webhook_deliveries(read_db(), who, sub_id, limit=200)  # another org's id: NotFound → error page
    sub: Any = next((s for s in list_webhooks(read_db(), who) if s.id == sub_id), None)
    return render("console/collaboration/webhook_log.html", sub=sub, lines=lines, statuses=DELIVERY_STATUS,
                  runs=RUN_STATUS, triggers=TRIGGERS)
