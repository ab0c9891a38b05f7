"""The knowledge-base API: uploads of each type, listing, passages, hybrid search, deletes."""

from __future__ import annotations

import httpx

from tests.support.app import new_chat
from tests.support.documents import make_pdf


async def upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    return await client.post("/kb/documents", files={"file": (name, data)})


async def test_list_and_get_documents(client: httpx.AsyncClient) -> None:
    page = (await client.get("/kb/documents", params={"limit": 4})).json()
    assert len(page["data"]) == 4 and page["has_more"] is True
    rest = (await client.get("/kb/documents", params={"after": page["next_cursor"]})).json()
    documents = page["data"] + rest["data"]
    assert len(documents) == 13
    refund = next(d for d in documents if d["path"] == "refund-policy.md")
    assert refund["source"] == "directory"
    assert refund["chunk_count"] > 3
    assert refund["title"] == "Refund Policy"
    assert len(refund["content_hash"]) == 64
    one = (await client.get(f"/kb/documents/{refund['id']}")).json()
    assert one == refund


async def test_search_reports_both_retrievers(client: httpx.AsyncClient) -> None:
    found = (
        await client.get("/kb/search", params={"q": "how long is the return window", "top_k": 5})
    ).json()
    results = found["results"]
    assert found["query"] == "how long is the return window"
    assert results[0]["source"] == "refund-policy.md"
    assert any(r["lexical_score"] is not None for r in results)
    assert any(r["vector_score"] is not None for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)

    # A paraphrase with no shared words is found by the dense retriever alone.
    paraphrase = (
        await client.get("/kb/search", params={"q": "my purchase broke in transit", "top_k": 5})
    ).json()["results"]
    assert "damaged-or-wrong-items.md" in {r["source"] for r in paraphrase}

    passage = (await client.get(f"/kb/chunks/{results[0]['chunk_id']}")).json()
    assert passage["source"] == "refund-policy.md"
    assert passage["heading"] == results[0]["heading"]
    assert passage["start_line"] <= passage["end_line"]
    assert (await client.get("/kb/chunks/999999")).status_code == 404
    assert (await client.get("/kb/search", params={"q": ""})).status_code == 422
    assert (await client.get("/kb/search", params={"q": "x", "top_k": 51})).status_code == 422


async def test_upload_markdown_html_pdf_then_delete(client: httpx.AsyncClient) -> None:
    markdown = b"# Loyalty Club\n\n## Points\n\nMembers earn 7 pinecones per euro spent.\n"
    created = await upload(client, "loyalty.md", markdown)
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["path"] == "uploads/loyalty.md"
    assert document["source"] == "upload"
    found = (await client.get("/kb/search", params={"q": "pinecones per euro"})).json()
    assert found["results"][0]["source"] == "uploads/loyalty.md"
    assert found["results"][0]["heading"] == "Loyalty Club > Points"

    same = await upload(client, "loyalty.md", markdown.replace(b"7", b"9"))
    assert same.status_code == 200
    assert same.json()["id"] != document["id"]
    assert (await client.get(f"/kb/documents/{document['id']}")).status_code == 404

    html = (
        b"<html><head><title>Store Hours</title><script>alert(1)</script></head><body>"
        b"<h1>Store Hours</h1><h2>Bristol showroom</h2><p>Open Tuesdays until 19:00.</p>"
        b"</body></html>"
    )
    page = (await upload(client, "hours.html", html)).json()
    assert page["title"] == "Store Hours"
    hit = (await client.get("/kb/search", params={"q": "Bristol showroom Tuesdays"})).json()
    assert hit["results"][0]["source"] == "uploads/hours.html"
    assert hit["results"][0]["heading"] == "Store Hours > Bristol showroom"
    assert "alert" not in (await client.get(f"/kb/chunks/{hit['results'][0]['chunk_id']}")).text

    pdf = await upload(
        client, "manual.pdf", make_pdf(["Quokka lamp manual", "Replace the quokka bulb yearly."])
    )
    assert pdf.status_code == 201, pdf.text
    hits = (await client.get("/kb/search", params={"q": "quokka bulb"})).json()["results"]
    hit = next(h for h in hits if h["source"] == "uploads/manual.pdf")
    assert hit["lexical_score"] is not None
    assert (hit["start_line"], hit["end_line"]) == (1, 1)

    listed = (await client.get("/kb/documents", params={"limit": 200})).json()["data"]
    assert {"uploads/loyalty.md", "uploads/hours.html", "uploads/manual.pdf"} <= {
        d["path"] for d in listed
    }

    assert (await client.delete(f"/kb/documents/{pdf.json()['id']}")).status_code == 204
    after = (await client.get("/kb/search", params={"q": "quokka bulb"})).json()["results"]
    assert all(r["source"] != "uploads/manual.pdf" for r in after)
    assert (await client.delete(f"/kb/documents/{pdf.json()['id']}")).status_code == 404

    refund = next(d for d in listed if d["path"] == "refund-policy.md")
    refused = await client.delete(f"/kb/documents/{refund['id']}")
    assert refused.status_code == 409
    assert "KNOWLEDGE_DIR" in refused.json()["detail"]


async def test_bad_uploads_are_refused_cleanly(client: httpx.AsyncClient) -> None:
    before = len((await client.get("/kb/documents", params={"limit": 200})).json()["data"])
    for name, data, status in [
        ("photo.png", b"\x89PNG\r\n", 422),
        ("fake.pdf", b"not a pdf at all", 422),
        ("binary.txt", bytes(range(256)) * 4, 422),
        ("empty.md", b"", 422),
        (".hidden.md", b"# x", 422),
        ("huge.md", b"# big\n\n" + b"x" * (11 * 1024 * 1024), 413),
    ]:
        response = await upload(client, name, data)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = await client.post("/kb/documents", data={"nofile": "x"})
    assert missing.status_code == 422
    after = len((await client.get("/kb/documents", params={"limit": 200})).json()["data"])
    assert after == before


async def test_answers_cite_openable_passages(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    message = (
        await client.post(
            f"/chats/{chat_id}/messages", json={"content": "How long do I have to return an item?"}
        )
    ).json()
    assert "30 days" in message["content"]
    for citation in message["citations"]:
        passage = await client.get(f"/kb/chunks/{citation['chunk_id']}")
        assert passage.status_code == 200
        assert passage.json()["source"] == citation["source"]
