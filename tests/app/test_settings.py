"""The one settings object (issue 11, item 4): every variable validated at start, named when wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import settings as settings_module
from app.factory import create_app
from app.settings import DEFAULT_SECRET_KEY, DEV_PUBLIC_BASE_URL, VAR_DIR, Settings, current
from bot.platforms import BotConfig
from models import netguard
from models.errors import ValidationError, WebhookUrlForbidden
from models.operations.retention import RetentionPolicy
from workflows.messenger import PlatformMessenger, RecordingMessenger, messenger_for

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(("var", "value", "fragment"), [
    ("NOTE_LINK_DAYS", "-1", "须在 1 到 3650 之间"),
    ("NOTE_LINK_DAYS", "abc", "须是整数"),
    ("NOTE_LINK_DAYS", "1.5", "须是整数"),
    ("MAX_UPLOAD_BYTES", "0", "不能小于 1"),
    ("METRICS_CACHE_SECONDS", "soon", "须是整数"),
    ("METRICS_CACHE_SECONDS", "-5", "不能为负数"),
    ("MQTT_PORT", "abc", "须是整数"),
    ("MQTT_PORT", "70000", "不能大于 65535"),
    ("WECHAT_WINDOW_S", "5", "不能小于 10"),
    ("DINGTALK_ROBOT_WINDOW_S", "99999", "不能大于 3600"),
    ("RETENTION_OUTBOX_DAYS", "two weeks", "须是整数"),
    ("RETENTION_OUTBOX_DAYS", "0", "保留天数须在 1 到 3650 之间"),
    ("RETENTION_BATCH_SIZE", "0", "每批删除条数须在 1 到 100000 之间"),
    ("LIUZHUAN_DEBUG", "yes", "只能是 1 或 0"),
    ("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "true", "只能是 1 或 0"),
    ("LIUZHUAN_RELAY_KICK", "off", "只能是 1 或 0"),
    ("LIUZHUAN_ENV", "Production", "只能是 development、test、production"),
    ("DATABASE_URL", "mysql://x/y", "只支持 sqlite 或 postgresql"),
    ("PUBLIC_BASE_URL", "liuzhuan.example.cn", "必须设置 PUBLIC_BASE_URL"),
])
def test_an_invalid_value_stops_start_naming_the_variable(var, value, fragment, tmp_path):
    with pytest.raises(ValidationError) as exc:
        Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path), var: value})
    assert exc.value.code == "VALIDATION_ERROR"
    assert exc.value.details["field"] == var
    assert var in exc.value.message and fragment in exc.value.message


def test_the_app_does_not_start_on_a_wrong_type(tmp_path):
    with pytest.raises(ValidationError) as exc:
        create_app({"LIUZHUAN_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                    "NOTE_LINK_DAYS": "ninety"})
    assert exc.value.details["field"] == "NOTE_LINK_DAYS"
    assert exc.value.message == "环境变量 NOTE_LINK_DAYS 的值无效：须是整数"
    assert not (tmp_path / "x.db").exists()  # refused before the engine was made


def test_a_refusal_never_echoes_the_value():
    with pytest.raises(ValidationError) as exc:
        Settings.from_env({"WECHAT_WINDOW_S": "s3cr3t-looking"})
    assert "s3cr3t-looking" not in exc.value.message and "s3cr3t-looking" not in str(exc.value.details)


def test_defaults_are_unchanged():
    s = Settings.from_env({})
    assert (s.database_url, s.redis_url, s.secret_key, s.media_root, s.var_dir) == (
        f"sqlite:///{VAR_DIR / 'liuzhuan.db'}", None, DEFAULT_SECRET_KEY, VAR_DIR / "media", VAR_DIR)
    assert (s.vosk_model_path, s.node_name, s.debug, s.environment, s.production) == (
        None, "server", False, "development", False)
    assert (s.max_upload_bytes, s.public_base_url, s.note_link_days) == (20 * 1024 * 1024, DEV_PUBLIC_BASE_URL, 90)
    assert (s.metrics_token, s.metrics_cache_seconds, s.webhook_allow_http, s.webhook_allow_hosts) == (
        None, 30, False, "")
    assert (s.relay_kick, s.platform_api_base) == (True, None)
    assert s.retention == RetentionPolicy(30, 90, 14, 7, 2, 1000)
    assert s.wechat.model_dump() == {"token": "", "aes_key": "", "app_id": "", "secret": "", "api_base": None,
                                     "window_s": 300, "web_app_id": "", "web_app_secret": "",
                                     "open_base": "https://open.weixin.qq.com"}
    assert s.wecom.model_dump() == {"token": "", "aes_key": "", "corp_id": "", "secret": "", "agent_id": ""}
    assert s.dingtalk.model_dump() == {
        "app_key": "", "app_secret": "", "robot_code": "", "event_token": "", "event_aes_key": "",
        "callback_token": "", "callback_aes_key": "", "card_template_id": "liuzhuan-approval.schema",
        "api_base": None, "robot_window_s": 300, "login_base": "https://login.dingtalk.com"}
    assert s.miniprogram.model_dump() == {"wechat_app_id": None, "wechat_app_secret": None,
                                          "dingtalk_app_key": None, "dingtalk_app_secret": None}
    assert s.mqtt.model_dump() == {"host": "127.0.0.1", "port": 1883, "topic_prefix": "lz"}


def test_var_dir_moves_the_derived_defaults(tmp_path):
    s = Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'liuzhuan.db'}" and s.media_root == tmp_path / "media"


def test_an_empty_variable_counts_as_unset():
    s = Settings.from_env({"NOTE_LINK_DAYS": "", "SECRET_KEY": "", "MQTT_PORT": "", "LIUZHUAN_ENV": ""})
    assert (s.note_link_days, s.secret_key, s.mqtt.port, s.environment) == (90, DEFAULT_SECRET_KEY, 1883,
                                                                             "development")


def test_unknown_variables_are_ignored():
    assert Settings.from_env({"LIUZHUAN_TYPO": "x", "PATH": "/bin"}).environment == "development"


def _readme_table() -> dict[str, str]:
    """README's settings table: variable → default column."""
    section = README.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = re.findall(r"`([A-Z_]+)`", cells[0])
            defaults = [d.strip() for d in cells[1].split(",")]
            for i, name in enumerate(names):
                table[name] = defaults[i] if len(defaults) == len(names) else cells[1]
    return table


def test_readme_settings_table_matches_the_defaults():
    table = _readme_table()
    assert len(table) == 31
    s = Settings.from_env({})
    values = {**{a: getattr(s, f) for f, info in Settings.model_fields.items()
                 if isinstance(a := info.validation_alias, str)},
              **{var: getattr(s.retention, name) for name, var in settings_module.RETENTION_ENV.items()},
              "WECHAT_WINDOW_S": s.wechat.window_s, "DINGTALK_ROBOT_WINDOW_S": s.dingtalk.robot_window_s}
    for name, default in table.items():
        if name in ("HOST", "PORT"):  # make run's, not the application's
            continue
        assert name in Settings.variables, name
        value = values[name]
        if default == "unset":
            assert value in (None, "", False), name
        elif re.fullmatch(r"\d+", default):
            assert value == int(default), name
        elif re.fullmatch(r"`[^`]+`", default):
            if isinstance(value, Path):  # the README names folders relative to the checkout
                value = str(value.relative_to(README.parent))
            assert value == default.strip("`").rstrip("/"), name
    for var in settings_module.RETENTION_ENV.values():
        assert var in table


def test_platform_groups_read_the_flat_variables():
    s = Settings.from_env({"WECHAT_TOKEN": "t", "WECHAT_AES_KEY": "a" * 43, "WECHAT_APPID": "wx1",
                           "WECHAT_API_BASE": "http://127.0.0.1:9", "WECOM_CORP_ID": "corp",
                           "DINGTALK_APP_KEY": "dk", "DINGTALK_CALLBACK_TOKEN": "cb",
                           "WECHAT_MINIPROGRAM_APP_ID": "mini", "DINGTALK_MINIPROGRAM_APP_KEY": "dmini",
                           "MQTT_PORT": "8883", "LIUZHUAN_PLATFORM_API_BASE": "http://127.0.0.1:7"})
    assert (s.wechat.token, s.wechat.app_id, s.wecom.corp_id, s.dingtalk.callback_token) == ("t", "wx1", "corp", "cb")
    assert s.dingtalk.robot == "dk"  # DINGTALK_ROBOT_CODE unset: the app key, as DingTalk does
    assert (s.miniprogram.wechat_app_id, s.wechat_app_id, s.dingtalk_app_key) == ("mini", "mini", "dmini")
    assert s.wechat_api_base == "http://127.0.0.1:9" and s.mqtt.port == 8883
    bot = BotConfig.from_settings(s)
    assert (bot.wechat_token, bot.wechat_appid, bot.wecom_corp_id, bot.dingtalk_robot_code, bot.api_base) == (
        "t", "wx1", "corp", "dk", "http://127.0.0.1:7")


def test_the_messenger_is_built_from_the_settings():
    assert isinstance(messenger_for(Settings.from_env({})), RecordingMessenger)
    m = messenger_for(Settings.from_env({"DINGTALK_APP_KEY": "dk", "DINGTALK_APP_SECRET": "ds",
                                         "DINGTALK_ROBOT_CODE": "robot", "DINGTALK_API_BASE": "http://127.0.0.1:9"}))
    assert isinstance(m, PlatformMessenger)
    assert (m.dingtalk_key, m.robot_code, m.card_template_id, m.dingtalk_base) == (
        "dk", "robot", "liuzhuan-approval.schema", "http://127.0.0.1:9")


def test_current_is_cached_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("NOTE_LINK_DAYS", raising=False)
    first = current()
    assert current() is first
    monkeypatch.setenv("NOTE_LINK_DAYS", "7")
    assert current() is not first and current().note_link_days == 7
    monkeypatch.setenv("NOTE_LINK_DAYS", "-7")
    with pytest.raises(ValidationError, match="NOTE_LINK_DAYS"):
        current()


def test_the_webhook_guard_takes_its_escapes_from_the_settings(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    monkeypatch.delenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", raising=False)
    monkeypatch.delenv("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", raising=False)
    with pytest.raises(WebhookUrlForbidden, match="https://"):
        netguard.check_url("http://hooks.example.net:8081/x")
    monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "1")
    with pytest.raises(WebhookUrlForbidden, match="内网"):
        netguard.check_url("http://hooks.example.net:8081/x")
    monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", "hooks.example.net:8081")
    assert netguard.check_url("http://hooks.example.net:8081/x").addresses == ("127.0.0.1",)
