"""Public JSON shapes of the health probes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from qna_agent.api.schemas.examples import examples


class CheckOut(BaseModel):
    """One dependency's state."""

    model_config = examples({"ok": True}, {"ok": False, "detail": "migrations are not at head"})

    ok: bool
    detail: str | None = None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    model_config = examples(
        {"status": "ok", "checks": {"database": {"ok": True}, "knowledge_base": {"ok": True}}}
    )

    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckOut] = Field(default_factory=dict)
