"""Chinese chat text → typed intents, by an ordered list of routes (first match wins).

Matching is tolerant of word order, full-width characters and common synonyms; it needs no
database. Names (items, sites, farmers) are resolved afterwards by ``bot.resolve``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import cn2an


@dataclass(frozen=True)
class Bind:
    code: str


@dataclass(frozen=True)
class Confirm:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Pick:
    number: int


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Todos:
    pass


@dataclass(frozen=True)
class MyDeliveries:
    pass


@dataclass(frozen=True)
class MyPayments:
    pass


@dataclass(frozen=True)
class PartyBalance:
    """应收 / 应付 [往来单位]: the side's aging (no party named) or one party's open items."""

    side: str  # "receivable" | "payable"
    text: str = ""


@dataclass(frozen=True)
class PartyStatement:
    """对账单 <往来单位> [本月|上月|十一月|202611]: a party's statement of account for a month."""

    text: str


@dataclass(frozen=True)
class BooksReport:
    """利润表 / 资产负债表 [本月|上月|十一月|202611]: a phone-sized statement (finance only)."""

    kind: str  # "income" | "balance"
    when: str = ""


@dataclass(frozen=True)
class CashView:
    """现金 [三天]: cash and bank now and the projection over the next ``hours`` hours."""

    hours: int = 72


@dataclass(frozen=True)
class MarginQuery:
    """本月毛利 (this month by customer) or 毛利 <订单号/出库单号> (one document's margin)."""

    number: str = ""


@dataclass(frozen=True)
class Decide:
    number: str
    approve: bool
    reason: str = ""


@dataclass(frozen=True)
class Entry:
    """A stock-changing entry: 入库 (receive), 出库 (ship) or 盘点 (count); names still unresolved."""

    kind: str
    text: str


@dataclass(frozen=True)
class TransferRequest:
    text: str
    urgent: bool = False


@dataclass(frozen=True)
class StockQuery:
    text: str


@dataclass(frozen=True)
class Unknown:
    text: str


Intent = (Bind | Confirm | Cancel | Pick | Help | Todos | MyDeliveries | MyPayments | PartyBalance | Decide
          | Entry | TransferRequest | StockQuery | Unknown | BooksReport | CashView | MarginQuery | PartyStatement)

_PUNCT = re.compile(r"[，,。;；！!、：:“”\"'‘’（）()\[\]【】《》<>~～…]+")
_ARROWS = re.compile(r"\s*(?:→|->|—>|=>|➡|⇒|－>|--?>)\s*")
_MENTION = re.compile(r"@\S+")


def normalize(text: str) -> str:
    """Full-width to half-width, arrows to →, punctuation to spaces, single spaces, no @mentions."""
    t = unicodedata.normalize("NFKC", text or "")
    t = _MENTION.sub(" ", t)
    t = _ARROWS.sub("→", t)
    t = _PUNCT.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip()


def _has(t: str, words: tuple[str, ...]) -> str | None:
    return next((w for w in words if w in t), None)


def _without(t: str, word: str) -> str:
    return re.sub(r"\s+", " ", t.replace(word, " ", 1)).strip()


CONFIRM_WORDS = {"确认", "确定", "是", "是的", "对", "对的", "好", "好的", "可以", "没问题", "ok", "y", "yes",
                 "确认提交"}
CANCEL_WORDS = {"取消", "算了", "不要了", "不要", "不", "否", "no", "n", "撤销", "放弃", "不对"}
HELP_WORDS = {"帮助", "help", "?", "菜单", "怎么用", "你好", "您好", "hi", "hello", "使用说明", "说明"}
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九十")}
# DB-20261123-0003, DB-ZC-20261123-0003, and an edge node's DB-ZC-N1-20261123-0003 (models.node).
_DOC_NO = re.compile(r"DB-(?:[A-Z0-9]+-){0,2}\d{8}-\d{1,6}", re.IGNORECASE)
RECEIVE_WORDS = ("入库", "收货", "进货", "收购", "收茶", "进仓")
SHIP_WORDS = ("出库", "发货", "出货", "卖出", "销售出库")
COUNT_WORDS = ("盘点", "盘库", "实盘", "盘存")
TRANSFER_WORDS = ("调拨", "调货", "移库", "调库", "调仓")
URGENT_WORDS = ("加急", "紧急", "急件", "急")
STOCK_WORDS = ("库存", "还有多少", "有多少", "剩多少", "还剩", "剩下", "存货", "余量", "多少货", "查一下", "查询")
APPROVE_WORDS = ("同意", "批准", "通过", "准了")
REJECT_WORDS = ("不同意", "驳回", "拒绝", "否决", "不批")


def match_bind(t: str) -> Intent | None:
    """Read a bind request: the code's ASCII digits (full-width folded; other scripts' digits dropped)."""
    if not t.lower().startswith(("绑定", "綁定", "bind")):
        return None
    return Bind("".join(c for c in unicodedata.normalize("NFKC", t) if c in "0123456789"))


def match_confirm(t: str) -> Intent | None:
    return Confirm() if t.lower() in CONFIRM_WORDS else None


def match_cancel(t: str) -> Intent | None:
    return Cancel() if t.lower() in CANCEL_WORDS else None


def match_pick(t: str) -> Intent | None:
    m = re.fullmatch(r"(?:第|选)?\s*(\d{1,2}|[一二三四五六七八九十])\s*(?:个|项|号|条)?", t)
    if not m:
        return None
    raw = m.group(1)
    return Pick(int(raw) if raw.isdigit() else _CN_DIGITS[raw])


def match_help(t: str) -> Intent | None:
    return Help() if t.lower() in HELP_WORDS or t.startswith("帮助") else None


def match_todos(t: str) -> Intent | None:
    return Todos() if _has(t, ("待办", "代办", "我的任务", "待审批", "待处理")) and len(t) <= 8 else None


def match_mine(t: str) -> Intent | None:
    if _has(t, ("货款", "结算", "付款", "打款", "欠我", "钱")) and len(t) <= 10:
        return MyPayments()
    if _has(t, ("交货", "交的货", "送货记录", "交售", "我的单")) and len(t) <= 10:
        return MyDeliveries()
    return None


_BALANCE = re.compile(r"^(应收|应付)(账款|款)?\s*(.*)$")


def match_balance(t: str) -> Intent | None:
    """"应收" (everyone who owes us), "应收 杭州茶城", "应付 王阿姨"."""
    m = _BALANCE.match(t)
    if m is None:
        return None
    return PartyBalance("receivable" if m.group(1) == "应收" else "payable", m.group(3).strip())


_STATEMENT = re.compile(r"^对账单\s*(.*)$")


def match_statement(t: str) -> Intent | None:
    """"对账单 王阿姨 十一月", "对账单 杭州茶城" (this month)."""
    m = _STATEMENT.match(t)
    return PartyStatement(m.group(1).strip()) if m else None


_REPORT = re.compile(r"^(利润表|损益表|资产负债表)\s*(.*)$")


def match_report(t: str) -> Intent | None:
    """"利润表 本月", "利润表 十一月", "资产负债表" (this month)."""
    m = _REPORT.match(t)
    if m is None:
        return None
    return BooksReport("balance" if m.group(1) == "资产负债表" else "income", m.group(2).strip())


_CASH = re.compile(r"^(?:(?P<before>[0-9零一二两三四五六七八九十]{1,3})\s*天\s*)?现金(?:流|预测|预计)?"
                   r"(?:\s*(?P<after>[0-9零一二两三四五六七八九十]{1,3})\s*(?P<unit>天|小时|h))?$")
#: The chat answers for up to a week ahead (the API's limit).
_CASH_MAX_HOURS = 168


def match_cash(t: str) -> Intent | None:
    """"现金" (72 hours), "现金 三天", "三天现金", "现金 48小时"."""
    m = _CASH.match(t)
    if m is None:
        return None
    raw = m.group("before") or m.group("after")
    if raw is None:
        return CashView()
    try:
        n = int(cn2an.cn2an(raw, "smart"))
    except (ValueError, KeyError, IndexError):  # not a numeral after all ("十十")
        return None
    hours = n if m.group("after") and m.group("unit") != "天" else n * 24
    return CashView(min(max(hours, 1), _CASH_MAX_HOURS))


_MARGIN = re.compile(r"^(?:本月)?毛利(?:率)?\s*([A-Za-z]{2}-[A-Za-z0-9-]+)?$")


def match_margin(t: str) -> Intent | None:
    """"本月毛利" / "毛利" (this month), "毛利 XS-ZC-20261205-0001" (one order or shipment)."""
    m = _MARGIN.match(t)
    if m is None:
        return None
    return MarginQuery((m.group(1) or "").upper())


def match_decide(t: str) -> Intent | None:
    number = _DOC_NO.search(t)
    if not number:
        return None
    rest = (t[:number.start()] + " " + t[number.end():]).strip()
    word = _has(rest, REJECT_WORDS)
    approve = word is None
    word = word or _has(rest, APPROVE_WORDS)
    if word is None:
        return None
    reason = _without(rest, word)
    return Decide(number.group().upper(), approve, reason)


def match_transfer(t: str) -> Intent | None:
    word = _has(t, TRANSFER_WORDS)
    if word is None and not ("→" in t and _has(t, ("调", "送", "拨"))):
        return None
    rest = _without(t, word) if word else t
    urgent = _has(rest, URGENT_WORDS)
    if urgent:
        rest = _without(rest, urgent)
    return TransferRequest(rest, urgent is not None)


def _entry(kind: str, words: tuple[str, ...]) -> Callable[[str], Intent | None]:
    def match(t: str) -> Intent | None:
        word = _has(t, words)
        return Entry(kind, _without(t, word)) if word else None

    match.__name__ = f"match_{kind}"
    return match


def match_stock(t: str) -> Intent | None:
    word = _has(t, STOCK_WORDS)
    return StockQuery(_without(t, word)) if word else None


@dataclass(frozen=True)
class Route:
    name: str
    match: Callable[[str], Intent | None]


#: Order matters: dialog answers first, then exact commands, then the verbs, then queries.
ROUTES: tuple[Route, ...] = (
    Route("bind", match_bind),
    Route("confirm", match_confirm),
    Route("cancel", match_cancel),
    Route("pick", match_pick),
    Route("help", match_help),
    Route("todos", match_todos),
    Route("decide", match_decide),
    Route("balance", match_balance),
    Route("statement", match_statement),
    Route("report", match_report),
    Route("cash", match_cash),
    Route("margin", match_margin),
    Route("mine", match_mine),
    Route("transfer", match_transfer),
    Route("count", _entry("count", COUNT_WORDS)),
    Route("receive", _entry("receive", RECEIVE_WORDS)),
    Route("ship", _entry("ship", SHIP_WORDS)),
    Route("stock", match_stock),
)


def route(text: str, routes: tuple[Route, ...] = ROUTES) -> Intent:
    """Return the first route's intent for ``text`` (normalised here), else Unknown."""
    t = normalize(text)
    for r in routes:
        intent = r.match(t)
        if intent is not None:
            return intent
    return Unknown(t)
