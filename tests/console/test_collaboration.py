"""协同 pages through the Flask client: each shows the demo org's facts and nothing of another org's,
and each action changes state through its operation (a refused one writes nothing)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest

from models import netguard
from models.actor import load_actor
from models.approvals import ApprovalChain
from models.demo import seed_demo
from models.operations import ReceiveGoods, receive_goods
from models.operations.devices import RegisterDevice, register_device
from models.operations.rules import RuleSpec, SaveRule, save_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.queries.workflow_config import list_chains, list_rules, list_webhooks
from models.rules import Rule
from models.uow import run
from tests.console.conftest import post
from tests.security.conftest import rows

NEW = "/console/collaboration/rules/new"
SENTENCE = {"code": "big-leaf", "name": "大额鲜叶提醒", "trigger": "receipt.posted", "cond-0-field": "quantity",
            "cond-0-op": ">", "cond-0-value": "10", "act-0-type": "notify", "act-0-role": "manager",
            "act-0-text": "{number} 到货 {quantity} 公斤"}


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.216.34"])


@pytest.fixture
def other(session_factory):
    """Another co-operative with a rule and a webhook of its own."""
    org = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        boss = load_actor(s, org.members["钱总监"])
    run(session_factory, save_rule, boss, SaveRule(RuleSpec(
        "theirs", "别家的规则", "shipment.posted", {}, ({"type": "notify", "role": "manager", "text": "别家"},))))
    return org, boss


def _receive(session_factory, demo, actors, qty: str) -> None:
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def _request_id(html: str) -> str:
    found = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert found
    return found.group(1)


def test_rules_list_shows_this_orgs_rules_as_sentences_and_not_another_orgs(console_as, session_factory,
                                                                             actors, other):
    run(session_factory, save_rule, actors["钱总监"], SaveRule(RuleSpec(
        "big-leaf", "大额鲜叶提醒", "receipt.posted", {">": [{"var": "event.quantity"}, "10"]},
        ({"type": "create_task", "role": "qa", "title": "复核", "due_in_hours": 4},))))
    html = console_as("赵经理").get("/console/collaboration/").get_data(as_text=True)
    assert "大额鲜叶提醒" in html and "当收货入库且数量大于 10 时，给质检建待办" in html
    assert "启用中" in html and "从未" in html
    assert "别家的规则" not in html
    assert "保存、启用和停用需要总监或管理员权限" in html  # a manager reads; a director changes


def test_sandbox_replays_the_draft_over_last_week_and_writes_nothing(console_as, session_factory, demo, actors,
                                                                      engine):
    for qty in ("12", "5", "30"):
        _receive(session_factory, demo, actors, qty)
    client = console_as("赵经理")
    before = rows(engine)
    resp = post(client, "/console/collaboration/rules/sandbox", SENTENCE, page=NEW)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r"有 <strong>3</strong> 个「收货入库」事件，这条规则会触发 <strong class=\"hits\">2</strong> 次",
                     html)
    assert "通知 主管：RK-SX-" in html
    assert 'value="大额鲜叶提醒"' in html  # the sentence stays filled in
    assert "formaction" not in html and "保存规则需要总监或管理员权限" in html  # a manager may try it, not save it
    assert rows(engine) == before


def test_a_draft_the_operation_refuses_is_shown_in_chinese_and_nothing_is_saved(console_as, engine):
    client = console_as("钱总监")
    before = rows(engine)
    for changes, message in [({"name": ""}, "规则须有编号和名称"), ({"trigger": "drop.tables"}, "不支持的触发事件"),
                             ({"act-0-type": "create_task", "act-0-due_in_hours": "1e9"}, "完成时限须在"),
                             ({"act-0-type": "webhook", "act-0-subscription_id": "abc"}, "须是编号"),
                             ({"act-0-role": "emperor"}, "角色无效"),
                             ({"cond-0-field": "password"}, "不认识的字段"),
                             ({"cond-0-op": "eval"}, "不支持的运算符"),
                             ({f"cond-{n}-field": "quantity" for n in range(11)}, "最多 10 个条件"),
                             ({f"act-{n}-type": "notify" for n in range(11)}, "最多 10 个动作")]:
        for path in ("/console/collaboration/rules/sandbox", "/console/collaboration/rules/save"):
            resp = post(client, path, {**SENTENCE, **changes}, page=NEW)
            assert resp.status_code == 422, (changes, path)
            assert message in resp.get_data(as_text=True)
    assert rows(engine) == before


def test_saving_creates_the_rule_once_even_when_submitted_twice_then_edit_and_switch(console_as, session_factory,
                                                                                     actors):
    client = console_as("钱总监")
    sandboxed = post(client, "/console/collaboration/rules/sandbox", SENTENCE, page=NEW).get_data(as_text=True)
    assert "formaction" in sandboxed
    form = {**SENTENCE, "request_id": _request_id(sandboxed)}
    first = post(client, "/console/collaboration/rules/save", form, page=NEW)
    second = post(client, "/console/collaboration/rules/save", form, page=NEW)
    assert first.status_code == second.status_code == 303
    with session_factory() as s:
        (rule,) = list_rules(s, actors["钱总监"])
    assert rule.condition == {">": [{"var": "event.quantity"}, "10"]}
    assert rule.actions == [{"type": "notify", "role": "manager", "text": "{number} 到货 {quantity} 公斤"}]
    listed = client.get("/console/collaboration/").get_data(as_text=True)
    assert "规则「大额鲜叶提醒」已创建" in listed and "大额鲜叶提醒" in listed

    edit = client.get(f"/console/collaboration/rules/{rule.id}").get_data(as_text=True)
    assert 'value="10"' in edit and "readonly" in edit
    changed = post(client, "/console/collaboration/rules/save",
                   {**SENTENCE, "cond-0-value": "20", "rule_id": rule.id, "reason": "提高门槛"}, page=NEW)
    assert changed.status_code == 303
    assert post(client, f"/console/collaboration/rules/{rule.id}/switch", {"enabled": "0"}).status_code == 303
    with session_factory() as s:
        (rule,) = list_rules(s, actors["钱总监"])
    assert (rule.version, rule.enabled, rule.condition[">"][1]) == (3, False, "20")


def test_the_list_names_a_site_the_rule_compares_by_id(console_as, session_factory, demo, actors):
    run(session_factory, save_rule, actors["钱总监"], SaveRule(RuleSpec(
        "sx-big", "绍兴大额", "receipt.posted", {"and": [{">": [{"var": "event.quantity"}, "500"]},
                                                     {"==": [{"var": "event.site_id"}, str(demo.sites["SX"])]}]},
        ({"type": "notify", "role": "manager", "text": "大额"}, {"type": "freeze", "direction": "both",
                                                                "reason": "待查"}))))
    client = console_as("赵经理")
    html = client.get("/console/collaboration/").get_data(as_text=True)
    assert "当收货入库且数量大于 500 且地点是 绍兴收购点 时，通知主管，并冻结库存" in html
    form = client.get(NEW).get_data(as_text=True)
    assert f'<option value="{demo.sites["SX"]}">地点 绍兴收购点</option>' in form and 'list="rule-named-ids"' in form


def test_rows_are_added_and_removed_by_plain_buttons_without_running_the_sandbox(console_as, engine):
    client = console_as("钱总监")
    before = rows(engine)
    added = post(client, "/console/collaboration/rules/sandbox", {**SENTENCE, "add_condition": "1"}, page=NEW)
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "试运行结果" not in html
    assert 'id="cond-1-field"' in html and 'for="cond-1-value"' in html and 'id="rule-join"' in html
    assert 'value="大额鲜叶提醒"' in html and 'name="remove_condition_1"' in html
    two = {**SENTENCE, "cond-1-field": "amount", "cond-1-op": "<", "cond-1-value": "9"}
    html = post(client, "/console/collaboration/rules/sandbox", {**two, "remove_condition_0": "1"},
                page=NEW).get_data(as_text=True)
    assert 'id="cond-1-field"' not in html and re.search(r'<option value="amount" selected>', html)
    html = post(client, "/console/collaboration/rules/sandbox", {**SENTENCE, "add_action": "1"},
                page=NEW).get_data(as_text=True)
    assert 'id="act-1-type"' in html and 'for="act-1-text"' in html and "动作 2" in html
    assert rows(engine) == before


def test_two_conditions_and_two_actions_are_sandboxed_and_saved_as_one_rule(console_as, session_factory, demo,
                                                                            actors):
    for qty in ("12", "5", "30"):
        _receive(session_factory, demo, actors, qty)
    client = console_as("钱总监")
    form = {**SENTENCE, "cond-1-field": "quantity", "cond-1-op": "<", "cond-1-value": "20", "join": "and",
            "act-1-type": "create_task", "act-1-role": "qa", "act-1-text": "复核 {number}", "act-1-due_in_hours": "4"}
    html = post(client, "/console/collaboration/rules/sandbox", form, page=NEW).get_data(as_text=True)
    assert re.search(r'class="hits">1</strong>', html)  # only 12 is above 10 and below 20
    assert "通知 主管：RK-SX-" in html and "给 质检 建待办「复核 RK-SX-" in html
    either = post(client, "/console/collaboration/rules/sandbox", {**form, "join": "or"},
                  page=NEW).get_data(as_text=True)
    assert re.search(r'class="hits">3</strong>', either)  # every receipt is above 10 or below 20
    assert post(client, "/console/collaboration/rules/save", {**form, "request_id": _request_id(html)},
                page=NEW).status_code == 303
    with session_factory() as s:
        (rule,) = list_rules(s, actors["钱总监"])
    assert rule.condition == {"and": [{">": [{"var": "event.quantity"}, "10"]},
                                      {"<": [{"var": "event.quantity"}, "20"]}]}
    assert rule.actions == [{"type": "notify", "role": "manager", "text": "{number} 到货 {quantity} 公斤"},
                            {"type": "create_task", "role": "qa", "title": "复核 {number}", "due_in_hours": 4}]
    listed = client.get("/console/collaboration/").get_data(as_text=True)
    assert "当收货入库且数量大于 10 且数量小于 20 时，通知主管，并给质检建待办" in listed
    edit = client.get(f"/console/collaboration/rules/{rule.id}").get_data(as_text=True)
    assert 'id="cond-1-value" name="cond-1-value" value="20"' in edit
    assert 'name="act-1-text" value="复核 {number}"' in edit


def test_a_condition_or_action_the_form_cannot_say_is_shown_read_only_and_kept_on_save(console_as, session_factory,
                                                                                      actors):
    condition = {"or": [{"and": [{">": [{"var": "event.quantity"}, 10]}, {"<": [{"var": "event.amount"}, 5]}]},
                        {"==": [{"var": "kind"}, "receipt.posted"]}]}
    chained = {"type": "notify", "role": "manager", "text": "看一下", "chain": [{"after_hours": 2, "role": "director"}]}
    saved = run(session_factory, save_rule, actors["钱总监"], SaveRule(RuleSpec(
        "nested", "组合条件", "receipt.posted", condition, (chained,))))
    client = console_as("钱总监")
    html = client.get(f"/console/collaboration/rules/{saved.rule_id}").get_data(as_text=True)
    assert "比句子能写的更复杂" in html and "比表单能写的更复杂" in html
    assert 'name="raw_condition"' in html and 'name="act-0-raw"' in html and 'id="cond-0-field"' not in html
    form = {"code": "nested", "name": "组合条件（改名）", "trigger": "receipt.posted", "rule_id": saved.rule_id,
            "raw_condition": re.search(r'name="raw_condition" value="([^"]*)"', html).group(1),
            "act-0-raw": re.search(r'name="act-0-raw" value="([^"]*)"', html).group(1)}
    form = {k: __import__("html").unescape(v) if isinstance(v, str) else v for k, v in form.items()}
    assert post(client, "/console/collaboration/rules/save", form, page=NEW).status_code == 303
    with session_factory() as s:
        (rule,) = list_rules(s, actors["钱总监"])
    assert (rule.name, rule.version, rule.condition, rule.actions) == ("组合条件（改名）", 2, condition, [chained])
    # Dropping the stored condition for the rows is a choice the user makes with its own button.
    swapped = post(client, "/console/collaboration/rules/sandbox", {**form, "keep_sentence_condition": "1"},
                   page=NEW).get_data(as_text=True)
    assert 'name="raw_condition"' not in swapped and 'id="cond-0-field"' in swapped


def test_chains_page_creates_edits_and_retires_a_chain(console_as, session_factory, actors, engine):
    client = console_as("钱总监")
    page = "/console/collaboration/chains"
    html = client.get(page).get_data(as_text=True)
    assert "还没有自定义审批链" in html
    form = {"doc_kind": "purchase_order", "name": "大额采购", "min_value": "50000", "urgent": "",
            "role0": "manager", "hours0": "24", "role1": "director", "hours1": "48", "request_id": _request_id(html)}
    assert post(client, page, form, page=page).status_code == 303
    assert post(client, page, form, page=page).status_code == 303  # a double submit: still one chain
    with session_factory() as s:
        (chain,) = list_chains(s, actors["钱总监"])
    assert chain.steps == [{"role": "manager", "timeout_hours": 24}, {"role": "director", "timeout_hours": 48}]
    listed = client.get(page).get_data(as_text=True)
    assert "采购订单" in listed and "¥50,000.00" in listed and "主管（24 小时） → 总监（48 小时）" in listed
    edit = client.get(f"{page}?edit={chain.id}").get_data(as_text=True)
    assert "修改审批链" in edit and 'value="50000"' in edit
    before = rows(engine)
    bad = post(client, page, {**form, "chain_id": chain.id, "hours1": "99999", "request_id": ""}, page=page)
    assert bad.status_code == 422 and "时限无效" in bad.get_data(as_text=True)
    assert rows(engine) == before
    assert post(client, page, {**form, "chain_id": chain.id, "hours1": "12", "request_id": ""},
                page=page).status_code == 303
    assert post(client, f"{page}/{chain.id}/switch", {"enabled": "0"}, page=page).status_code == 303
    with session_factory() as s:
        row = s.get_one(ApprovalChain, chain.id)
        assert (row.steps[1]["timeout_hours"], row.active) == (12, False)


def test_webhooks_page_subscribes_shows_the_secret_once_and_pauses(console_as, session_factory, actors, other,
                                                                   public_dns):
    _org, boss = other
    run(session_factory, subscribe_webhook, boss, SubscribeWebhook("https://theirs.example.com/", ("*",)))
    client = console_as("钱总监")
    page = "/console/collaboration/webhooks"
    resp = post(client, page, {"url": "https://erp.example.com/in", "kinds": ["receipt.posted", "lot.qc_failed"]},
                page=page)
    html = resp.get_data(as_text=True)
    with session_factory() as s:
        (sub,) = list_webhooks(s, actors["钱总监"])
        secret = s.get_one(__import__("models.webhooks", fromlist=["WebhookSubscription"]).WebhookSubscription,
                           sub.id).secret
    assert resp.status_code == 201 and secret in html and "只显示这一次" in html
    listed = client.get(page).get_data(as_text=True)
    assert "https://erp.example.com/in" in listed and "收货入库、质检不合格" in listed
    assert secret not in listed and "theirs.example.com" not in listed
    assert client.get(f"{page}/{sub.id}").status_code == 200
    assert post(client, f"{page}/{sub.id}/switch", {"enabled": "0"}, page=page).status_code == 303
    assert "已暂停" in client.get(page).get_data(as_text=True)


def test_devices_page_lists_devices_with_last_reading(console_as, session_factory, demo, actors):
    run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        "T-冷库", "sensor", demo.sites["ZC"], demo.items["茶青"], {"expected_interval_minutes": 30}))
    html = console_as("赵经理").get("/console/collaboration/devices").get_data(as_text=True)
    assert "T-冷库" in html and "传感器" in html and "总仓" in html and "还没有读数" in html and "30 分钟" in html
    assert "正常" in html


def test_health_page_draws_three_charts_with_thresholds_and_saves_them(console_as, session_factory, demo, actors):
    from models.base import utcnow
    from models.operations.health_checks import record_consistency_checks

    client = console_as("钱总监")
    page = "/console/collaboration/health"
    assert "一致性检查通过率（最近一次检查）</td><td class=\"num\">无数据" in client.get(page).get_data(as_text=True)
    run(session_factory, record_consistency_checks, demo.org_id, utcnow())
    html = client.get(page).get_data(as_text=True)
    assert "一致性检查通过率（最近一次检查）</td><td class=\"num\">100.0%" in html
    assert html.count('type="application/json"') == 3 and html.count("阈值") >= 3
    assert "vendor/echarts.min.js" in html and "最近 24 小时" in html
    assert client.get(f"{page}?span=14d").status_code == 200
    assert client.get(f"{page}?span=forever").status_code == 200  # unknown span: the default
    form = {"latency_p95_ms": "800", "retry_rate": "10", "check_pass_rate": "90", "request_id": _request_id(html)}
    assert post(client, f"{page}/thresholds", form, page=page).status_code == 303
    saved = client.get(page).get_data(as_text=True)
    assert 'value="800"' in saved and 'value="10"' in saved and 'value="90"' in saved
    with session_factory() as s:
        from models.org import Org
        assert s.get_one(Org, demo.org_id).settings["event_health_thresholds"] == {
            "latency_p95_ms": "800", "retry_rate": "0.1", "check_pass_rate": "0.9"}


def test_another_orgs_ids_are_not_found(console_as, other, session_factory):
    org, _boss = other
    with session_factory() as s:
        (rule,) = [r for r in s.scalars(__import__("sqlalchemy").select(Rule).where(Rule.org_id == org.org_id))]
    client = console_as("钱总监")
    assert client.get(f"/console/collaboration/rules/{rule.id}").status_code == 404
    assert client.get("/console/collaboration/chains?edit=999999").status_code == 404


def test_the_list_says_when_a_rule_last_fired(console_as, session_factory, demo, actors):
    import workflows.handlers  # noqa: F401  (register the relay's handlers)
    from workflows.relay import relay_pending

    run(session_factory, save_rule, actors["钱总监"], SaveRule(RuleSpec(
        "big-leaf", "大额鲜叶提醒", "receipt.posted", {">": [{"var": "event.quantity"}, "10"]},
        ({"type": "notify", "role": "manager", "text": "{number} 到货"},))))
    _receive(session_factory, demo, actors, "12")
    # until nothing is left: other tests' events may be queued ahead of this org's, then the rule's own rule.fired
    while relay_pending(session_factory):
        pass
    html = console_as("赵经理").get("/console/collaboration/").get_data(as_text=True)
    row = html.split("大额鲜叶提醒", 1)[1].split("</tr>", 1)[0]
    assert "从未" not in row and re.search(r"\d\d-\d\d \d\d:\d\d", row)
