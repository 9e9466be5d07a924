"""Binding chat and mini-program identities to members."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.errors import PermissionDenied
from models.identity import BindingCode
from models.operations.identity import (
    BindByPhone,
    BindIdentity,
    BindingCodeInvalid,
    IssueBindingCode,
    PhoneNotRegistered,
    bind_by_phone,
    bind_identity,
    bind_with_code,
    hash_code,
    issue_binding_code,
    members_for_identity,
    normalize_code,
)
from models.org import IdentityProvider
from models.uow import run

WX = IdentityProvider.WECHAT_OPENID


def test_code_binds_once_and_then_is_spent(session_factory, demo, actors):
    issued = run(session_factory, issue_binding_code, actors["赵经理"], IssueBindingCode(demo.members["小周"]))
    plain = normalize_code(issued.code)
    assert plain is not None and len(plain) == 12 and issued.code == f"{plain[:4]} {plain[4:8]} {plain[8:]}"
    bound = bind_with_code(session_factory, BindIdentity(WX, "openid-new-1", issued.code))
    assert bound.member_id == issued.member_id and bound.org_id == demo.org_id
    with session_factory() as session:
        assert [m.id for m in members_for_identity(session, WX, "openid-new-1")] == [issued.member_id]
    with pytest.raises(BindingCodeInvalid):
        bind_with_code(session_factory, BindIdentity(WX, "openid-new-2", issued.code))
    with session_factory() as session:  # only the hash is kept
        row = session.scalar(select(BindingCode).where(BindingCode.member_id == issued.member_id))
        assert row.code_hash == hash_code(plain) and plain not in row.code_hash


def test_expired_or_malformed_codes_bind_nothing(session_factory, demo, actors):
    issued = run(session_factory, issue_binding_code, actors["赵经理"], IssueBindingCode(demo.members["小周"]))
    with session_factory() as session:
        row = session.scalar(select(BindingCode).where(BindingCode.code_hash == hash_code(normalize_code(issued.code)),
                                                       BindingCode.org_id == demo.org_id))
        row.expires_at = row.expires_at - timedelta(days=2)
        session.commit()
    for code in (issued.code, "12345", "abcdef", ""):
        with pytest.raises(BindingCodeInvalid) as err:
            bind_with_code(session_factory, BindIdentity(WX, "openid-x", code))
        assert err.value.code == "BINDING_CODE_INVALID"
    with session_factory() as session:
        assert members_for_identity(session, WX, "openid-x") == []


def test_binding_without_a_claimed_try_is_refused(session_factory, demo, actors):
    issued = run(session_factory, issue_binding_code, actors["赵经理"], IssueBindingCode(demo.members["小周"]))
    with pytest.raises(BindingCodeInvalid):
        run(session_factory, bind_identity, BindIdentity(WX, "openid-unthrottled", issued.code))
    with session_factory() as session:
        assert members_for_identity(session, WX, "openid-unthrottled") == []


def test_only_managers_issue_codes_for_others(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, issue_binding_code, actors["小周"], IssueBindingCode(demo.members["老孙"]))
    own = run(session_factory, issue_binding_code, actors["小周"], IssueBindingCode(demo.members["小周"]))
    assert own.member_id == demo.members["小周"]


def test_registered_phone_binds_and_unknown_phone_does_not(session_factory, demo):
    bindings = run(session_factory, bind_by_phone, BindByPhone(WX, "openid-wang-2", "+8613800000001"))
    assert demo.members["王阿姨"] in [b.member_id for b in bindings]
    with pytest.raises(PhoneNotRegistered):
        run(session_factory, bind_by_phone, BindByPhone(WX, "openid-nobody", "13000000000"))
