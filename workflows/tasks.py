"""Celery tasks: thin wrappers that load, call one function, commit."""

from __future__ import annotations

from functools import cache

from celery import shared_task
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from models.db import make_engine, make_session_factory
from workflows.relay import relay_pending


@cache
def _session_factory(database_url: str) -> sessionmaker[Session]:
    return make_session_factory(make_engine(database_url))


@shared_task(acks_late=True)
def relay_outbox(limit: int = 500) -> int:
    """Dispatch pending outbox events to their handlers."""
    return relay_pending(_session_factory(Settings.from_env().database_url), limit=limit)
