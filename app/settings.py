"""One typed settings object, read from the environment and checked at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import ValidationError
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
    "batch_size": "RETENTION_BATCH_SIZE",
}


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy URL. Default: an SQLite file under var/ (no server needed).
    database_url: str
    #: Redis for the Celery broker and cache; None selects the embedded file-system broker.
    redis_url: str | None
    #: Signs our own session tokens and delivery-note links.
    secret_key: str
    media_root: Path
    var_dir: Path
    #: Where an operator installed the Chinese vosk model; None disables speech input.
    vosk_model_path: str | None
    #: Name of this node in stock moves (server, or an edge box's id).
    node_name: str
    debug: bool = False
    #: Production hides the read-only overview page and insists on a real secret key.
    production: bool = False
    # --- mini-program API (issue 3) ---
    #: WeChat mini-program app id/secret; no app id (and not production) enables POST /api/v1/auth/dev.
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    #: Send WeChat API calls here instead of https://api.weixin.qq.com (a devstubs server).
    wechat_api_base: str | None = None
    dingtalk_app_key: str | None = None
    dingtalk_app_secret: str | None = None
    #: Send DingTalk calls here instead of api.dingtalk.com / oapi.dingtalk.com (a devstubs server).
    dingtalk_api_base: str | None = None
    #: Largest request body (photos + audio) the API accepts; larger answers 413.
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Scheme and host of links we hand out (delivery notes, QR codes); never taken from the Host header.
    public_base_url: str = DEV_PUBLIC_BASE_URL
    #: Days a shared delivery-note link works.
    note_link_days: int = 90
    #: development | test | production (LIUZHUAN_ENV; unset means development).
    environment: str = "development"
    #: Bearer token Prometheus sends to /metrics; in production, no token means no /metrics.
    metrics_token: str | None = None
    #: Seconds a /metrics answer is reused (the consistency checks scan every organisation).
    metrics_cache_seconds: int = 30
    #: Webhook SSRF guard escapes, read by models.netguard from the same variables, for local tests only:
    #: LIUZHUAN_WEBHOOK_ALLOW_HTTP=1 accepts http://, LIUZHUAN_WEBHOOK_ALLOW_HOSTS lists host:port pairs
    #: let through the private-address check. Refused in production.
    webhook_allow_http: bool = False
    webhook_allow_hosts: str = ""
    #: Days the retention job (workflows/retention.py) keeps transport rows; see RETENTION_ENV.
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings from the environment (or a dict), with embedded defaults."""
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("LIUZHUAN_VAR_DIR", str(VAR_DIR)))
        environment = env.get("LIUZHUAN_ENV") or "development"
        if environment not in ENVIRONMENTS:
            raise ValidationError(f"LIUZHUAN_ENV 只能是 {'、'.join(ENVIRONMENTS)}（区分大小写），现在是“{environment}”",
                                  field="LIUZHUAN_ENV", allowed=list(ENVIRONMENTS))
        settings = cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'liuzhuan.db'}",
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY", DEFAULT_SECRET_KEY),
            media_root=Path(env.get("MEDIA_ROOT", str(var_dir / "media"))),
            var_dir=var_dir,
            vosk_model_path=env.get("VOSK_MODEL_PATH") or None,
            node_name=env.get("LIUZHUAN_NODE", "server"),
            debug=env.get("LIUZHUAN_DEBUG", "") == "1",
            production=environment == "production",
            environment=environment,
            wechat_app_id=env.get("WECHAT_MINIPROGRAM_APP_ID") or None,
            wechat_app_secret=env.get("WECHAT_MINIPROGRAM_APP_SECRET") or None,
            wechat_api_base=env.get("WECHAT_API_BASE") or None,
            dingtalk_app_key=env.get("DINGTALK_MINIPROGRAM_APP_KEY") or None,
            dingtalk_app_secret=env.get("DINGTALK_MINIPROGRAM_APP_SECRET") or None,
            dingtalk_api_base=env.get("DINGTALK_API_BASE") or None,
            max_upload_bytes=int(env.get("MAX_UPLOAD_BYTES") or 20 * 1024 * 1024),
            # No development default in production: a wrong host would be printed on every QR code.
            public_base_url=(env.get("PUBLIC_BASE_URL") or ("" if env.get("LIUZHUAN_ENV") == "production"
                                                            else DEV_PUBLIC_BASE_URL)).rstrip("/"),
            note_link_days=int(env.get("NOTE_LINK_DAYS") or 90),
            metrics_token=env.get("METRICS_TOKEN") or None,
            metrics_cache_seconds=int(env.get("METRICS_CACHE_SECONDS") or 30),
            webhook_allow_http=env.get("LIUZHUAN_WEBHOOK_ALLOW_HTTP") == "1",
            webhook_allow_hosts=env.get("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", ""),
            retention=RetentionPolicy(**{name: int(env[var]) for name, var in RETENTION_ENV.items() if env.get(var)}),
        )
        settings.check()
        return settings

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
        if self.metrics_cache_seconds < 0:
            raise ValidationError("METRICS_CACHE_SECONDS 不能为负数", field="METRICS_CACHE_SECONDS")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def weak_secret(secret: str) -> bool:
    """Tell whether a secret is too short or a shipped default / placeholder."""
    lowered = secret.lower()
    return (len(secret) < 32 or secret == DEFAULT_SECRET_KEY or lowered.startswith("dev-")
            or "change-me" in lowered or "changeme" in lowered)
