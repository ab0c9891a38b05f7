"""Liveness and readiness, plus the other names probes commonly use (hidden from the schema)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qna_agent.api.deps import ServicesDep
from qna_agent.api.schemas.health import CheckOut, HealthOut
from qna_agent.db import migrate

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


async def live() -> HealthOut:
    """The process is up and serving. Never touches the database."""
    return HealthOut(status="ok")


async def _database_check(services: ServicesDep) -> CheckOut:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            if not await migrate.is_at_head(services.database):
                return CheckOut(
                    ok=False, detail="migrations not applied: run `qna-agent db upgrade`"
                )
    except TimeoutError:
        return CheckOut(ok=False, detail="database did not answer in time")
    except Exception as exc:  # any failure means not ready; the reason is shown
        return CheckOut(ok=False, detail=f"database unreachable: {type(exc).__name__}")
    return CheckOut(ok=True)


async def ready(services: ServicesDep) -> JSONResponse:
    """Ready for traffic: database reachable and migrated, knowledge base loaded."""
    checks = {
        "database": await _database_check(services),
        "knowledge_base": CheckOut(
            ok=services.knowledge.loaded,
            detail=None if services.knowledge.loaded else "not indexed yet",
        ),
    }
    if services.draining:
        checks["shutdown"] = CheckOut(ok=False, detail="shutting down")
    ok = all(check.ok for check in checks.values())
    body = HealthOut(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


_READY_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": HealthOut, "description": "A dependency is not ready; `checks` names it."}
}

router.add_api_route("/health/live", live, methods=["GET"], response_model=HealthOut)
router.add_api_route(
    "/health/ready", ready, methods=["GET"], response_model=HealthOut, responses=_READY_RESPONSES
)
for alias in ("/health", "/healthz/live", "/healthz", "/livez"):
    router.add_api_route(alias, live, methods=["GET"], include_in_schema=False)
for alias in ("/healthz/ready", "/ready", "/readiness", "/readyz"):
    router.add_api_route(alias, ready, methods=["GET"], include_in_schema=False)
