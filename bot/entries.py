"""Stock-changing entries as a dialog: parse → ask back (numbered options) → echo → 确认/取消 → operation.

The draft travels in the database (``models.chat``), so any worker can take the next message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.engine import Context
from bot.resolve import amount_of, blank, find_amount, find_grade, find_items, find_parties, find_sites, item_by_id
from models.actor import Permission
from models.catalog import Item
from models.chat import ChatDialog, DialogState, close_dialog, save_dialog
from models.errors import InsufficientStock, NotFound, QuantityAmbiguous, StockFrozen, ValidationError
from models.operations import (
    CountStock,
    ReceiveGoods,
    RequestTransfer,
    ShipGoods,
    TransferLineIn,
    count_stock,
    receive_goods,
    request_transfer,
    ship_goods,
)
from models.operations.evidence import AttachEvidence, attach_evidence
from models.org import Party, PartyKind, Site, SiteKind
from models.queries.stock_availability import availability_at
from models.units import units_for_item

VERB = {"receive": "入库", "ship": "出库", "count": "盘点", "transfer": "调拨"}
PERMISSION = {"receive": Permission.RECEIVE, "ship": Permission.SHIP, "count": Permission.COUNT,
              "transfer": Permission.TRANSFER_REQUEST}
FIELD_LABEL = {"item_id": "商品", "site_id": "地点", "grade_id": "等级", "from_site_id": "调出地点",
               "to_site_id": "调入地点", "amount": "数量"}
CONFIRM_HINT = "回复“确认”提交，回复“取消”放弃（10分钟内有效）"


def start(ctx: Context, kind: str, text: str, urgent: bool = False) -> str:
    """Parse a new entry from text and take it as far as it goes (question or echo)."""
    draft: dict[str, Any] = {"kind": kind, "text": text, "urgent": urgent}
    hits = find_items(ctx.session, ctx.org_id, text)
    if not hits:
        raise NotFound(f"没有找到商品，请写明商品名，例如：{VERB[kind]} 茶青 23.5公斤。{_item_names(ctx)}")
    if len(hits) == 1:
        draft["item_id"] = hits[0].id
    else:
        return _ask(ctx, draft, "item_id", [(h.id, h.label) for h in hits])
    return advance(ctx, draft)


def advance(ctx: Context, draft: dict[str, Any], evidence: list[int] | None = None) -> str:
    """Fill what the text gives, ask for what is missing or ambiguous, else echo for confirmation."""
    s, org, kind = ctx.session, ctx.org_id, draft["kind"]
    item = item_by_id(s, org, draft["item_id"])
    text = draft["text"]
    item_hit = next((h for h in find_items(s, org, text) if h.id == item.id), None)
    site_hits = find_sites(s, org, text)
    rest = blank(text, item_hit, *site_hits)
    if kind == "transfer":
        question = _transfer_sites(ctx, draft, site_hits, text)
    else:
        question = _one_site(ctx, draft, site_hits, PERMISSION[kind])
    if question:
        return question
    if kind in ("receive", "ship"):
        kinds = (PartyKind.FARMER, PartyKind.SUPPLIER) if kind == "receive" else (PartyKind.CUSTOMER,)
        parties = find_parties(s, org, rest, kinds)
        if parties:
            draft.setdefault("party_id", parties[0].id)
            rest = blank(rest, *parties)
    if kind == "receive" and item.grades:
        grade = find_grade(item, rest)
        if grade:
            draft.setdefault("grade_id", grade.id)
            rest = blank(rest, grade)
        elif "grade_id" not in draft:
            options = [(g.id, f"{g.name}（{g.purchase_price.normalize():f}元/{item.base_unit}）")
                       for g in sorted(item.grades, key=lambda g: g.rank)]
            return _ask(ctx, draft, "grade_id", options)
    if "amount" in draft:  # the answer to "which quantity?"
        draft["quantity"], draft["unit"], draft["said"] = draft.pop("amount")
    if "quantity" not in draft:
        try:
            amount = find_amount(s, item, rest)
        except QuantityAmbiguous as exc:
            if len(exc.candidates) < 2:
                raise
            # Two different quantities: ask which one, never pick one (nor add them up).
            units = units_for_item(s, item)
            amounts: list[tuple[Any, str]] = []
            for parsed in exc.candidates:
                a = amount_of(parsed, item, units)
                label = f"{a.quantity.normalize():f}{a.unit or item.base_unit}（{parsed.text}）"
                amounts.append(([str(a.quantity), a.unit, a.text], label))
            return _ask(ctx, draft, "amount", amounts)
        draft["quantity"], draft["unit"], draft["said"] = str(amount.quantity), amount.unit, amount.text
    _precheck(ctx, draft, item)
    save_dialog(s, org_id=org, channel=ctx.inbound.channel, external_id=ctx.inbound.user_id,
                member_id=ctx.member_id, state=DialogState.CONFIRMING, intent=draft, evidence=evidence)
    return f"请确认{VERB[kind]}：\n{describe(ctx, draft, item)}\n{CONFIRM_HINT}"


def pick(ctx: Context, dialog: ChatDialog, number: int) -> str:
    """Take a numbered answer to the open question and carry on."""
    question = dialog.question or {}
    options = question.get("options", [])
    if not 1 <= number <= len(options):
        return f"请回复 1 到 {len(options)} 之间的数字，或回复“取消”"
    draft = dict(dialog.intent)
    draft[question["field"]] = options[number - 1][0]
    return advance(ctx, draft, evidence=list(dialog.evidence or []))


def confirm(ctx: Context, dialog: ChatDialog) -> str:
    """Run the confirmed entry through its operation, attach photos, close the dialog."""
    draft, evidence = dict(dialog.intent), list(dialog.evidence or [])
    close_dialog(ctx.session, dialog)
    qty, unit = Decimal(draft["quantity"]), draft.get("unit")
    s, actor, kind = ctx.session, ctx.actor, draft["kind"]
    if kind == "receive":
        r = receive_goods(s, actor, ReceiveGoods(site_id=draft["site_id"], item_id=draft["item_id"], quantity=qty,
                                                 unit=unit, party_id=draft.get("party_id"),
                                                 grade_id=draft.get("grade_id"), note="聊天登记"))
        doc_id, reply = r.document_id, f"已入库 {r.number}：{r.entered_quantity.normalize():f}{r.entered_unit}"
        if r.status == "draft":  # above the item's plausibility limit: a second person confirms it
            reply = (f"已登记 {r.number}：{r.entered_quantity.normalize():f}{r.entered_unit}，"
                     "数量较大，待另一位收货员复核后入库")
        elif r.total:
            reply += f"，金额 {r.total} 元"
        if r.prepayment:
            reply += f"，预付 {r.prepayment} 元"
    elif kind == "ship":
        sh = ship_goods(s, actor, ShipGoods(site_id=draft["site_id"], item_id=draft["item_id"], quantity=qty,
                                            unit=unit, party_id=draft.get("party_id"), note="聊天登记"))
        doc_id, reply = sh.document_id, f"已出库 {sh.number}：{sh.quantity.normalize():f}{sh.base_unit}"
    elif kind == "count":
        c = count_stock(s, actor, CountStock(site_id=draft["site_id"], item_id=draft["item_id"], counted=qty,
                                             unit=unit, note="聊天盘点"))
        diff = c.difference.normalize()
        doc_id = c.document_id
        reply = (f"已盘点 {c.number}：账面 {c.expected.normalize():f}{c.base_unit}，实盘 "
                 f"{c.counted.normalize():f}{c.base_unit}，{'盘盈' if diff > 0 else '盘亏' if diff < 0 else '无差异'}"
                 + (f" {abs(diff):f}{c.base_unit}" if diff else ""))
    else:
        t = request_transfer(s, actor, RequestTransfer(
            from_site_id=draft["from_site_id"], to_site_id=draft["to_site_id"],
            lines=(TransferLineIn(draft["item_id"], qty, unit),), urgent=bool(draft.get("urgent")),
            reason="聊天申请"))
        doc_id = t.document_id
        reply = f"已提交调拨申请 {t.number}（{t.status_label}{'，加急' if t.urgent else ''}），等待审批"
    pending = tuple(i for i in evidence if isinstance(i, int))  # ids; a pre-upgrade dialog's keys are dropped
    if pending:
        kept = attach_evidence(s, actor, AttachEvidence(document_id=doc_id, pending_ids=pending))
        reply += f"，附照片 {len(kept.photo_ids)} 张"
    return reply


def describe(ctx: Context, draft: dict[str, Any], item: Item) -> str:
    """The parsed values, as the echo shows them."""
    s = ctx.session
    qty = f"{Decimal(draft['quantity']).normalize():f}{draft.get('unit') or item.base_unit}"
    lines = [f"商品：{item.name}"]
    if draft["kind"] == "transfer":
        source, dest = s.get_one(Site, draft["from_site_id"]), s.get_one(Site, draft["to_site_id"])
        lines.append(f"从：{source.name} → 到：{dest.name}")
        if draft.get("urgent"):
            lines.append("加急：是")
    else:
        lines.append(f"地点：{s.get_one(Site, draft['site_id']).name}")
    if draft.get("grade_id"):
        grade = next(g for g in item.grades if g.id == draft["grade_id"])
        lines.append(f"等级：{grade.name}（{grade.purchase_price.normalize():f}元/{item.base_unit}）")
    lines.append(f"{'实盘数量' if draft['kind'] == 'count' else '数量'}：{qty}")
    if draft.get("party_id"):
        lines.append(f"{'客户' if draft['kind'] == 'ship' else '交货人'}：{s.get_one(Party, draft['party_id']).name}")
    return "\n".join(lines)


def _precheck(ctx: Context, draft: dict[str, Any], item: Item) -> None:
    """Refuse at once what the operation would refuse anyway: no permission, overselling."""
    from models.units import to_base

    kind, actor = draft["kind"], ctx.actor
    site_id = draft["from_site_id"] if kind == "transfer" else draft["site_id"]
    if kind == "transfer":
        if draft["from_site_id"] == draft["to_site_id"]:
            raise ValidationError("调出和调入地点不能相同")
        if not (actor.can(PERMISSION[kind], draft["from_site_id"]) or actor.can(PERMISSION[kind], draft["to_site_id"])):
            actor.require(PERMISSION[kind], draft["to_site_id"])
    else:
        actor.require(PERMISSION[kind], site_id)
    base = to_base(ctx.session, item, Decimal(draft["quantity"]), draft.get("unit"))
    if kind in ("ship", "transfer"):
        site = ctx.session.get_one(Site, site_id)
        # What ship_goods could ship now (freezes and QC held back), not the raw balance: a frozen
        # lot is named in the echo rather than refused later at 确认.
        level = availability_at(ctx.session, ctx.org_id, item.id, site_id)
        if not site.allow_negative and level.available < base:
            unit = item.base_unit
            held = "，".join(f"{label} {q.normalize():f}{unit}" for label, q in
                            (("已冻结", level.frozen), ("质检未通过", level.qc_held)) if q)
            if level.available == 0 and held:
                raise StockFrozen(f"{item.name} 在 {site.name} 的库存{held}，不能出库",
                                  item_id=item.id, site_id=site.id, frozen=f"{level.frozen.normalize():f}")
            raise InsufficientStock(f"库存不足：{item.name} 在 {site.name} 可用 {level.available.normalize():f}"
                                    f"{unit}，需要 {base.normalize():f}{unit}" + (f"（{held}）" if held else ""))


def _one_site(ctx: Context, draft: dict[str, Any], hits: list, permission: Permission) -> str | None:
    if "site_id" in draft:
        return None
    if len(hits) == 1:
        draft["site_id"] = hits[0].id
        return None
    if len(hits) > 1:
        return _ask(ctx, draft, "site_id", [(h.id, h.label) for h in hits])
    options = _allowed_sites(ctx, permission)
    if len(options) == 1:
        draft["site_id"] = options[0][0]
        return None
    if not options:
        ctx.actor.require(permission)
    return _ask(ctx, draft, "site_id", options)


def _transfer_sites(ctx: Context, draft: dict[str, Any], hits: list, text: str) -> str | None:
    if "→" in text and len(hits) >= 2:
        arrow = text.index("→")
        left = [h for h in hits if h.start < arrow]
        right = [h for h in hits if h.start > arrow]
        if left and right:
            draft.setdefault("from_site_id", left[-1].id)
            draft.setdefault("to_site_id", right[0].id)
    elif len(hits) >= 2:
        draft.setdefault("from_site_id", hits[0].id)
        draft.setdefault("to_site_id", hits[1].id)
    elif len(hits) == 1 and "to_site_id" not in draft and "from_site_id" not in draft:
        before = text[:hits[0].start]
        field = "to_site_id" if any(w in before for w in ("到", "往", "去", "至", "→", "给")) else "from_site_id"
        draft[field] = hits[0].id
    everything = _allowed_sites(ctx, None)
    for field in ("from_site_id", "to_site_id"):
        if field not in draft:
            other = draft.get("to_site_id" if field == "from_site_id" else "from_site_id")
            return _ask(ctx, draft, field, [o for o in everything if o[0] != other])
    return None


def _allowed_sites(ctx: Context, permission: Permission | None) -> list[tuple[int, str]]:
    from sqlalchemy import select

    allowed = ctx.actor.site_ids(permission) if permission is not None else None
    stmt = select(Site.id, Site.name).where(Site.org_id == ctx.org_id, Site.active.is_(True),
                                            Site.kind != SiteKind.IN_TRANSIT).order_by(Site.id)
    return [(sid, name) for sid, name in ctx.session.execute(stmt) if allowed is None or sid in allowed]


def _ask(ctx: Context, draft: dict[str, Any], field: str, options: list[tuple[Any, str]]) -> str:
    save_dialog(ctx.session, org_id=ctx.org_id, channel=ctx.inbound.channel, external_id=ctx.inbound.user_id,
                member_id=ctx.member_id, state=DialogState.CHOOSING, intent=draft,
                question={"field": field, "options": [list(o) for o in options]})
    numbered = "\n".join(f"{n}. {label}" for n, (_id, label) in enumerate(options, start=1))
    return f"请选择{FIELD_LABEL[field]}（回复数字）：\n{numbered}"


def _item_names(ctx: Context) -> str:
    from sqlalchemy import select

    names = ctx.session.scalars(select(Item.name).where(Item.org_id == ctx.org_id, Item.active.is_(True))
                                .order_by(Item.id).limit(8))
    return "可用商品：" + "、".join(names)
