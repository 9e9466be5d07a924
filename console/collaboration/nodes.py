"""协同 · 站点节点: edge nodes with their sites, last contact, lag (seconds and rows), rows up/down and open
conflicts, and the list of open sync conflicts (both sides' facts, rule, proposal, the to-do); register
(key shown once), rotate the key (shown once), deactivate. Reading needs 查看规则 (RULES); changing
needs 分配角色 (ROLES), checked again in each operation."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.operations.nodes import (
    DeactivateNode,
    NodeKey,
    RegisterNode,
    RotateNodeKey,
    deactivate_node,
    register_node,
    rotate_node_key,
)
from models.queries.nodes import list_nodes, node_site_choices, open_conflicts


def _page(*, status: int = 200, error: str | None = None, issued: NodeKey | None = None, code: str = "",
          name: str = "", chosen: list[int] | None = None) -> ResponseReturnValue:
    who = actor()
    session = read_db()
    return render("console/collaboration/nodes.html", status=status, nodes=list_nodes(session, who),
                  conflicts=open_conflicts(session, who),
                  sites=node_site_choices(session, who), error=error, issued=issued, code=code, name=name,
                  chosen=chosen or [], hq_url=current_app.extensions["liuzhuan"]["settings"].public_base_url,
                  may_change=can_anywhere(who, Permission.ROLES))


def _ids(raw: list[str]) -> tuple[int, ...]:
    # Junk ids are dropped here; the operation refuses an empty choice and another org's site.
    return tuple(int(v) for v in raw[:60] if v.isdigit() and len(v) < 16)


@bp.get("/collaboration/nodes")
@member_page(Permission.RULES)
def collaboration_nodes() -> ResponseReturnValue:
    return _page()


@bp.post("/collaboration/nodes")
@member_page(Permission.RULES)
def collaboration_node_add() -> ResponseReturnValue:
    code = request.form.get("code", "").strip().upper()[:16]
    name = request.form.get("name", "").strip()[:100]
    site_ids = _ids(request.form.getlist("site_ids"))
    try:
        # No idempotency key on purpose: the answer carries the key, which must never sit in an
        # idempotency record. A double submit is refused as a duplicate code.
        issued = call(register_node, RegisterNode(code=code, site_ids=site_ids, name=name))
    except DomainError as exc:
        return _page(status=exc.http_status, error=f"{exc.message}（{exc.code}）", code=code, name=name,
                     chosen=list(site_ids))
    # Shown on this one answer (not a redirect: the key must not sit in a flash cookie).
    return _page(status=201, issued=issued)


@bp.post("/collaboration/nodes/<int:node_id>/rotate")
@member_page(Permission.RULES)
def collaboration_node_rotate(node_id: int) -> ResponseReturnValue:
    try:
        issued = call(rotate_node_key, RotateNodeKey(node_id, reason="管理台更换密钥"))
    except DomainError as exc:
        return _page(status=exc.http_status, error=f"{exc.message}（{exc.code}）")
    return _page(issued=issued)


@bp.post("/collaboration/nodes/<int:node_id>/deactivate")
@member_page(Permission.RULES)
def collaboration_node_deactivate(node_id: int) -> ResponseReturnValue:
    call(deactivate_node, DeactivateNode(node_id, reason="管理台停用"))  # idempotent by state
    return done("站点节点已停用，它的请求从现在起会被拒绝", url_for("console.collaboration_nodes"))
