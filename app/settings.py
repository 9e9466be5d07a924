"""One typed settings object, read from the environment and checked at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from models.errors import ValidationError

VAR_DIR = Path(__file__).resolve().parent.parent / "var"


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings from the environment (or a dict), with embedded defaults."""
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("LIUZHUAN_VAR_DIR", str(VAR_DIR)))
        settings = cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'liuzhuan.db'}",
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY", "dev-only-secret-change-me"),
            media_root=Path(env.get("MEDIA_ROOT", str(var_dir / "media"))),
            var_dir=var_dir,
            vosk_model_path=env.get("VOSK_MODEL_PATH") or None,
            node_name=env.get("LIUZHUAN_NODE", "server"),
            debug=env.get("LIUZHUAN_DEBUG", "") == "1",
            production=env.get("LIUZHUAN_ENV") == "production",
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, before anything starts."""
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValidationError("DATABASE_URL 只支持 sqlite 或 postgresql", field="DATABASE_URL")
        if self.production and (self.secret_key.startswith("dev-") or len(self.secret_key) < 32):
            raise ValidationError("生产环境必须设置至少 32 位的 SECRET_KEY", field="SECRET_KEY")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
