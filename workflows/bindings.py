"""Tell a member when a new chat or mini-program account was bound to them (or unbound)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.infra import OutboxEvent
from models.org import IdentityProvider, Member
from models.timeutil import SHANGHAI
from workflows.notify import claim, record
from workflows.outbound import deferred, outbound
from workflows.relay import registry

PROVIDER_LABELS = {
    "wechat_openid": "微信", "wechat_unionid": "微信", "wecom_userid": "企业微信", "dingtalk_userid": "钉钉",
}
WECHAT_TEMPLATE_ID = "account-security"
HANDLER = "bindings.tell_member"


@registry.register("member.identity_bound", HANDLER)
@deferred
def tell_member(session: Session, event: OutboxEvent) -> None:
    """Send the notice to the member's other accounts; with none, leave it in their notifications.
    The sends go out after the relay's transaction (workflows.outbound)."""
    p = event.payload
    member = session.get(Member, int(p["member_id"]))
    if member is None or member.org_id != event.org_id:
        return
    label = PROVIDER_LABELS.get(str(p.get("provider")), "新")
    when = event.created_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    title = "账号绑定提醒"
    body = (f"{member.name}：{when} 有一个{label}账号（{p.get('external_hint', '')}）绑定到了您的成员账号。"
            "如果不是您本人操作，请立即联系管理员解除绑定。")
    others = [i for i in member.identities if i.id != p.get("identity_id")]
    with outbound(session, event) as out:
        for ident in others:
            claimed = claim(session, event.org_id, channel=ident.provider.value[:16], member_id=member.id,
                            kind=event.kind, title=title, body=body, dedupe_key=f"{event.id}:{HANDLER}:{ident.id}")
            if claimed is None:  # already told on this account (a re-run)
                continue
            note = claimed[0]
            if ident.provider == IdentityProvider.DINGTALK_USERID:
                out.send_card(f"note-{note.id}", [ident.external_id],
                              {"title": title, "summary": body, "decided": "true", "buttons": "[]"})
            elif ident.provider == IdentityProvider.WECHAT_OPENID:
                out.send_subscribe(ident.external_id, {
                    "template_id": WECHAT_TEMPLATE_ID, "page": "pages/me/bindings",
                    "data": {"thing1": {"value": title}, "thing2": {"value": f"{label}账号已绑定"[:20]},
                             "time3": {"value": when}}})
            out.deliver(note)
    if not others:  # the first account: the notice waits in the member's notifications
        record(session, event.org_id, channel="inbox", member_id=member.id, kind=event.kind, title=title,
               body=body, dedupe_key=f"{event.id}:{HANDLER}:inbox")
