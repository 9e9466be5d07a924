"""A site's offline autonomy policy (issue 14 point 3): the data, the settings operation, and the
check `offline_allowance` that operations will make while a node is out of sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from models.errors import NotFound, PermissionDenied, ValidationError
from models.infra import AuditEntry
from models.operations.settings_admin import UpdateSitePolicy, update_site_policy
from models.org import OfflineKind, SitePolicy
from models.queries.offline_policy import (
    NODE_OFFLINE_CREDIT_EXCEEDED,
    NODE_OFFLINE_NOT_ALLOWED,
    NODE_OFFLINE_TOO_LONG,
    ONLINE_GRACE,
    Policy,
    Verdict,
    decide,
    offline_allowance,
    site_policies,
)
from models.uow import run
from tests.security.conftest import rows

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def _ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_defaults_allow_all_but_shipping_offline_and_warn_then_refuse_money(session_factory, demo):
    sx = demo.sites["SX"]
    with session_factory() as s:
        # Online (synced within the grace): everything runs, shipping too.
        assert offline_allowance(s, sx, "ship", NOW - ONLINE_GRACE, NOW).verdict == Verdict.ALLOWED
        offline_ship = offline_allowance(s, sx, "ship", _ago(1), NOW)
        assert offline_ship.verdict == Verdict.REFUSED and offline_ship.code == NODE_OFFLINE_NOT_ALLOWED
        assert "不允许离线出库销售" in offline_ship.reason
        assert offline_allowance(s, sx, OfflineKind.RECEIVE, _ago(23), NOW).verdict == Verdict.ALLOWED
        warned = offline_allowance(s, sx, "receive", _ago(25), NOW)
        assert (warned.verdict, warned.code, warned.allowed) == (Verdict.WARN, NODE_OFFLINE_TOO_LONG, True)
        assert "超过 24 小时" in warned.reason
        refused = offline_allowance(s, sx, "receive", _ago(73), NOW)
        assert (refused.verdict, refused.code, refused.allowed) == (Verdict.REFUSED, NODE_OFFLINE_TOO_LONG, False)
        assert "本节点已 73 小时未与总部同步" in refused.reason and "暂停涉及金额的收货入库" in refused.reason
        # Not money-bearing: a count or a sensor freeze only warns, however long the node is away.
        for kind in ("count", "freeze", "transfer_out"):
            assert offline_allowance(s, sx, kind, _ago(500), NOW).verdict == Verdict.WARN
        # Never synced: as long a lag as there is.
        never = offline_allowance(s, sx, "receive", None, NOW)
        assert never.code == NODE_OFFLINE_TOO_LONG and never.reason.startswith("本节点从未与总部同步")
        with pytest.raises(NotFound):
            offline_allowance(s, sx, "teleport", _ago(1), NOW)
        with pytest.raises(NotFound):
            offline_allowance(s, 10**9, "receive", _ago(1), NOW)


def test_the_policy_is_edited_audited_and_read_back(session_factory, demo, actors):
    sx = demo.sites["SX"]
    saved = run(session_factory, update_site_policy, actors["钱总监"], UpdateSitePolicy(
        sx, ("ship", "receive"), D("5000.00"), 12, 48, "山里收购点常断网"))
    assert saved.changed == ("offline_kinds", "refuse_money_after_hours", "ship_credit_per_day", "warn_after_hours")
    with session_factory() as s:
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == "site.policy_updated")).one()
        assert entry.before["offline_kinds"] == "receive,count,freeze,transfer_out"
        assert entry.after["offline_kinds"] == "receive,ship" and entry.reason == "山里收购点常断网"
        policy = site_policies(s, actors["钱总监"])[sx]
        assert policy.own and policy.offline_kinds == (OfflineKind.RECEIVE, OfflineKind.SHIP)
        assert policy.ship_credit_per_day == D("5000.00")
        assert (policy.warn_after_hours, policy.refuse_money_after_hours) == (12, 48)
        assert not site_policies(s, actors["钱总监"])[demo.sites["ZC"]].own
        assert offline_allowance(s, sx, "ship", _ago(2), NOW, value=D("3000"), shipped_today=D("1000")).allowed
        over = offline_allowance(s, sx, "ship", _ago(2), NOW, value=D("3000"), shipped_today=D("2500"))
        assert (over.verdict, over.code) == (Verdict.REFUSED, NODE_OFFLINE_CREDIT_EXCEEDED)
        assert offline_allowance(s, sx, "count", _ago(2), NOW).code == NODE_OFFLINE_NOT_ALLOWED
        assert offline_allowance(s, sx, "receive", _ago(13), NOW).verdict == Verdict.WARN
        assert offline_allowance(s, sx, "receive", _ago(49), NOW).verdict == Verdict.REFUSED
    again = run(session_factory, update_site_policy, actors["钱总监"], UpdateSitePolicy(
        sx, ("receive", "ship"), D("5000.00"), 12, 48))
    assert again.changed == ()


def test_saving_the_defaults_stores_nothing(session_factory, engine, demo, actors):
    before = rows(engine, ignore=("idempotency_keys",))
    saved = run(session_factory, update_site_policy, actors["钱总监"], UpdateSitePolicy(
        demo.sites["ZC"], ("receive", "count", "freeze", "transfer_out")))
    assert saved.changed == ()
    assert rows(engine, ignore=("idempotency_keys",)) == before


@pytest.mark.parametrize(("cmd", "field"), [
    (UpdateSitePolicy(0, ("fly",)), "offline_kinds"),
    (UpdateSitePolicy(0, (), warn_after_hours=0), "warn_after_hours"),
    (UpdateSitePolicy(0, (), refuse_money_after_hours=721), "refuse_money_after_hours"),
    (UpdateSitePolicy(0, (), warn_after_hours=80, refuse_money_after_hours=72), "warn_after_hours"),
    (UpdateSitePolicy(0, (), ship_credit_per_day=D("-1")), "ship_credit_per_day"),
    (UpdateSitePolicy(0, (), ship_credit_per_day=D("1.005")), "ship_credit_per_day"),
    (UpdateSitePolicy(0, (), ship_credit_per_day=D("NaN")), "ship_credit_per_day"),
])
def test_bad_policies_are_refused_and_write_nothing(session_factory, engine, demo, actors, cmd, field):
    before = rows(engine)
    with pytest.raises(ValidationError) as refused:
        run(session_factory, update_site_policy, actors["钱总监"],
            UpdateSitePolicy(demo.sites["SX"], cmd.offline_kinds, cmd.ship_credit_per_day, cmd.warn_after_hours,
                             cmd.refuse_money_after_hours))
    assert refused.value.details["field"] == field
    assert rows(engine) == before


def test_only_who_may_edit_sites_edits_the_policy_and_only_in_their_org(session_factory, engine, demo, actors):
    before = rows(engine)
    with pytest.raises(PermissionDenied):
        run(session_factory, update_site_policy, actors["赵经理"], UpdateSitePolicy(demo.sites["SX"], ()))
    other = actors["钱总监"].__class__(org_id=demo.org_id + 10_000, member_id=None,
                                     roles=actors["钱总监"].roles)
    with pytest.raises(NotFound):
        run(session_factory, update_site_policy, other, UpdateSitePolicy(demo.sites["SX"], ()))
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get(SitePolicy, demo.sites["SX"]) is None


_policies = st.builds(
    lambda kinds, credit, warn, extra: Policy(1, tuple(k for k in OfflineKind if k in kinds), credit, warn,
                                              warn + extra, own=True),
    st.frozensets(st.sampled_from(list(OfflineKind))),
    st.none() | st.decimals(min_value=0, max_value=10_000, places=2),
    st.integers(1, 200), st.integers(0, 200))
_lags = st.one_of(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)), st.just(timedelta.max))


@given(_policies, st.sampled_from(list(OfflineKind)), _lags, _lags,
       st.decimals(min_value=0, max_value=20_000, places=2), st.decimals(min_value=0, max_value=20_000, places=2))
def test_a_later_sync_never_makes_a_verdict_stricter(policy, kind, lag_a, lag_b, value, shipped):
    """Monotone in the lag: allowed at lag L means allowed at every shorter lag, and in general the
    verdict at a shorter lag is never stricter than at a longer one."""
    shorter, longer = sorted((lag_a, lag_b))
    at_shorter = decide(policy, kind, shorter, value=value, shipped_today=shipped)
    at_longer = decide(policy, kind, longer, value=value, shipped_today=shipped)
    assert at_shorter.verdict <= at_longer.verdict
    if at_longer.verdict == Verdict.ALLOWED:
        assert at_shorter.verdict == Verdict.ALLOWED
    # A refusal or warning always says why, with a stable code; an allowance says nothing.
    for got in (at_shorter, at_longer):
        assert (got.code is None) == (got.verdict == Verdict.ALLOWED) and bool(got.reason) == bool(got.code)
