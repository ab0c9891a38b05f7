"""The page's files: served at / and /static, ready for a strict CSP, and packaged."""

from __future__ import annotations

import re

import httpx

from qna_agent.web import STATIC_DIR


async def test_the_page_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/static/app.js"></script>' in response.text


async def test_static_assets_and_a_missing_one(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    assert "etag" in script.headers
    again = await client.get("/static/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    missing = await client.get("/static/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/static/../config.py")).status_code == 404


def test_no_inline_script_or_style_so_a_strict_csp_works() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_scripts_never_write_html() -> None:
    for path in STATIC_DIR.glob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{path.name} uses {sink}"


def test_every_imported_module_exists() -> None:
    for path in STATIC_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', path.read_text()):
            assert (STATIC_DIR / name).is_file(), f"{path.name} imports missing {name}"
