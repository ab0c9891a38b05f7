"""`GET /metrics`: Prometheus exposition, open or behind its own bearer token.

The endpoint does not use the API's authentication: scrapers carry `METRICS_TOKEN` (when set)
instead. The knowledge-base gauges are refreshed from the database at most every
`KB_COUNTS_MAX_AGE_SECONDS`, so every replica reports the shared index as it is now.
"""

from __future__ import annotations

import asyncio
import hmac
import time

import structlog
from fastapi import APIRouter, Request, Response

from qna_agent.api.deps import ServicesDep
from qna_agent.api.errors import problem_response
from qna_agent.container import Services
from qna_agent.observability import metrics

log = structlog.get_logger(__name__)

router = APIRouter(tags=["operations"])

KB_COUNTS_MAX_AGE_SECONDS = 10.0
KB_COUNTS_TIMEOUT_SECONDS = 1.0


class _KnowledgeGauges:
    """Refreshes kb_documents / kb_chunks, rate-limited and never failing a scrape."""

    def __init__(self) -> None:
        self.refreshed_at = float("-inf")

    async def refresh(self, services: Services) -> None:
        if time.monotonic() - self.refreshed_at < KB_COUNTS_MAX_AGE_SECONDS:
            return
        self.refreshed_at = time.monotonic()
        try:
            async with asyncio.timeout(KB_COUNTS_TIMEOUT_SECONDS):
                documents, chunks = await services.knowledge.counts()
        except Exception as exc:  # the database is down: keep the last values
            log.debug("kb_gauges_not_refreshed", error=type(exc).__name__)
            return
        metrics.KB_DOCUMENTS.set(documents)
        metrics.KB_CHUNKS.set(chunks)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request, services: ServicesDep) -> Response:
    """The metrics in Prometheus text (or OpenMetrics, if the scraper asks for it)."""
    settings = services.settings
    if not settings.metrics_enabled:
        return problem_response(404, "metrics are disabled (METRICS_ENABLED=false)")
    if settings.metrics_token is not None and not _authorized(
        request, settings.metrics_token.get_secret_value()
    ):
        return problem_response(
            401,
            "a bearer token (METRICS_TOKEN) is required",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    gauges = getattr(request.app.state, "kb_gauges", None)
    if gauges is None:  # one per app: a new app (or test) refreshes at once
        gauges = request.app.state.kb_gauges = _KnowledgeGauges()
    await gauges.refresh(services)
    body, content_type = metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
