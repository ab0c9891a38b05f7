"""Property-based fuzzing of every operation of the live OpenAPI schema with schemathesis:
no 5xx, and every response (status, content type, body, headers) conforms to the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from tests.fakes import FakeLLM
from tests.support.postgres import in_thread, postgres_url, reset_postgres
from tests.support.processes import api_key_env, free_port, server

pytestmark = pytest.mark.slow

ADMIN_KEY = "qna_" + uuid.uuid4().hex + uuid.uuid4().hex
MAX_EXAMPLES = 50


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real server with a bootstrap admin key, on each database; its base URL.

    PostgreSQL refuses what SQLite stores (a NUL in text, an integer past a column's range), so
    only a run on both proves that no input becomes a 500.
    """
    tmp_path: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with FakeLLM() as llm:
        env = api_key_env(
            tmp_path,
            llm,
            ADMIN_KEY,
            name="fuzzer",
            LLM_PROVIDER="extractive",
            RATE_LIMIT_REQUESTS_PER_MINUTE="0",
            MAX_STREAMS_PER_PRINCIPAL="100",
            LOG_LEVEL="WARNING",
        )
        if request.param == "postgres":
            url = postgres_url()
            assert url is not None
            schema = request.getfixturevalue("postgres_schema")
            in_thread(reset_postgres(url, schema))
            env.update(DATABASE_URL=url, DATABASE_SCHEMA=schema)
        port = free_port()
        with server(env, port, tmp_path / "server.log"):
            yield f"http://127.0.0.1:{port}"
        log = (tmp_path / "server.log").read_text()
        assert "unhandled_error" not in log, log[-4000:]


# Uploads are checked beyond what the schema can say (file type, readable content): a
# schema-valid random file is rightly refused with 422, so do not demand its acceptance.
SEMANTIC_VALIDATION = {"POST /kb/documents"}


def excluded(case: Case[Any]) -> list[Any]:
    """Checks not to run for a case."""
    if case.operation.label in SEMANTIC_VALIDATION:
        return [positive_data_acceptance]
    # A cursor must name an item of the list (422 otherwise): a random id names none.
    if case.query and case.query.get("after") is not None:
        return [positive_data_acceptance]
    return []


def test_every_operation_conforms_to_the_live_schema(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    failures: dict[str, str] = {}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself must be valid
        operations.append(result.ok())
    assert len(operations) >= 9
    runs = [(op, mode) for op in operations for mode in GenerationMode]
    for operation, mode in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Case[Any]) -> None:
            case.call_and_validate(headers=headers, timeout=30, excluded_checks=excluded(case))

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, FailureGroup) as exc:  # collect every operation's failures
            failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
