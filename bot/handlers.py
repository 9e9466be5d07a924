"""One handler per intent, written once for every platform (see ``bot.engine.ChatPlatform``)."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import entries
from bot.engine import UNBOUND_REPLY, ChatPlatform, Context, Inbound
from bot.intents import (
    Bind,
    BooksReport,
    Cancel,
    CashView,
    Confirm,
    Decide,
    Entry,
    Help,
    Intent,
    MarginQuery,
    MyDeliveries,
    MyPayments,
    PartyBalance,
    PartyStatement,
    Pick,
    StockQuery,
    Todos,
    TransferRequest,
    Unknown,
)
from bot.resolve import find_items, find_parties, find_sites
from media.evidence import STORED_SIDE, store_photo
from media.photos import process_photo
from media.storage import LocalMediaStorage, key_for
from models.actor import Permission
from models.base import utcnow
from models.catalog import Item
from models.chat import DialogState, dialog_expired, open_dialog
from models.documents import DocStatus
from models.errors import DomainError, NotFound
from models.operations import DecideTransfer, decide_transfer
from models.operations.evidence import AttachEvidence, PhotoEvidence, attach_evidence
from models.operations.identity import (
    BindIdentity,
    BindingCodeInvalid,
    ClaimBindingAttempt,
    bind_identity,
    claim_binding_attempt,
    members_for_identity,
)
from models.org import PartyKind
from models.outbox import emit
from models.periods import period_days, period_label
from models.queries.cash_forecast import CashItem, cash_forecast
from models.queries.documents import transfer_by_number
from models.queries.margin import document_id_by_number, document_margin, margin_rollup
from models.queries.my_documents import Delivery
from models.queries.my_documents import my_deliveries as deliveries_of
from models.queries.my_documents import my_payments as payments_of
from models.queries.receivables import aging, party_open_items, statement
from models.queries.statements import IS_NET_PROFIT, balance_sheet, income_statement
from models.queries.stock_availability import Availability, stock_availability
from models.queries.todos import Todo, todos_for
from models.subledger import SIDE_LABELS, Side
from models.timeutil import SHANGHAI, local_date

log = logging.getLogger(__name__)

HELP_TEXT = """可以这样发消息（文字或语音）：
· 查库存：茶青库存 / 库存 茶青 绍兴 / 龙井还有多少
· 入库：入库 茶青 一级 23.5公斤 王阿姨
· 出库：出库 龙井 2箱 门店
· 调拨：调拨 龙井 3箱 总仓→门店 急
· 盘点：盘点 茶青 绍兴 120斤
· 审批：同意 DB-ZC-20261123-0003 / 驳回 DB-… 库存不足
· 待办 · 我的交货 · 我的货款
· 应收应付（财务）：应收 / 应收 杭州茶城 / 应付 王阿姨
· 对账单（财务）：对账单 王阿姨 十一月 / 对账单 杭州茶城
· 报表（财务）：利润表 本月 / 利润表 十一月 / 资产负债表
· 现金（财务）：现金 三天 / 现金 48小时
· 毛利（财务）：本月毛利 / 毛利 XS-ZC-20261205-0001
改动库存的操作会先让您“确认”；登记时可以发照片作为凭证。"""
NO_DIALOG = "现在没有待确认的操作。发送“帮助”查看用法"
EXPIRED = "上一条操作已超时（10分钟）未确认，已作废，请重新发送"


def dispatch(ctx: Context, intent: Intent) -> str:
    """Run the handler for ``intent``."""
    match intent:
        case Help():
            return HELP_TEXT
        case Confirm() | Cancel() | Pick():
            return _answer_dialog(ctx, intent)
        case Entry(kind=kind, text=text):
            return entries.start(ctx, kind, text)
        case TransferRequest(text=text, urgent=urgent):
            return entries.start(ctx, "transfer", text, urgent)
        case StockQuery(text=text):
            return stock(ctx, text)
        case Decide():
            return decide(ctx, intent)
        case Todos():
            return todos(ctx)
        case MyDeliveries():
            return my_deliveries(ctx)
        case MyPayments():
            return my_payments(ctx)
        case PartyBalance(side=side, text=text):
            return party_balance(ctx, Side(side), text)
        case PartyStatement(text=text):
            return party_statement(ctx, text)
        case BooksReport(kind=kind, when=when):
            return books_report(ctx, kind, when)
        case CashView(hours=hours):
            return cash_view(ctx, hours)
        case MarginQuery(number=number):
            return margin_reply(ctx, number)
        case Unknown(text=text):
            if find_items(ctx.session, ctx.org_id, text):
                return stock(ctx, text)  # "茶青" alone: most people want the stock
            return f"没看懂“{text[:20]}”。发送“帮助”查看用法"
    return HELP_TEXT


def _answer_dialog(ctx: Context, intent: Intent) -> str:
    s, ch, user = ctx.session, ctx.inbound.channel, ctx.inbound.user_id
    expired = dialog_expired(s, ctx.org_id, ch, user)
    dialog = open_dialog(s, ctx.org_id, ch, user)
    if dialog is None:
        return EXPIRED if expired else NO_DIALOG
    if isinstance(intent, Cancel):
        from models.chat import close_dialog

        close_dialog(s, dialog)
        return f"已取消{entries.VERB.get(dialog.intent.get('kind', ''), '')}，没有登记任何内容"
    if isinstance(intent, Pick):
        if dialog.state != DialogState.CHOOSING:
            return "请回复“确认”或“取消”"
        return entries.pick(ctx, dialog, intent.number)
    if dialog.state != DialogState.CONFIRMING:
        return "请先回复数字选择，或回复“取消”"
    return entries.confirm(ctx, dialog)


def stock(ctx: Context, text: str) -> str:
    """Stock of the named items at the named sites (default: every site the member may see).

    The numbers are the stock-availability query's, as the mini-program's /stock shows them."""
    actor = ctx.actor
    actor.require(Permission.VIEW_STOCK)
    named = {h.id for h in find_sites(ctx.session, ctx.org_id, text)}
    hits = find_items(ctx.session, ctx.org_id, text)
    if not hits and not named and text.strip():
        raise NotFound(f"没有找到“{text.strip()[:20]}”这个商品或地点")
    items = [ctx.session.get_one(Item, h.id) for h in hits] or list(ctx.session.scalars(
        select(Item).where(Item.org_id == ctx.org_id, Item.active.is_(True)).order_by(Item.id).limit(10)))
    levels = stock_availability(ctx.session, actor, site_ids=named or None, item_ids=[i.id for i in items],
                                active_sites_only=True, include_empty=True)
    return "\n\n".join(stock_block(item, [a for a in levels if a.item_id == item.id]) for item in items)


def stock_block(item: Item, rows: list[Availability]) -> str:
    """One item's stock per site: on hand, and what of it cannot be shipped now."""
    unit = item.base_unit
    lines = [f"{item.name} 库存："]
    for r in rows:
        lines.append(f"· {r.site_name} {_q(r.on_hand)}{unit}{_held(r, unit)}")
    if not rows:
        lines.append("· 暂无库存")
    if len(rows) > 1:
        on_hand, available = sum((r.on_hand for r in rows), Decimal(0)), sum((r.available for r in rows), Decimal(0))
        lines.append(f"合计 {_q(on_hand)}{unit}" + (f"，可用 {_q(available)}{unit}" if available != on_hand else ""))
    return "\n".join(lines)


def _held(r: Availability, unit: str) -> str:
    if r.available == r.on_hand:
        return ""
    parts = [f"可用 {_q(r.available)}{unit}"]
    held = (("已预留", r.reserved), ("冻结", r.frozen), ("质检未通过", r.qc_held))
    parts += [f"{label} {_q(q)}{unit}" for label, q in held if q]
    return f"（{'，'.join(parts)}）"


def decide(ctx: Context, intent: Decide) -> str:
    """Approve or reject a transfer by its number."""
    doc = transfer_by_number(ctx.session, ctx.actor, intent.number)
    t = decide_transfer(ctx.session, ctx.actor, DecideTransfer(doc.id, intent.approve, intent.reason))
    if intent.approve and t.status == DocStatus.REQUESTED.value:  # the chain moved on to its next level
        return f"已同意调拨 {t.number}（本级），等待下一级审批"
    if intent.approve:
        return f"已批准调拨 {t.number}（{t.status_label}），等待发货"
    return f"已驳回调拨 {t.number}，原因：{intent.reason}"


#: The bot lists this many to-dos; the rest are counted (the mini-program shows them all).
TODO_LINES = 20


def todos(ctx: Context) -> str:
    """What waits for the member: the to-do query, as the mini-program's /todos lists it."""
    found = todos_for(ctx.session, ctx.actor)
    if not found:
        return "目前没有待办事项"
    body = "\n".join(f"{n}. {todo_line(t)}" for n, t in enumerate(found[:TODO_LINES], start=1))
    more = f"\n……另有 {len(found) - TODO_LINES} 项，请在小程序查看" if len(found) > TODO_LINES else ""
    return f"您的待办（{len(found)}）：\n{body}{more}"


def todo_line(t: Todo) -> str:
    """One to-do as a chat line: 【急】, title, detail (one line, at most 40 characters), due time."""
    detail = " ".join(t.detail.split())
    text = f"{'【急】' if t.urgent else ''}{t.title}" + (f" {detail[:40]}" if detail else "")
    return text + (f"（截止 {t.due_at.astimezone(SHANGHAI).strftime('%m-%d %H:%M')}）" if t.due_at else "")


def my_deliveries(ctx: Context) -> str:
    """The member's last deliveries: the query behind the mini-program's /my/deliveries."""
    if ctx.actor.party_id is None:
        return "“我的交货”只对交货的农户和供货商开放"
    rows = deliveries_of(ctx.session, ctx.actor, limit=MY_DELIVERY_LINES)
    if not rows:
        return "还没有交货记录"
    return "最近的交货：\n" + "\n".join(delivery_line(r) for r in rows)


#: The bot lists this many deliveries (the mini-program pages through them all).
MY_DELIVERY_LINES = 5


def delivery_line(r: Delivery) -> str:
    """One delivery as a chat line: time, number, item, quantity as entered, amount, status unless posted."""
    qty, unit = (r.entered_quantity, r.entered_unit) if r.entered_quantity is not None else (r.quantity, r.base_unit)
    when = r.business_time.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    status = "" if r.status == DocStatus.POSTED.value else f"（{r.status_label}）"
    return f"· {when} {r.number} {r.item_name} {_q(qty)}{unit or r.base_unit} {_q(r.amount)}元{status}"


def my_payments(ctx: Context) -> str:
    if ctx.actor.party_id is None:
        return "“我的货款”只对交货的农户和供货商开放"
    p = payments_of(ctx.session, ctx.actor)
    lines = [f"货款合计 {p.total} 元", f"已付 {p.paid} 元"]
    if p.prepayment_due:
        lines.append(f"待付预付款 {p.prepayment_due} 元")
    if p.balance_due:
        lines.append(f"待付尾款 {p.balance_due} 元")
    if p.withheld:
        lines.append(f"质检未通过暂扣 {p.withheld} 元")
    return "\n".join(lines)


def party_balance(ctx: Context, side: Side, text: str) -> str:
    """应收 / 应付: the side's largest balances as of today, or one party's open items (the same
    queries as /api/v1/finance/aging and /open-items)."""
    if not ctx.actor.can(Permission.VIEW_FINANCE):
        return "没有权限：查看财务"
    label = SIDE_LABELS[side]
    today = local_date(utcnow())
    if not text:
        report = aging(ctx.session, ctx.org_id, side, today)
        if not report.rows:
            return f"截至今天没有{label}款"
        lines = [f"{label}合计 {report.total} 元（截至 {today:%m-%d}）"]
        for row in report.rows[:5]:
            late = f"，逾期 {row.overdue}" if row.overdue else ""
            lines.append(f"· {row.party_name} {row.total}{late}")
        if len(report.rows) > 5:
            lines.append(f"……共 {len(report.rows)} 家；发送“{label} 名称”看明细")
        return "\n".join(lines)
    kinds = (PartyKind.CUSTOMER,) if side == Side.RECEIVABLE else (PartyKind.SUPPLIER, PartyKind.FARMER)
    hits = find_parties(ctx.session, ctx.org_id, text, kinds)
    if not hits:
        return f"没找到往来单位“{text[:20]}”"
    found = party_open_items(ctx.session, ctx.org_id, hits[0].id, side)
    owed = found.open_charges + found.unapplied_credits
    lines = [f"{found.party_name} {label} {owed} 元"]
    unpaid = "未收" if side == Side.RECEIVABLE else "未付"
    if found.unapplied_credits:
        lines.append(f"（含未核销预收/预付 {-found.unapplied_credits} 元）")
    for item in [i for i in found.items if i.is_charge][:5]:
        days_late = (today - item.due_on).days
        due = f"逾期{days_late}天" if days_late > 0 else f"{item.due_on:%m-%d}到期"
        lines.append(f"· {item.number or item.summary} {unpaid} {item.open}，{due}")
    return "\n".join(lines)


_MONTHS = {name: n for n, name in enumerate(
    ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"), start=1)}


def chat_period(text: str, today: date) -> str | None:
    """本月 / 上月 / 十一月 / 11月 / 202611 → YYYYMM (a month after this one is last year's); None if unclear."""
    t = text.replace(" ", "").removesuffix("份")
    if t in ("", "本月", "这个月", "当月"):
        return f"{today:%Y%m}"
    if t == "上月" or t == "上个月":
        last = today.replace(day=1) - timedelta(days=1)
        return f"{last:%Y%m}"
    if re.fullmatch(r"20\d{2}(0[1-9]|1[0-2])", t):
        return t
    m = re.fullmatch(r"(\d{1,2}|[一二三四五六七八九十]{1,3})月", t)
    month = (int(m.group(1)) if m.group(1).isdigit() else _MONTHS.get(m.group(1), 0)) if m else 0
    if not 1 <= month <= 12:
        return None
    year = today.year if month <= today.month else today.year - 1
    return f"{year}{month:02d}"


def party_statement(ctx: Context, text: str) -> str:
    """对账单 王阿姨 十一月: a party's statement of account for a month, phone-sized (the same query as
    /api/v1/finance/parties/{id}/statement; the side follows the party: customers 应收, others 应付)."""
    if not ctx.actor.can(Permission.VIEW_FINANCE):
        return "没有权限：查看财务"
    today = local_date(utcnow())
    name, _sep, last = text.rpartition(" ")
    period = chat_period(last, today) if name else None
    if period is None and name and (last.endswith("月") or last.isdigit()):
        return f"没看懂月份“{last[:10]}”，例如：对账单 王阿姨 十一月"
    if period is None:
        name, period = text, f"{today:%Y%m}"
    if not name.strip():
        return "请写明往来单位，例如：对账单 王阿姨 十一月"
    side = Side.RECEIVABLE
    hits = find_parties(ctx.session, ctx.org_id, name.strip(), (PartyKind.CUSTOMER,))
    if not hits:
        side = Side.PAYABLE
        hits = find_parties(ctx.session, ctx.org_id, name.strip(), (PartyKind.SUPPLIER, PartyKind.FARMER))
    if not hits:
        return f"没找到往来单位“{name[:20]}”"
    first, last_day = period_days(period)
    if first > today:  # "对账单 王阿姨 202712": not "开始日期不能晚于结束日期"
        return f"{int(period[:4])}年{int(period[4:])}月还没到，例如：对账单 王阿姨 十一月"
    st = statement(ctx.session, ctx.org_id, hits[0].id, side, first, min(last_day, today))
    lines = [f"{st.party_name} 对账单 {period_label(period)}（{SIDE_LABELS[side]}）",
             f"期初 {st.opening}，本期增加 {st.charges}，本期减少 {st.credits}，期末 {st.closing}"]
    lines += [f"· {ln.voucher_date:%m-%d} {ln.document_number or ln.summary} "
              f"{'+' + str(ln.charge) if ln.charge else '-' + str(ln.credit)}" for ln in st.lines[-5:]]
    if len(st.lines) > 5:
        lines.append(f"……共 {len(st.lines)} 笔；完整对账单见 /print/statement.pdf")
    return "\n".join(lines)


def books_report(ctx: Context, kind: str, when: str) -> str:
    """利润表 / 资产负债表 in a few lines (the same queries as /api/v1/books)."""
    if not ctx.actor.can(Permission.VIEW_FINANCE):
        return "没有权限：查看财务"
    period = chat_period(when, local_date(utcnow()))
    if period is None:
        return f"没看懂期间“{when[:10]}”，例如：利润表 本月 / 利润表 十一月 / 利润表 202611"
    label = period_label(period)
    if kind == "income":
        report = income_statement(ctx.session, ctx.org_id, period)
        lines = [f"利润表 {label}"]
        lines += [f"· {r.label.split('（')[0]} {r.amount}" for r in report.rows
                  if r.amount and r.line != IS_NET_PROFIT]
        lines.append(f"净利润 {report.net_profit} 元（本年累计 {report.net_profit_ytd}）")
        return "\n".join(lines)
    sheet = balance_sheet(ctx.session, ctx.org_id, period)
    rows = {r.label: r.amount for r in (*sheet.assets, *sheet.liabilities_and_equity)}
    lines = [f"资产负债表 {label}末"]
    lines += [f"· {name} {rows[name]}" for name in ("货币资金", "应收账款", "存货", "应付账款") if rows.get(name)]
    lines.append(f"资产总计 {sheet.total_assets}；负债合计 {rows['负债合计']}；"
                 f"所有者权益 {rows['所有者权益（或股东权益）合计']}")
    lines.append("借贷平衡" if sheet.balanced else "⚠ 不平衡，请联系财务检查")
    return "\n".join(lines)


def _at(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def _cash_line(item: CashItem) -> str:
    due = "已到期" if item.overdue else _at(item.expected_at)
    return f"· {item.party_name} {item.number or ''} {item.amount}（{due}）".replace("  ", " ")


def cash_view(ctx: Context, hours: int) -> str:
    """现金 三天: cash and bank now, the lowest point and when, where it ends, the three largest
    inflows and outflows (the same query as /api/v1/finance/cash-forecast)."""
    if not ctx.actor.can(Permission.VIEW_FINANCE):
        return "没有权限：查看财务"
    f = cash_forecast(ctx.session, ctx.org_id, utcnow(), hours)
    span = f"{hours // 24}天" if hours % 24 == 0 else f"{hours}小时"
    lines = [f"现金+银行 现在 {f.opening} 元（现金 {f.cash}，银行 {f.bank}）",
             f"最低 {f.lowest} 元（{_at(f.lowest_at)}）",
             f"{span}后 {f.closing} 元（流入 {f.inflow}，流出 {f.outflow}）"]
    if f.threshold is not None and f.first_below_at is not None:
        lines.append(f"⚠ {_at(f.first_below_at)} 起低于下限 {f.threshold} 元")
    for label, direction in (("流入", "in"), ("流出", "out")):
        top = sorted((i for i in f.items if i.direction == direction), key=lambda i: (-i.amount, i.expected_at))[:3]
        if top:
            lines.append(f"{label}前三：")
            lines += [_cash_line(i) for i in top]
    late = f.overdue_receivables
    if late.parties:
        lines.append(f"已逾期应收 {late.total} 元（{late.parties} 家客户，未计入）")
    return "\n".join(lines)


def margin_reply(ctx: Context, number: str) -> str:
    """本月毛利: this month's margin and the customers earning most (the /api/v1/margin/rollup
    query); 毛利 <单号>: one sales order's or shipment's margin (/api/v1/margin/documents)."""
    if not ctx.actor.can(Permission.VIEW_FINANCE):
        return "没有权限：查看财务"
    if number:
        document_id = document_id_by_number(ctx.session, ctx.org_id, number)
        if document_id is None:
            return f"没找到单据“{number[:30]}”"
        try:
            m = document_margin(ctx.session, ctx.org_id, document_id)
        except DomainError as exc:
            return exc.message
        f = m.figures
        lines = [f"{m.number} {m.party_name}".rstrip(), f"收入 {f.revenue}，成本 {f.cost}，费用 {f.extras}",
                 f"毛利 {f.margin} 元（{_pct(f.margin_pct)}）"]
        if m.kind == "sales_order":
            for s in m.shipments[:5]:
                lines.append(f"· {s.number} {'已冲销' if s.reversed else f'毛利 {s.figures.margin}'}")
            if m.unallocated_extras:
                lines.append(f"未分摊费用 {m.unallocated_extras}")
        return "\n".join(lines)
    today = local_date(utcnow())
    report = margin_rollup(ctx.session, ctx.org_id, today.replace(day=1), today, "customer")
    if not report.rows:
        return "本月还没有出库"
    t = report.totals
    lines = [f"本月毛利 {t.margin} 元（{_pct(t.margin_pct)}），收入 {t.revenue}"]
    lines += [f"· {r.label} {r.figures.margin}（{_pct(r.figures.margin_pct)}）" for r in report.rows[:5]]
    if len(report.rows) > 5:
        lines.append(f"……共 {len(report.rows)} 家客户")
    return "\n".join(lines)


def _pct(value: Decimal | None) -> str:
    return f"{value}%" if value is not None else "—"


def bind(session: Session, platform: ChatPlatform, inbound: Inbound, intent: Bind) -> str:
    """Bind this chat identity to the member the code was issued for.

    The throttled try is claimed in the message's transaction, outside the savepoint of the
    binding: a wrong code rolls the binding back but the try stays counted (and locked out ones
    write nothing)."""
    attempt = claim_binding_attempt(session, ClaimBindingAttempt(platform.provider, inbound.user_id))
    try:
        with session.begin_nested():
            b = bind_identity(session, BindIdentity(platform.provider, inbound.user_id, intent.code, attempt))
    except BindingCodeInvalid as exc:
        return exc.message
    return f"绑定成功：{b.member_name}。发送“帮助”查看可以做什么"


def voice(ctx: Context) -> str:
    """A voice message without platform recognition: recognise it later (worker) or ask to type."""
    if not ctx.services.vosk_model_path:
        return "语音识别未启用，请直接打字输入，例如：入库 茶青 一级 23.5公斤"
    emit(ctx.session, ctx.org_id, "chat.voice_received", {
        "channel": ctx.inbound.channel, "user_id": ctx.inbound.user_id, "media_id": ctx.inbound.media_id,
        "msg_key": ctx.inbound.msg_key,
    })
    return "收到语音，正在识别，稍后回复您"


def image(ctx: Context) -> str:
    """A photo attaches to the member's pending entry as evidence."""
    dialog = open_dialog(ctx.session, ctx.org_id, ctx.inbound.channel, ctx.inbound.user_id)
    if dialog is None:
        return "没有待确认的登记。请先发送要登记的内容（例如：入库 茶青 一级 23.5公斤），再发照片"
    try:
        data = ctx.platform.fetch_media(ctx.inbound.media_id)
    except Exception:  # the platform's download failed (expired media id, network): ask again
        log.warning("media download failed: %s", ctx.inbound.media_id, exc_info=True)
        return "图片下载失败，请重新发送照片"
    p = process_photo(data, max_side=STORED_SIDE)
    # The same evidence rows, reuse check and media route as the mini-program's intake photos.
    kept = attach_evidence(ctx.session, ctx.actor, AttachEvidence(dialog_id=dialog.id, photos=(PhotoEvidence(
        sha256=p.sha256, phash=p.phash, format=p.format, width=p.width, height=p.height,
        image_key=key_for(p.sha256, "jpg"), thumb_key=key_for(p.sha256, "thumb.jpg"), metadata=p.metadata),),
        source=ctx.inbound.channel))
    store_photo(LocalMediaStorage(ctx.services.media_root), p)  # only once kept: a refused photo leaves no file
    verb = entries.VERB.get(dialog.intent.get("kind", ""), "登记")
    reply = f"照片已附到待确认的{verb}（共 {len(kept.photo_ids)} 张）。"
    for warning in kept.warnings:
        reply += f"\n⚠ {warning['message']}"
    return f"{reply}\n{entries.CONFIRM_HINT}" if kept.warnings else reply + entries.CONFIRM_HINT


def on_event(session: Session, platform: ChatPlatform, inbound: Inbound) -> str:
    """Platform events: greet new followers; everything else needs no answer."""
    if inbound.event in ("subscribe", "enter_agent"):
        bound = members_for_identity(session, platform.provider, inbound.user_id)
        return f"欢迎使用流转！\n{HELP_TEXT}" if bound else UNBOUND_REPLY
    return ""


def _q(value: Decimal) -> str:
    return f"{value.normalize():f}"
