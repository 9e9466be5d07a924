"""One query per use case, the remaining ones: every channel that shows the fact names the same numbers.

The emergency-transfer suggestion (mini-program POST /transfers/emergency, the bot's 库存 and its urgent
调拨 echo), the changes feed (mini-program GET /changes and what the bot
offers to choose from: grades with their prices, sites, items), the planning lists (planning API and the
low-stock push that quotes the safety stock) and event health (/workflows/health, /dead-letters). Each test builds a
situation in which a channel counting on its own (the raw balance, a cached price, a stale list) would
show a different number.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from bot import handlers
from bot.engine import BotServices, Context, Inbound, handlers_error_text
from bot.intents import route
from models.actor import Actor
from models.base import utcnow
from models.catalog import Dimension
from models.demo import seed_demo
from models.documents import DocKind
from models.errors import DomainError
from models.event_log import HandlerRun, RunStatus
from models.infra import OutboxEvent
from models.operations import (
    CreateOrder,
    FreezeStock,
    OrderLineIn,
    ReceiveGoods,
    RecordQc,
    create_order,
    freeze_stock,
    receive_goods,
    record_qc,
)
from models.operations.alerts import scan_stock_alerts
from models.operations.forecast_overrides import OverrideForecast, override_forecast
from models.operations.masterdata import (
    CreateItem,
    CreateSite,
    GradeSpec,
    SetGradePrice,
    create_item,
    create_site,
    set_grade_price,
)
from models.operations.planning import RunForecast, run_forecast
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.org import SiteKind
from models.queries import planning_lists
from models.queries.changes import changes_since
from models.queries.emergency_transfer import Need, suggest_emergency
from models.queries.event_health import org_event_health
from models.queries.stock_availability import stock_availability
from models.rule_plan import plan
from models.stock import FreezeDirection
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.models.planning_fakes import fake_engine, monday, weekly_history  # noqa: F401
from workflows.rules import SEEDED_RULES

_NUM = r"(-?[0-9]+(?:\.[0-9]+)?)"


class _NoPlatform:
    """The bot's handlers never push or fetch media in these tests."""

    provider = None

    def fetch_media(self, media_id: str) -> bytes:
        raise AssertionError("no media here")

    def push_text(self, user_id: str, text: str) -> None:
        raise AssertionError("no push here")


def _say(session, actor: Actor, text: str, tmp: Path, user: str) -> str:
    """One chat message through the bot's router and handlers, as ``actor`` (the engine's Context; the
    identity lookup is tests/bot's job, and the demo's chat ids are shared by every test's org)."""
    ctx = Context(session, _NoPlatform(), Inbound("dingtalk", user, f"m-{uuid.uuid4().hex}", text=text),
                  BotServices(None, tmp), actor.org_id, actor.member_id)
    intent = route(text)
    assert intent is not None
    try:
        return handlers.dispatch(ctx, intent)
    except DomainError as exc:  # what the engine replies to a refused request
        return handlers_error_text(exc)


def _bot_available(reply: str) -> dict[str, D]:
    """Site → available, from the bot's 库存 block (a site without a 可用 note has it all available)."""
    out = {}
    for line in reply.splitlines():
        m = re.match(rf"· (\S+) {_NUM}[^（\s]*(?:（可用 {_NUM})?", line)
        if m:
            out[m.group(1)] = D(m.group(3) if m.group(3) is not None else m.group(2))
    return out


def _receive(sf, demo, actors, qty, site, grade="一级", farmer="王阿姨"):
    return run(sf, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=D(qty), party_id=demo.parties[farmer],
        grade_id=demo.grades[grade]))


@pytest.fixture
def short_at_store(session_factory, demo, actors):
    """茶青: 绍兴 30 kg, all of it frozen (most on hand, nothing to spare); 总仓 10 kg + 8 kg QC failed,
    3 kg of it reserved (7 available); 门店 2 kg."""
    sf, boss, tea = session_factory, actors["赵经理"], demo.items["茶青"]
    frozen = _receive(sf, demo, actors, "30", "SX")
    run(sf, freeze_stock, boss, FreezeStock(tea, FreezeDirection.BOTH, "农残复检", lot_id=frozen.lot_id))
    _receive(sf, demo, actors, "10", "ZC")
    bad = _receive(sf, demo, actors, "8", "ZC", grade="二级")
    run(sf, record_qc, boss, RecordQc(bad.lot_id, False, "发霉"))
    run(sf, create_order, boss, CreateOrder(DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
                                            (OrderLineIn(tea, D(3), unit_price=D(100)),)))
    _receive(sf, demo, actors, "2", "MD")


def test_emergency_suggestion_agrees_with_every_channel(app, client, as_, session_factory, demo, actors,
                                                        short_at_store, tmp_path):
    """门店 needs 12 kg: the suggestion takes 总仓 (7 spare), not 绍兴 (more on hand, all frozen), and every
    channel shows 总仓 7, 门店 2, 绍兴 0 available; the bot refuses an urgent transfer of one gram more."""
    boss, tea, sites = actors["赵经理"], demo.items["茶青"], demo.sites
    body = {"to_site_id": sites["MD"], "items": [{"item_id": tea, "need": "12"}], "preview": True}
    got = client.post("/api/v1/transfers/emergency", headers=as_("赵经理"), json=body).get_json()
    with session_factory() as s:
        found = suggest_emergency(s, boss, sites["MD"], [Need(tea, D(12))])
        levels = {a.site_name: a.available for a in stock_availability(s, boss, item_ids=[tea])}
        bot_stock = _bot_available(_say(s, boss, "茶青库存", tmp_path, "u-stock"))
    [sug] = found.suggestions
    assert (found.source.id, found.destination.id) == (sites["ZC"], sites["MD"])
    assert (sug.source_available, sug.destination_available, sug.shortfall, sug.suggested) == (D(7), D(2), D(10), D(7))
    # The mini-program's JSON is the query's answer.
    assert (got["from_site_id"], got["to_site_id"]) == (found.source.id, found.destination.id)
    assert [(x["item_id"], D(x["source_available"]), D(x["destination_available"]), D(x["shortfall"]),
             D(x["suggested"])) for x in got["suggestions"]] == [
        (tea, sug.source_available, sug.destination_available, sug.shortfall, sug.suggested)]
    # /stock and the bot's 库存 count the same available stock at each site.
    expected = {"总仓": D(7), "门店": D(2), "绍兴收购点": D(0)}
    assert levels == expected and bot_stock == expected
    rows = client.get(f"/api/v1/stock?item_id={tea}", headers=as_("赵经理")).get_json()["items"]
    assert {r["site_name"]: D(r["available"]) for r in rows} == expected

    # The bot's urgent transfer: the suggested quantity is accepted (echo), one gram more is refused
    # with the suggestion's number as what is available.
    with session_factory() as s:
        more = _say(s, boss, f"调拨 茶青 {sug.suggested + D('0.001')}公斤 总仓→门店 急", tmp_path, "u-more")
        exact = _say(s, boss, f"调拨 茶青 {sug.suggested}公斤 总仓→门店 急", tmp_path, "u-exact")
        s.rollback()
    m = re.search(rf"总仓 可用 {_NUM}公斤", more)
    assert m is not None and D(m.group(1)) == sug.source_available, more
    assert exact.startswith("请确认调拨") and "从：总仓 → 到：门店" in exact and "加急：是" in exact, exact


def test_emergency_suggestion_from_a_named_source_counts_freezes(client, as_, session_factory, demo, actors,
                                                                 short_at_store, tmp_path):
    """From 绍兴 (30 kg on hand, all frozen): nothing to suggest in the JSON, and the bot says 已冻结."""
    tea, sites = demo.items["茶青"], demo.sites
    body = {"to_site_id": sites["MD"], "from_site_id": sites["SX"], "items": [{"item_id": tea, "need": "12"}],
            "preview": True}
    got = client.post("/api/v1/transfers/emergency", headers=as_("赵经理"), json=body).get_json()
    assert [(D(x["source_available"]), D(x["suggested"])) for x in got["suggestions"]] == [(D(0), D(0))]
    submitted = client.post("/api/v1/transfers/emergency", headers=as_("赵经理"), json={**body, "preview": False})
    assert submitted.status_code == 422 and "没有可调出的库存" in submitted.get_json()["error"]["message"]
    with session_factory() as s:
        reply = _say(s, actors["赵经理"], "调拨 茶青 1公斤 绍兴→门店 急", tmp_path, "u-frozen")
        s.rollback()
    assert "已冻结 30公斤" in reply and "不能出库" in reply, reply


def test_changes_feed_agrees_with_what_the_bot_offers(client, as_, session_factory, demo, actors, monkeypatch,
                                                      tmp_path):
    """After a price change, a new item and a new site: /changes (full and since a cursor), the query, and
    the bot's choices (grades with their prices, sites, items) name the same things."""
    import models.queries.changes

    monkeypatch.setattr(models.queries.changes, "SLACK", timedelta(0))  # the demo was seeded a moment ago
    sf, boss = session_factory, actors["钱总监"]
    before = client.get("/api/v1/changes", headers=as_("赵经理")).get_json()
    run(sf, set_grade_price, boss, SetGradePrice(demo.grades["一级"], D("86.5"), "涨价"))
    new_item = run(sf, create_item, boss, CreateItem(
        "BC", "白茶", "公斤", Dimension.MASS, grades=(GradeSpec("头采", D(300), 1), GradeSpec("次采", D(180), 2))))
    run(sf, create_site, boss, CreateSite("HZ", "杭州门店", SiteKind.STORE))

    delta = client.get(f"/api/v1/changes?cursor={before['cursor']}", headers=as_("赵经理")).get_json()
    full = client.get("/api/v1/changes", headers=as_("赵经理")).get_json()
    with sf() as s:
        query = changes_since(s, actors["赵经理"], before["cursor"])
        grades_reply = _say(s, actors["赵经理"], "入库 茶青 10公斤 王阿姨 绍兴", tmp_path, "u-grade")
        new_reply = _say(s, actors["赵经理"], "入库 白茶 3公斤 包装厂 总仓", tmp_path, "u-new")
        sites_reply = _say(s, actors["赵经理"], "调拨 茶青 1公斤", tmp_path, "u-site")
        unknown = _say(s, actors["赵经理"], "入库 不存在的东西 1公斤", tmp_path, "u-none")
        s.rollback()

    # The delta is the query's: exactly the changed item, the new item and the new site.
    assert [(i["id"], i["name"]) for i in delta["items"]] == [(i.id, i.name) for i in query.items] == [
        (demo.items["茶青"], "茶青"), (new_item, "白茶")]
    assert [s["name"] for s in delta["sites"]] == [site.name for site in query.sites] == ["杭州门店"]

    def offered(reply: str) -> list[tuple[str, D]]:
        return [(name, D(price)) for name, price in re.findall(rf"\d+\. (\S+?)（{_NUM}元/公斤）", reply)]

    def fed(item_name: str) -> list[tuple[str, D]]:
        item = next(i for i in delta["items"] if i["name"] == item_name)
        return [(g["name"], D(g["purchase_price"])) for g in item["grades"]]

    # The bot asks for the grade with the prices the phones were sent (the new one included).
    assert offered(grades_reply) == fed("茶青") and ("一级", D("86.5")) in fed("茶青")
    assert offered(new_reply) == fed("白茶") == [("头采", D(300)), ("次采", D(180))]
    # The sites the bot offers are the active stock sites of the full feed, in its order.
    options = re.findall(r"^\d+\. (\S+)$", sites_reply, flags=re.MULTILINE)
    assert options == [x["name"] for x in full["sites"] if x["active"]] and "杭州门店" in options
    # The bot's list of items (when none is named) is the feed's active items, by id.
    names = unknown.split("可用商品：")[1].split("、")
    assert names == [x["name"] for x in sorted(full["items"], key=lambda x: x["id"]) if x["active"]][:8]
    assert "白茶" in names


@pytest.mark.usefixtures("fake_engine")
def test_planning_lists_agree_with_the_api_and_the_low_stock_push(client, as_, session_factory, demo, actors):
    """The planning API's lists are the queries' rows; the low-stock push quotes the safety stock the
    planning API lists for that item and site."""
    sf, boss = session_factory, actors["赵经理"]
    weekly_history(sf, demo, actors, "MD", [2, 6, 3, 5], stock_first=16)  # 门店 sells out: nothing left
    nxt = monday(0) + timedelta(days=7)
    result = run(sf, run_forecast, boss, RunForecast(horizon=3))
    run(sf, override_forecast, boss, OverrideForecast(demo.items["龙井"], demo.sites["MD"], nxt, 1, "节前备货",
                                                     set_value=D(8)))
    run(sf, recompute_replenishment, boss, RecomputeReplenishment())
    h = as_("赵经理")
    lines = client.get(f"/api/v1/planning/forecasts/{result.run_id}/lines?site_id={demo.sites['MD']}",
                       headers=h).get_json()
    safety = client.get("/api/v1/planning/replenishment/safety-stock", headers=h).get_json()
    suggested = client.get("/api/v1/planning/replenishment/suggestions?status=all", headers=h).get_json()
    overrides = client.get("/api/v1/planning/overrides", headers=h).get_json()
    with sf() as s:
        _run, q_lines = planning_lists.forecast_lines(s, boss, result.run_id, site_id=demo.sites["MD"])
        q_safety = planning_lists.safety_stock(s, boss)
        q_suggested = planning_lists.suggestions(s, boss, status="all")
        q_overrides = planning_lists.overrides(s, boss)
        alerts = scan_stock_alerts(s, demo.org_id, utcnow())
        s.rollback()

    assert lines["run"]["id"] == result.run_id
    assert [(x["item_id"], x["week"], D(x["mean"]), D(x["final"]), x["override_id"]) for x in lines["lines"]] == [
        (ln.item_id, ln.week.isoformat(), ln.mean, ln.final, ln.override_id) for ln in q_lines]
    assert [D(x["final"]) for x in lines["lines"] if x["week"] == nxt.isoformat()] == [D(8)]
    assert [(x["reason"], D(x["set_value"])) for x in overrides] == [(o.reason, o.set_value) for o in q_overrides]
    assert [(x["item_id"], x["site_id"], D(x["safety_stock"]), D(x["reorder_point"])) for x in safety] == [
        (r.item_id, r.site_id, r.safety_stock, r.reorder_point) for r in q_safety]
    assert [(x["suggestion_id"], x["kind"], x["item_id"], x["site_id"], D(x["quantity"]), x["status"])
            for x in suggested] == [
        (v.suggestion_id, v.kind, v.item_id, v.site_id, v.quantity, v.status) for v in q_suggested]
    assert q_suggested and q_suggested[0].item_id == demo.items["龙井"]

    # The low-stock push: 门店 has 0 龙井 left, below the safety stock the planning API lists.
    [level] = [r for r in q_safety if (r.item_id, r.site_id) == (demo.items["龙井"], demo.sites["MD"])]
    assert level.safety_stock > 0
    [alert] = [a for a in alerts if a["kind"] == "stock.below_safety" and a["site_id"] == demo.sites["MD"]]
    [push] = plan(SEEDED_RULES[0], "stock.below_safety", alert)
    m = re.search(rf"只剩 {_NUM}，低于安全库存 {_NUM}$", push.params["text"])
    assert m is not None, push.params["text"]
    assert (D(m.group(1)), D(m.group(2))) == (D(0), level.safety_stock)


def test_event_health_agrees_in_the_api_and_the_query(app, client, as_, session_factory, demo, actors):
    """/workflows/health is the query's answer for the caller's organisation; /dead-letters lists as many
    dead runs as it counts. Runs of another organisation count for neither."""
    now = utcnow()
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with session_factory() as s:
        def add(org_id: int, status: RunStatus, attempts: int, ms: int | None) -> None:
            event = OutboxEvent(id=uuid.uuid4(), org_id=org_id, kind="test.health", payload={},
                                created_at=now - timedelta(minutes=5), dispatched_at=now)
            s.add(event)
            s.flush()  # no ORM relationship orders the insert before its run
            s.add(HandlerRun(org_id=org_id, event_id=event.id, handler="h", kind=event.kind, status=status,
                             attempts=attempts, event_created_at=event.created_at,
                             handled_at=None if ms is None else event.created_at + timedelta(milliseconds=ms)))

        for ms in (100, 200, 400):
            add(demo.org_id, RunStatus.DONE, 1, ms)
        add(demo.org_id, RunStatus.DONE, 2, 9000)  # retried: not a latency sample
        add(demo.org_id, RunStatus.RETRY, 1, None)
        add(demo.org_id, RunStatus.DEAD, 5, None)
        add(other.org_id, RunStatus.DEAD, 5, None)
        s.commit()
    got = client.get("/api/v1/workflows/health", headers=as_("赵经理")).get_json()
    dead = client.get("/api/v1/workflows/dead-letters", headers=as_("赵经理")).get_json()
    with session_factory() as s:
        health = org_event_health(s, actors["赵经理"])
    assert got == health.to_dict()
    assert (health.handled, health.dead_letters, health.pending_retries) == (6, 1, 1)
    assert (health.retry_rate, health.failure_rate, health.latency_avg_ms, health.latency_p95_ms) == (
        0.5, round(2 / 6, 4), 233.33, 400.0)
    assert len(dead) == got["dead_letters"] == 1
