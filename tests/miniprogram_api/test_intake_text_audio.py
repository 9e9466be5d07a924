"""An "audio" form field sent as text (no file) is no recording: the intake reads only uploaded files as speech."""

from __future__ import annotations

from tests.miniprogram_api.fixtures_3a import fx_app, fx_client, fx_platform_stub  # noqa: F401
from tests.miniprogram_api.test_intake import counts, post_intake


def test_text_audio_field_is_not_a_recording(client, app, demo, session_factory):
    before = counts(session_factory)
    only_text = post_intake(client, app, demo, audio="clip.silk")
    assert only_text.status_code == 422 and only_text.json["error"]["code"] == "VALIDATION_ERROR"
    assert only_text.json["error"]["details"]["field"] == "weight"
    assert counts(session_factory) == before
    # Speech is disabled in these tests: a real clip would add SPEECH_DISABLED, a text field adds nothing.
    typed = post_intake(client, app, demo, weight="3", audio="clip.silk")
    assert typed.status_code == 200, typed.json
    assert "SPEECH_DISABLED" not in [w["code"] for w in typed.json["warnings"]]
    assert typed.json["transcript"] is None
