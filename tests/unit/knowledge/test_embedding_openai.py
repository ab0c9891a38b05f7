"""OpenAIEmbedder against a real HTTP server on 127.0.0.1 speaking the embeddings wire format."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from qna_agent.knowledge.embeddings.embedder import build_embedder
from qna_agent.knowledge.embeddings.openai_embedder import EmbeddingServiceError, OpenAIEmbedder
from tests.fakes import (
    WIDTH,
    FakeEmbeddingsServer,
    fake_vector,
    running_embeddings_server,
)


@pytest.fixture
def server() -> Iterator[FakeEmbeddingsServer]:
    with running_embeddings_server() as state:
        yield state


@pytest.fixture
def client(server: FakeEmbeddingsServer) -> Iterator[OpenAIEmbedder]:
    embedder = OpenAIEmbedder(base_url=server.base_url, api_key="sk-test", model="embed-small")
    yield embedder
    embedder.close()


def test_vectors_come_back_normalised_in_input_order(
    server: FakeEmbeddingsServer, client: OpenAIEmbedder
) -> None:
    texts = ["where is my parcel", "refund please", "opening hours"]

    vectors = client.embed(texts)

    expected = np.array([fake_vector(text, WIDTH) for text in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert vectors.dtype == np.float32
    (request,) = server.requests
    assert request["path"] == "/v1/embeddings"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"] == {"model": "embed-small", "input": texts, "encoding_format": "float"}


def test_dim_is_discovered_from_the_first_response(
    server: FakeEmbeddingsServer, client: OpenAIEmbedder
) -> None:
    assert client.dim == WIDTH
    assert client.embed([]).shape == (0, WIDTH)
    assert len(server.requests) == 1


def test_configured_dim_needs_no_request_and_is_enforced(server: FakeEmbeddingsServer) -> None:
    embedder = OpenAIEmbedder(base_url=server.base_url, api_key="k", model="m", dim=16)

    assert embedder.embed([]).shape == (0, 16)
    assert server.requests == []
    with pytest.raises(EmbeddingServiceError, match="8-wide vectors, expected 16"):
        embedder.embed(["hello"])
    embedder.close()


def test_dimensions_are_sent_when_asked(server: FakeEmbeddingsServer) -> None:
    server.width = 4
    embedder = OpenAIEmbedder(
        base_url=server.base_url, api_key="k", model="m", dim=4, send_dimensions=True
    )

    assert embedder.embed(["hello"]).shape == (1, 4)
    assert server.requests[0]["body"]["dimensions"] == 4
    embedder.close()


def test_large_inputs_are_split_into_bounded_requests(server: FakeEmbeddingsServer) -> None:
    embedder = OpenAIEmbedder(base_url=server.base_url, api_key="k", model="m", batch_size=2)
    texts = [f"text {number}" for number in range(5)]

    vectors = embedder.embed(texts)

    assert [len(request["body"]["input"]) for request in server.requests] == [2, 2, 1]
    np.testing.assert_allclose(vectors[4], embedder.embed(["text 4"])[0], rtol=1e-6)
    embedder.close()


def test_an_http_error_becomes_an_embedding_service_error(
    server: FakeEmbeddingsServer, client: OpenAIEmbedder
) -> None:
    server.status = 503

    with pytest.raises(EmbeddingServiceError, match="HTTP 503.*model overloaded"):
        client.embed(["hello"])


def test_a_slow_server_times_out(server: FakeEmbeddingsServer) -> None:
    server.delay_s = 1.0
    embedder = OpenAIEmbedder(base_url=server.base_url, api_key="k", model="m", timeout_s=0.2)

    with pytest.raises(EmbeddingServiceError, match="request failed"):
        embedder.embed(["hello"])
    embedder.close()


def test_the_factory_builds_the_openai_kind(server: FakeEmbeddingsServer) -> None:
    embedder = build_embedder("openai", base_url=server.base_url, api_key="k", model="m", dim=8)

    assert embedder.name == "openai:m"
    assert embedder.embed(["hi"]).shape == (1, 8)
    assert isinstance(embedder, OpenAIEmbedder)
    embedder.close()
