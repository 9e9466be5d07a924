"""One typed settings object, read from the environment and checked at start-up.

Every environment variable the server, the workers, the bots and the bridge read is declared here
(pydantic-settings, validated once): other modules get their settings from this object, either passed
in or, in worker processes without a Flask app, through :func:`current`. Variables keep their flat
names (``WECHAT_TOKEN``, ``DINGTALK_APP_KEY`` …); each platform's are gathered in a nested group.
An empty variable counts as unset. A value of the wrong type or out of range stops start-up with a
Chinese message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from models import netguard, node
from models.errors import DomainError, ValidationError
from models.operations.retention import RetentionPolicy

VAR_DIR = Path(__file__).resolve().parent.parent / "var"
DEV_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
#: The only values LIUZHUAN_ENV may take (exact spelling): a typo must never mean "development".
ENVIRONMENTS = ("development", "test", "production")
DEFAULT_SECRET_KEY = "dev-only-secret-change-me"
#: RetentionPolicy field → environment variable (days kept by the retention job, rows per batch).
RETENTION_ENV = {
    "chat_inbound_days": "RETENTION_CHAT_INBOUND_DAYS",
    "device_readings_days": "RETENTION_DEVICE_READINGS_DAYS",
    "outbox_days": "RETENTION_OUTBOX_DAYS",
    "binding_attempts_days": "RETENTION_BINDING_ATTEMPTS_DAYS",
    "callback_signatures_days": "RETENTION_CALLBACK_SIGNATURES_DAYS",
    "console_sessions_days": "RETENTION_CONSOLE_SESSIONS_DAYS",
    "batch_size": "RETENTION_BATCH_SIZE",
}


def _flag(value: Any) -> Any:
    # A switch is "1" or "0": "true" or "yes" silently meaning off (as before) hid typos.
    if isinstance(value, str):
        if value not in ("0", "1"):
            raise ValueError("flag")
        return value == "1"
    return value


#: An on/off switch variable: 1 or 0.
Flag = Annotated[bool, BeforeValidator(_flag)]


class _Group(BaseModel):
    """A platform's settings: fields read from the flat variable names (their validation aliases)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class WeChatSettings(_Group):
    """WeChat official account (bot callbacks and pushes)."""

    token: str = Field("", validation_alias="WECHAT_TOKEN")
    aes_key: str = Field("", validation_alias="WECHAT_AES_KEY")
    app_id: str = Field("", validation_alias="WECHAT_APPID")
    secret: str = Field("", validation_alias="WECHAT_SECRET")
    #: Send WeChat API calls here instead of https://api.weixin.qq.com (a devstubs server).
    api_base: str | None = Field(None, validation_alias="WECHAT_API_BASE")
    #: Seconds a signed callback's timestamp may differ from our clock.
    window_s: int = Field(300, ge=10, le=3600, validation_alias="WECHAT_WINDOW_S")
    #: Open-platform website app (网站应用) for the console's QR sign-in (snsapi_login).
    web_app_id: str = Field("", validation_alias="WECHAT_WEB_APP_ID")
    web_app_secret: str = Field("", validation_alias="WECHAT_WEB_APP_SECRET")
    #: Where the browser goes to scan (https://open.weixin.qq.com; a devstubs server locally).
    open_base: str = Field("https://open.weixin.qq.com", validation_alias="WECHAT_OPEN_BASE")


class WeComSettings(_Group):
    """WeCom self-built app (bot callbacks and app messages)."""

    token: str = Field("", validation_alias="WECOM_TOKEN")
    aes_key: str = Field("", validation_alias="WECOM_AES_KEY")
    corp_id: str = Field("", validation_alias="WECOM_CORP_ID")
    secret: str = Field("", validation_alias="WECOM_SECRET")
    agent_id: str = Field("", validation_alias="WECOM_AGENT_ID")


class DingTalkSettings(_Group):
    """DingTalk app: robot, event subscription, approval cards and their callback."""

    app_key: str = Field("", validation_alias="DINGTALK_APP_KEY")
    app_secret: str = Field("", validation_alias="DINGTALK_APP_SECRET")
    #: Unset means the app key (DingTalk's default robot code).
    robot_code: str = Field("", validation_alias="DINGTALK_ROBOT_CODE")
    event_token: str = Field("", validation_alias="DINGTALK_EVENT_TOKEN")
    event_aes_key: str = Field("", validation_alias="DINGTALK_EVENT_AES_KEY")
    callback_token: str = Field("", validation_alias="DINGTALK_CALLBACK_TOKEN")
    callback_aes_key: str = Field("", validation_alias="DINGTALK_CALLBACK_AES_KEY")
    card_template_id: str = Field("liuzhuan-approval.schema", validation_alias="DINGTALK_CARD_TEMPLATE_ID")
    #: Send DingTalk calls here instead of api.dingtalk.com / oapi.dingtalk.com (a devstubs server).
    api_base: str | None = Field(None, validation_alias="DINGTALK_API_BASE")
    robot_window_s: int = Field(300, ge=10, le=3600, validation_alias="DINGTALK_ROBOT_WINDOW_S")
    #: Where the browser goes to scan for the console's QR sign-in (https://login.dingtalk.com; a devstubs server
    #: locally). The sign-in uses this app's key and secret (clientId = AppKey).
    login_base: str = Field("https://login.dingtalk.com", validation_alias="DINGTALK_LOGIN_BASE")

    @property
    def robot(self) -> str:
        return self.robot_code or self.app_key


class MiniProgramSettings(_Group):
    """Mini-program logins; no WeChat app id (and not production) enables POST /api/v1/auth/dev."""

    wechat_app_id: str | None = Field(None, validation_alias="WECHAT_MINIPROGRAM_APP_ID")
    wechat_app_secret: str | None = Field(None, validation_alias="WECHAT_MINIPROGRAM_APP_SECRET")
    dingtalk_app_key: str | None = Field(None, validation_alias="DINGTALK_MINIPROGRAM_APP_KEY")
    dingtalk_app_secret: str | None = Field(None, validation_alias="DINGTALK_MINIPROGRAM_APP_SECRET")


class MqttSettings(_Group):
    """The MQTT bridge's broker (the Procfile's `mqtt:` process)."""

    host: str = Field("127.0.0.1", validation_alias="MQTT_HOST")
    port: int = Field(1883, ge=1, le=65535, validation_alias="MQTT_PORT")
    topic_prefix: str = Field("lz", validation_alias="MQTT_TOPIC_PREFIX")


#: Nested groups, each validated from the same flat variables.
GROUPS: dict[str, type[_Group]] = {"wechat": WeChatSettings, "wecom": WeComSettings, "dingtalk": DingTalkSettings,
                                   "miniprogram": MiniProgramSettings, "mqtt": MqttSettings}


class Settings(BaseSettings):
    """The process's settings; build with :meth:`from_env` (or :func:`current` in a worker)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True, populate_by_name=True,
                                      arbitrary_types_allowed=True)

    #: SQLAlchemy URL. Default: an SQLite file under var/ (no server needed).
    database_url: str = Field(validation_alias="DATABASE_URL")
    #: Redis for the Celery broker and cache; None selects the embedded file-system broker.
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    #: Signs our own session tokens and delivery-note links.
    secret_key: str = Field(DEFAULT_SECRET_KEY, validation_alias="SECRET_KEY")
    media_root: Path = Field(validation_alias="MEDIA_ROOT")
    var_dir: Path = Field(VAR_DIR, validation_alias="LIUZHUAN_VAR_DIR")
    #: Where an operator installed the Chinese vosk model; None disables speech input.
    vosk_model_path: str | None = Field(None, validation_alias="VOSK_MODEL_PATH")
    #: This node: "server" (headquarters) or an edge node's code ([A-Z0-9]{1,8}), carried by the
    #: numbers it issues and the stock moves it writes (models.node).
    node_name: str = Field(node.SERVER, validation_alias="LIUZHUAN_NODE")
    #: On an edge node: headquarters' base URL (https://hq.example.cn) and this node's key, both from
    #: `python -m app.cli node register` at headquarters. Unset at headquarters itself.
    hq_url: str | None = Field(None, validation_alias="LIUZHUAN_HQ_URL")
    node_key: str | None = Field(None, validation_alias="LIUZHUAN_NODE_KEY", repr=False)
    #: On an edge node: seconds between the worker's sync exchanges with headquarters (Celery beat,
    #: workflows/sync.py). Headquarters schedules none.
    sync_interval: int = Field(30, ge=5, le=86400, validation_alias="LIUZHUAN_SYNC_INTERVAL")
    debug: Flag = Field(False, validation_alias="LIUZHUAN_DEBUG")
    #: development | test | production (LIUZHUAN_ENV; unset means development).
    environment: str = Field("development", validation_alias="LIUZHUAN_ENV")
    #: Largest request body (photos + audio) the API accepts; larger answers 413.
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, validation_alias="MAX_UPLOAD_BYTES")
    #: Scheme and host of links we hand out (delivery notes, QR codes); never taken from the Host header.
    public_base_url: str = Field(DEV_PUBLIC_BASE_URL, validation_alias="PUBLIC_BASE_URL")
    #: Days a shared delivery-note link works.
    note_link_days: int = Field(90, validation_alias="NOTE_LINK_DAYS")
    #: Bearer token Prometheus sends to /metrics; in production, no token means no /metrics.
    metrics_token: str | None = Field(None, validation_alias="METRICS_TOKEN")
    #: Seconds a /metrics answer is reused (the consistency checks scan every organisation).
    metrics_cache_seconds: int = Field(30, validation_alias="METRICS_CACHE_SECONDS")
    #: Webhook SSRF guard escapes (models.netguard), for local tests only: LIUZHUAN_WEBHOOK_ALLOW_HTTP=1
    #: accepts http://, LIUZHUAN_WEBHOOK_ALLOW_HOSTS lists host:port pairs let through the private-address
    #: check. Refused in production.
    webhook_allow_http: Flag = Field(False, validation_alias="LIUZHUAN_WEBHOOK_ALLOW_HTTP")
    webhook_allow_hosts: str = Field("", validation_alias="LIUZHUAN_WEBHOOK_ALLOW_HOSTS")
    #: 0 turns off the web app's relay kick after commits that wrote events (the beat still relays).
    relay_kick: Flag = Field(True, validation_alias="LIUZHUAN_RELAY_KICK")
    #: Stub server base URL for every outbound chat-bot SDK call (None: the platforms' real hosts).
    platform_api_base: str | None = Field(None, validation_alias="LIUZHUAN_PLATFORM_API_BASE")
    #: Days the retention job (workflows/retention.py) keeps transport rows; see RETENTION_ENV.
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)
    dingtalk: DingTalkSettings = Field(default_factory=DingTalkSettings)
    miniprogram: MiniProgramSettings = Field(default_factory=MiniProgramSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    #: Every variable this object reads (for :func:`current`'s cache key).
    variables: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # from_env hands over the whole environment (or a test's dict): no second, implicit read.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment (or a dict), with embedded defaults, and check them."""
        flat = {k: v for k, v in (os.environ if env is None else env).items() if k in cls.variables and v != ""}
        var_dir = flat.get("LIUZHUAN_VAR_DIR") or str(VAR_DIR)
        flat.setdefault("DATABASE_URL", f"sqlite:///{Path(var_dir) / 'liuzhuan.db'}")
        flat.setdefault("MEDIA_ROOT", str(Path(var_dir) / "media"))
        environment = flat.get("LIUZHUAN_ENV", "development")
        if environment not in ENVIRONMENTS:
            raise ValidationError(f"LIUZHUAN_ENV 只能是 {'、'.join(ENVIRONMENTS)}（区分大小写），现在是“{environment}”",
                                  field="LIUZHUAN_ENV", allowed=list(ENVIRONMENTS))
        # No development default in production: a wrong host would be printed on every QR code.
        flat.setdefault("PUBLIC_BASE_URL", "" if environment == "production" else DEV_PUBLIC_BASE_URL)
        values: dict[str, Any] = dict(flat)
        values.update({name: flat for name in GROUPS})
        values["retention"] = {name: flat[var] for name, var in RETENTION_ENV.items() if var in flat}
        try:
            settings = cls(**values)
        except pydantic.ValidationError as exc:
            raise _refusal(exc) from None
        except DomainError as exc:  # RetentionPolicy's own range check names its field: name the variable
            var = RETENTION_ENV.get(str(exc.details.get("field")))
            if var is None:
                raise
            raise ValidationError(f"{var} 的值超出范围：{exc.message}", field=var) from None
        settings.check()
        return settings

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def check(self) -> None:
        """Refuse settings that cannot work, before anything starts."""
        if self.production and (self.webhook_allow_http or self.webhook_allow_hosts.strip()):
            raise ValidationError("生产环境不能放开 Webhook 网址检查（LIUZHUAN_WEBHOOK_ALLOW_*，仅供测试）",
                                  field="LIUZHUAN_WEBHOOK_ALLOW_HOSTS")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValidationError("DATABASE_URL 只支持 sqlite 或 postgresql", field="DATABASE_URL")
        if not self.public_base_url.startswith(("https://", "http://")):
            raise ValidationError("必须设置 PUBLIC_BASE_URL（如 https://liuzhuan.example.cn）", field="PUBLIC_BASE_URL")
        if not 1 <= self.note_link_days <= 3650:
            raise ValidationError("NOTE_LINK_DAYS 须在 1 到 3650 之间", field="NOTE_LINK_DAYS")
        if self.production and weak_secret(self.secret_key):
            raise ValidationError("生产环境必须设置至少 32 位的随机 SECRET_KEY（不能用默认值）",
                                  field="SECRET_KEY")
        if self.production and self.metrics_token is not None and weak_secret(self.metrics_token):
            raise ValidationError("METRICS_TOKEN 至少 32 位，且不能用示例值", field="METRICS_TOKEN")
        if not node.valid_code(self.node_name):
            raise ValidationError("LIUZHUAN_NODE 只能是 server（总部）或 1–8 位大写字母和数字（如 N1）",
                                  field="LIUZHUAN_NODE")
        if self.metrics_cache_seconds < 0:
            raise ValidationError("METRICS_CACHE_SECONDS 不能为负数", field="METRICS_CACHE_SECONDS")

    @property
    def production(self) -> bool:
        """Production serves no page at `/` (development: the console) and insists on a real secret key."""
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def webhook_allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.webhook_allow_hosts.split(",") if h.strip())

    # The mini-program login's credentials under their former flat names (miniprogram_api.auth_routes).
    @property
    def wechat_app_id(self) -> str | None:
        return self.miniprogram.wechat_app_id

    @property
    def wechat_app_secret(self) -> str | None:
        return self.miniprogram.wechat_app_secret

    @property
    def dingtalk_app_key(self) -> str | None:
        return self.miniprogram.dingtalk_app_key

    @property
    def dingtalk_app_secret(self) -> str | None:
        return self.miniprogram.dingtalk_app_secret

    @property
    def wechat_api_base(self) -> str | None:
        return self.wechat.api_base

    @property
    def dingtalk_api_base(self) -> str | None:
        return self.dingtalk.api_base


def _aliases(model: type[BaseModel]) -> list[str]:
    return [f.validation_alias for f in model.model_fields.values() if isinstance(f.validation_alias, str)]


Settings.variables = tuple(_aliases(Settings) + [v for g in GROUPS.values() for v in _aliases(g)]
                           + list(RETENTION_ENV.values()))

_REASONS = {
    "int_parsing": "须是整数", "int_from_float": "须是整数", "int_type": "须是整数",
    "bool_parsing": "只能是 1 或 0", "value_error": "只能是 1 或 0",
    "greater_than_equal": "不能小于 {ge}", "greater_than": "须大于 {gt}",
    "less_than_equal": "不能大于 {le}", "less_than": "须小于 {lt}",
}


def _refusal(exc: pydantic.ValidationError) -> ValidationError:
    """The first invalid value as a domain error naming its environment variable (never echoing secrets)."""
    err = exc.errors()[0]
    names = [str(part) for part in err["loc"]]
    var = names[-1] if names else "?"
    if len(names) >= 2 and names[0] == "retention":
        var = RETENTION_ENV.get(names[1], var)
    reason = _REASONS.get(err["type"], "格式不对").format(**(err.get("ctx") or {}))
    return ValidationError(f"环境变量 {var} 的值无效：{reason}", field=var, type=err["type"])


def weak_secret(secret: str) -> bool:
    """Tell whether a secret is too short or a shipped default / placeholder."""
    lowered = secret.lower()
    return (len(secret) < 32 or secret == DEFAULT_SECRET_KEY or lowered.startswith("dev-")
            or "change-me" in lowered or "changeme" in lowered)


_current: tuple[tuple[str | None, ...], Settings] | None = None


def current() -> Settings:
    """This process's settings, from its environment: for workers and scripts that have no Flask app.

    Built once and reused while the variables it reads are unchanged (a test's monkeypatched
    environment gets fresh settings; a server's environment never changes).
    """
    global _current
    key = tuple(os.environ.get(name) for name in Settings.variables)
    if _current is None or _current[0] != key:
        _current = (key, Settings.from_env())
    return _current[1]


def _webhook_escapes() -> tuple[bool, frozenset[str]]:
    settings = current()
    return settings.webhook_allow_http, settings.webhook_allowed_hosts


# The model may not import the app: the SSRF guard asks the settings through this hook (strict until set).
netguard.escapes = _webhook_escapes
