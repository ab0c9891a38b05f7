"""The chat page in a real browser (the machine's Chromium driven by Playwright) against a real
server whose model is the fake OpenAI-compatible LLM, so answers stream over real sockets.

Chromium comes from Debian (`apt-get install chromium`, done by .ci/browser.sh); Playwright's
own browser download is never used. Without /usr/bin/chromium these tests skip, unless
REQUIRE_BROWSER=1 (CI), where they fail. UPDATE_SCREENSHOTS=1 rewrites docs/screenshot-*.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, sync_playwright
from playwright.sync_api import expect as pw_expect

from tests.fakes import FakeLLM, failure, text, tool_call
from tests.support.app import EXAMPLES, FILE_KEY, ROOT, make_settings
from tests.support.live_server import live_server
from tests.support.shop import RETURNED_LAST_MONTH, RETURNS_LAST_MONTH_SQL, SHOP

pytestmark = pytest.mark.slow
# The knowledge-base view lists every bundled example document.
EXAMPLE_DOCUMENTS = sum(
    1 for path in EXAMPLES.iterdir() if path.suffix in {".md", ".txt", ".html", ".pdf"}
)

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the security headers will demand of the page; the tests hold the page to it now.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
QUESTION = "How long do I have to return an item?"
ANSWER = "You can return most items within **30 days** of delivery [1]. Keep the receipt."
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (run .ci/browser.sh)")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@contextmanager
def serving(
    tmp_path: Path,
    llm: FakeLLM,
    knowledge_dir: Path = EXAMPLES,
    auth_mode: str = "none",
    **overrides: Any,
) -> Iterator[str]:
    settings = make_settings(
        tmp_path,
        knowledge_dir=knowledge_dir,
        llm_provider="openai",
        llm_base_url=llm.base_url,
        llm_api_key="test-key",
        auth_mode=auth_mode,  # the page's flows run without keys unless a test asks
        llm_max_retries=0,
        log_level="WARNING",
        **overrides,
    )
    with live_server(settings) as url:
        yield url


@pytest.fixture
def server(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[str]:
    with serving(tmp_path, fake_llm) as url:
        yield url


class PageProblems:
    """Console errors and uncaught exceptions of a page (a CSP violation is one)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def open_page(browser: Browser, url: str, **context: Any) -> tuple[Page, PageProblems]:
    """A fresh page on `url` with the strict CSP enforced on the document."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems = PageProblems(page)

    def with_csp(route: Route) -> None:
        response = route.fetch()
        headers = dict(response.headers)
        headers.setdefault("content-security-policy", STRICT_CSP)
        route.fulfill(response=response, headers=headers)

    page.route(f"{url}/", with_csp)
    page.goto(f"{url}/")
    return page, problems


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def last_answer(page: Page, status: str = "completed") -> Any:
    answer = page.locator(".message.assistant").last
    pw_expect(answer).to_have_attribute("data-status", status)
    return answer


def script_answer(llm: FakeLLM, answer: str = ANSWER) -> None:
    llm.script(tool_call("search_knowledge_base", query="return window"), text(answer))


def test_ask_see_the_streamed_answer_open_a_citation_and_reload(
    browser: Browser, server: str, fake_llm: FakeLLM
) -> None:
    script_answer(fake_llm)
    page, problems = open_page(browser, server, viewport={"width": 1100, "height": 720})
    pw_expect(page.locator("#empty-chat")).to_be_visible()
    ask(page, QUESTION)

    answer = last_answer(page)
    assert int(answer.get_attribute("data-deltas") or 0) > 3  # token by token, not at once
    body = answer.locator(".body")
    pw_expect(body).to_contain_text("You can return most items within 30 days of delivery")
    pw_expect(body.locator("strong")).to_have_text("30 days")  # markdown rendered
    pw_expect(body.locator("a.cite")).to_have_text("[1]")
    tool = answer.locator("details.tool")
    pw_expect(tool).to_have_count(1)
    pw_expect(tool.locator("summary")).to_contain_text("search_knowledge_base · ok")
    assert tool.get_attribute("open") is None  # collapsed until asked

    source = answer.locator(".citations a.citation")
    pw_expect(source).to_have_text("Refund Policy > The standard return window")
    source.click()
    dialog = page.locator("#passage")
    pw_expect(dialog).to_be_visible()
    pw_expect(page.locator("#passage-title")).to_have_text(
        "Refund Policy > The standard return window"
    )
    pw_expect(page.locator("#passage-meta")).to_contain_text("refund-policy.md")
    pw_expect(page.locator("#passage-body")).to_contain_text("30 days")
    # The citation names its chunk: the dialog shows the whole passage from /kb/chunks/{id}.
    pw_expect(page.locator("#passage-body")).to_have_attribute("data-full", "true")
    page.keyboard.press("Escape")
    pw_expect(dialog).to_be_hidden()

    pw_expect(page).to_have_url(re.compile(r"#/chats/[0-9a-f-]{36}$"))
    pw_expect(page.locator("#chat-list .chat-title")).to_have_text([QUESTION])

    # Shift+Enter is a new line, not a question.
    page.fill("#question", "line one")
    page.press("#question", "Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#question") == "line one\nline two"
    pw_expect(page.locator(".message.user")).to_have_count(1)
    page.fill("#question", "")

    page.reload()
    pw_expect(page.locator(".message.user .bubble")).to_have_text([QUESTION])
    answer = last_answer(page)
    pw_expect(answer.locator(".body")).to_contain_text("30 days of delivery")
    pw_expect(answer.locator(".citations a.citation")).to_have_count(1)
    pw_expect(page.locator("#chat-list .chat-item.active")).to_have_count(1)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        answer.locator("details.tool summary").click()
        page.screenshot(path=str(ROOT / "docs" / "screenshot-chat.png"))
    assert problems.errors == []


def test_model_and_document_text_cannot_inject_html(
    browser: Browser, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    (knowledge / "evil.md").write_text(
        "# Evil handbook\n\n## Payload section\n\n"
        'The payload <img src=x onerror="window.__xss=4"> and '
        "[a link](javascript:window.__xss=5) hide in this document about payloads.\n"
    )
    hostile = (
        'Look: <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
        "[click me](javascript:window.__xss=3) and [fine](https://example.com/x) [1]\n\n"
        "```html\n<b onmouseover=alert(1)>code</b>\n```"
    )
    fake_llm.script(tool_call("search_knowledge_base", query="payload"), text(hostile))
    with serving(tmp_path, fake_llm, knowledge) as url:
        page, problems = open_page(browser, url)
        ask(page, "Tell me about the payload")
        answer = last_answer(page)
        body = answer.locator(".body")
        pw_expect(body).to_contain_text('<img src=x onerror="window.__xss=1">')
        pw_expect(body).to_contain_text("<script>window.__xss=2</script>")
        pw_expect(body.locator("pre code")).to_have_text("<b onmouseover=alert(1)>code</b>")
        assert body.locator("img, script, b").count() == 0
        hrefs = [a.get_attribute("href") or "" for a in page.locator("#messages a").all()]
        assert not [h for h in hrefs if h.lower().startswith("javascript")]
        assert "https://example.com/x" in hrefs
        pw_expect(body).to_contain_text("click me")  # the unsafe link keeps only its label

        answer.locator(".citations a.citation").click()
        passage = page.locator("#passage-body")
        pw_expect(passage).to_contain_text('<img src=x onerror="window.__xss=4">')
        assert passage.locator("img, a").count() == 0
        page.mouse.move(5, 5)
        assert page.evaluate("window.__xss") is None
        assert problems.errors == []


def test_stop_cancels_the_turn_and_retry_answers_it_in_place(
    browser: Browser, server: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script(text("too slow to wait for", delay=30))
    script_answer(fake_llm)
    page, problems = open_page(browser, server)
    ask(page, QUESTION)
    # Stop once the server has the question (message.created names the answer's id).
    pw_expect(page.locator(".message.assistant[data-message-id]")).to_have_count(1)
    pw_expect(page.locator("#stop")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as cancel:
        page.click("#stop")
    assert cancel.value.status == 200
    stopped = last_answer(page, "stopped")
    pw_expect(stopped.locator(".message-error")).to_contain_text("Stopped")
    pw_expect(page.locator("#send")).to_be_visible()
    # The server stopped the turn too, instead of spending tokens on an answer nobody reads.
    chat_id = page.url.rsplit("/", 1)[-1]
    message_id = stopped.get_attribute("data-message-id") or ""
    stored = httpx.get(f"{server}/chats/{chat_id}/messages/{message_id}").json()
    assert stored["status"] == "failed"
    assert stored["error"].startswith("cancelled")

    # Retry answers the cancelled turn in its place: no second copy of the question.
    retry_url = re.compile(rf"/chats/[0-9a-f-]+/messages/{message_id}/retry$")
    with page.expect_request(lambda r: r.method == "POST" and bool(retry_url.search(r.url))):
        stopped.locator("button.retry").click()
    answer = last_answer(page)
    pw_expect(answer.locator(".body")).to_contain_text("30 days")
    pw_expect(answer.locator(".message-error")).to_be_hidden()
    assert answer.get_attribute("data-message-id") == message_id
    pw_expect(page.locator(".message.user")).to_have_count(1)
    assert problems.errors == []


def test_retry_answers_a_failed_turn_in_place(
    browser: Browser, server: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(500), failure(500))
    script_answer(fake_llm)
    page, problems = open_page(browser, server)
    ask(page, QUESTION)
    failed = last_answer(page, "failed")
    pw_expect(failed.locator(".message-error")).to_be_visible()
    message_id = failed.get_attribute("data-message-id") or ""
    retry_url = re.compile(rf"/chats/[0-9a-f-]+/messages/{message_id}/retry$")

    with page.expect_request(lambda r: r.method == "POST" and bool(retry_url.search(r.url))):
        failed.locator("button.retry").click()  # the model fails again
    failed = last_answer(page, "failed")
    pw_expect(failed.locator("button.retry")).to_be_enabled()

    page.reload()  # a failed answer from the history can be retried as well
    failed = last_answer(page, "failed")
    with page.expect_request(lambda r: r.method == "POST" and bool(retry_url.search(r.url))):
        failed.locator("button.retry").click()  # and now it answers
    answer = last_answer(page)
    pw_expect(answer.locator(".body")).to_contain_text("30 days")
    pw_expect(answer.locator(".message-error")).to_be_hidden()
    assert answer.get_attribute("data-message-id") == message_id
    # Answered in place: one question, one answer, on the page and on the server.
    pw_expect(page.locator(".message.user")).to_have_count(1)
    pw_expect(page.locator(".message.assistant")).to_have_count(1)
    chat_id = page.url.rsplit("/", 1)[-1]
    stored = httpx.get(f"{server}/chats/{chat_id}/messages").json()["data"]
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "completed"),
        ("assistant", "completed"),
    ]
    assert problems.errors == []


def test_sql_tool_calls_show_their_query_and_row_count(
    browser: Browser, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    shop = tmp_path / "shop.db"
    SHOP.build_sqlite(shop)
    listing = "SELECT id, status FROM orders ORDER BY id"
    fake_llm.script(
        tool_call("run_sql", query=RETURNS_LAST_MONTH_SQL),
        tool_call("run_sql", query=listing),
        text(f"{RETURNED_LAST_MONTH} orders were returned in October 2026 [1]."),
    )
    with serving(
        tmp_path, fake_llm, sql_tool_database_url=f"sqlite:///{shop}", sql_tool_max_rows=12
    ) as url:
        page, problems = open_page(browser, url)
        ask(page, "How many orders were returned last month?")
        answer = last_answer(page)
        pw_expect(answer.locator(".body")).to_contain_text(f"{RETURNED_LAST_MONTH} orders")
        calls = answer.locator('details.tool[data-tool="run_sql"]')
        pw_expect(calls).to_have_count(2)
        count, listed = calls.nth(0), calls.nth(1)
        for call in (count, listed):
            assert call.get_attribute("open") is None  # collapsed until asked
            pw_expect(call.locator("summary")).to_contain_text("run_sql · ok")
        pw_expect(count.locator("pre.sql")).to_be_hidden()

        count.locator("summary").click()
        pw_expect(count.locator("pre.sql code")).to_have_text(RETURNS_LAST_MONTH_SQL)
        pw_expect(count.locator(".row-count")).to_have_text("1 row")
        listed.locator("summary").click()
        pw_expect(listed.locator("pre.sql code")).to_have_text(listing)
        pw_expect(listed.locator(".row-count")).to_have_text("12+ rows")  # capped at 12

        page.reload()  # the stored message shows the same
        calls = last_answer(page).locator('details.tool[data-tool="run_sql"]')
        pw_expect(calls.nth(1).locator(".row-count")).to_have_text("12+ rows")
        assert problems.errors == []


def test_chat_list_rename_delete_and_the_api_key_header(
    browser: Browser, server: str, fake_llm: FakeLLM
) -> None:
    older = httpx.post(f"{server}/chats", json={"title": "Older chat"}).json()
    newer = httpx.post(f"{server}/chats", json={"title": "Newer chat"}).json()
    page, problems = open_page(browser, server)
    pw_expect(page.locator("#chat-list .chat-title")).to_have_text(["Newer chat", "Older chat"])

    page.fill("#api-key", "my-key")
    page.click("#key-form button")
    assert page.evaluate("localStorage.getItem('qna-agent.api-key')") == "my-key"
    page.reload()  # the key is kept in the browser's storage
    assert page.input_value("#api-key") == "my-key"
    pw_expect(page.locator("#chat-list .chat-title")).to_have_text(["Newer chat", "Older chat"])

    item = page.locator(f'[data-chat-id="{older["id"]}"]')
    item.hover()
    item.locator("button.rename").click()
    with page.expect_request(lambda r: r.method == "PATCH") as patch:
        item.locator(".rename-form input").fill("Renamed chat")
        item.locator(".rename-form input").press("Enter")
    assert patch.value.headers.get("authorization") == "Bearer my-key"
    pw_expect(item.locator(".chat-title")).to_have_text("Renamed chat")
    assert httpx.get(f"{server}/chats/{older['id']}").json()["title"] == "Renamed chat"

    page.once("dialog", lambda dialog: dialog.accept())
    item = page.locator(f'[data-chat-id="{newer["id"]}"]')
    item.hover()
    item.locator("button.delete").click()
    pw_expect(page.locator("#chat-list .chat-title")).to_have_text(["Renamed chat"])
    assert httpx.get(f"{server}/chats/{newer['id']}").status_code == 404
    assert problems.errors == []


def test_themes_and_a_phone_width_screen(browser: Browser, server: str, fake_llm: FakeLLM) -> None:
    script_answer(fake_llm)
    page, problems = open_page(
        browser, server, viewport={"width": 390, "height": 844}, color_scheme="light"
    )
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme-toggle")
    pw_expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != background
    page.reload()
    pw_expect(page.locator("html")).to_have_attribute("data-theme", "dark")

    pw_expect(page.locator("#sidebar")).to_be_hidden()  # a drawer on a phone
    pw_expect(page.locator("#question")).to_be_visible()
    ask(page, QUESTION)
    last_answer(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#menu-toggle")
    pw_expect(page.locator("#chat-list .chat-title")).to_have_text([QUESTION])
    page.click("#sidebar-close")
    pw_expect(page.locator("#sidebar")).to_be_hidden()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "screenshot-phone-dark.png"))
    assert problems.errors == []


def test_a_wrong_key_shows_a_clear_message(
    browser: Browser, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    with serving(tmp_path, fake_llm, auth_mode="api_key") as server:
        page, _ = open_page(browser, server)
        page.fill("#api-key", "wrong-key")
        page.click("#key-form button")
        pw_expect(page.locator("#banner")).to_contain_text("Wrong or missing API key")
        pw_expect(page.locator("#api-key")).to_have_class(re.compile("invalid"))
        page.fill("#api-key", FILE_KEY)
        page.click("#key-form button")
        script_answer(fake_llm)
        ask(page, QUESTION)
        pw_expect(last_answer(page).locator(".body")).to_contain_text("30 days")


def test_knowledge_base_view(browser: Browser, server: str, tmp_path: Path) -> None:
    page, problems = open_page(browser, server)
    page.click("#nav-kb")
    rows = page.locator("#kb-documents tbody tr")
    pw_expect(rows).to_have_count(EXAMPLE_DOCUMENTS)
    pw_expect(rows.filter(has_text="refund-policy.md").locator("td.num").first).not_to_have_text(
        "0"
    )

    page.fill("#kb-query", "gift card expiry")
    page.press("#kb-query", "Enter")
    hits = page.locator("#kb-results .kb-hit")
    pw_expect(hits.first).to_contain_text("gift-cards-and-promotions.md")
    hits.first.locator("a").click()
    pw_expect(page.locator("#passage-body")).not_to_be_empty()
    page.keyboard.press("Escape")

    upload = tmp_path / "opening-hours.md"
    upload.write_text("# Opening hours\n\nThe shop's phone line is open 9:00 to 17:00.\n")
    page.set_input_files("#kb-file", str(upload))
    page.click("#kb-upload button")
    pw_expect(page.locator("#kb-status")).to_contain_text("Indexed")
    pw_expect(rows).to_have_count(14)
    page.once("dialog", lambda dialog: dialog.accept())
    rows.filter(has_text="opening-hours.md").locator("button.danger").click()
    pw_expect(rows).to_have_count(EXAMPLE_DOCUMENTS)
    assert problems.errors == []


def test_a_user_key_sees_no_admin_controls_and_stays_valid(
    browser: Browser, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    with serving(tmp_path, fake_llm, auth_mode="api_key") as server:
        admin = {"Authorization": f"Bearer {FILE_KEY}"}
        created = httpx.post(f"{server}/keys", json={"name": "bob", "role": "user"}, headers=admin)
        assert created.status_code == 201, created.text
        page, _ = open_page(browser, server)
        page.fill("#api-key", created.json()["key"])
        page.click("#key-form button")
        page.click("#nav-kb")
        rows = page.locator("#kb-documents tbody tr")
        pw_expect(rows).to_have_count(EXAMPLE_DOCUMENTS)  # reading is for everyone
        pw_expect(page.locator("#kb-admin-note")).to_be_visible()
        pw_expect(page.locator("#kb-upload")).to_be_hidden()
        pw_expect(page.locator("#kb-documents button.danger:visible")).to_have_count(0)
        # The key is valid: a 403 for an admin action does not mark it wrong.
        pw_expect(page.locator("#api-key")).not_to_have_class(re.compile("invalid"))
        pw_expect(page.locator("#banner")).to_be_hidden()
        page.fill("#kb-query", "gift card expiry")
        page.press("#kb-query", "Enter")
        pw_expect(page.locator("#kb-results .kb-hit").first).to_contain_text(
            "gift-cards-and-promotions.md"
        )

        page.fill("#api-key", FILE_KEY)  # an admin key brings the controls back
        page.click("#key-form button")
        pw_expect(page.locator("#kb-upload")).to_be_visible()
        pw_expect(page.locator("#kb-admin-note")).to_be_hidden()
        pw_expect(rows.first.locator("button.danger")).to_be_visible()
