"""Every test here starts with no cached DingTalk token: they count token requests against fresh stubs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platforms.dingtalk import forget_dingtalk_tokens


@pytest.fixture(autouse=True)
def _fresh_dingtalk_tokens() -> Iterator[None]:
    forget_dingtalk_tokens()
    yield
    forget_dingtalk_tokens()
