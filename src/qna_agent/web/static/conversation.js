// The conversation view: history, streaming a turn over SSE, citations, tool calls,
// stop and retry.

import { ApiError, getJSON, getPage, readEvents, request } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { button, describeError, el, openPassage, showBanner } from "./ui.js";

const SQL_TOOL = /sql/i;
// A SQL result summary starts with its row count: "12 rows from: ...", "1 row from: ...", and
// when rows were left off "12 rows+ from: ..." or "12+ rows from: ...".
const ROW_COUNT = /^(\d+)(\+?)\s+rows?(\+?)/;

function rowCount(summary) {
  const match = ROW_COUNT.exec(summary ?? "");
  if (!match) return null;
  const more = match[2] || match[3];
  return `${match[1]}${more} row${match[1] === "1" && !more ? "" : "s"}`;
}

function citationMap(citations) {
  return new Map((citations ?? []).map((c) => [c.ref, c]));
}

function toolSummary(call) {
  const parts = [call.name, call.status ?? "running"];
  if (call.result_summary) parts.push(call.result_summary.split("\n")[0]);
  if (typeof call.duration_ms === "number") parts.push(`${call.duration_ms.toFixed(1)} ms`);
  return parts.join(" \u00b7 ");
}

/** A collapsed <details> for one tool call; SQL tools show their query and row count. */
function renderToolCall(details, call) {
  details.dataset.status = call.status ?? "running";
  details.dataset.tool = call.name;
  const summary = el("summary", "", toolSummary(call));
  const body = [];
  const args = call.arguments ?? {};
  const sql = SQL_TOOL.test(call.name) ? (args.sql ?? args.query) : undefined;
  if (typeof sql === "string") {
    const pre = el("pre", "sql");
    pre.append(el("code", "language-sql", sql));
    body.push(pre);
    const rows = rowCount(call.result_summary);
    if (rows) body.push(el("p", "row-count", rows));
    else if (call.result_summary) body.push(el("p", "muted", call.result_summary)); // an error
  } else {
    const pre = el("pre", "arguments");
    pre.append(el("code", "language-json", JSON.stringify(args, null, 2)));
    body.push(pre);
    if (call.result_summary) body.push(el("p", "muted", call.result_summary));
  }
  details.replaceChildren(summary, ...body);
}

function renderCitations(list, citations) {
  list.replaceChildren();
  list.hidden = !citations?.length;
  for (const citation of citations ?? []) {
    const item = el("li");
    item.value = citation.ref;
    const link = el("a", "citation", citation.heading || citation.title || citation.source);
    link.href = `#cite-${citation.ref}`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      openPassage(citation);
    });
    item.append(link, el("span", "muted source", ` ${citation.source}`));
    list.append(item);
  }
}

export class Conversation {
  constructor({ container, empty, onChatCreated, onBusy }) {
    this.container = container;
    this.empty = empty;
    this.onChatCreated = onChatCreated;
    this.onBusy = onBusy;
    this.chatId = null;
    this.controller = null;
    this.answering = null;
    this.cancelling = null;
    this.loadToken = 0;
  }

  get busy() {
    return this.controller !== null;
  }

  clear() {
    this.chatId = null;
    this.container.replaceChildren(this.empty);
    this.empty.hidden = false;
  }

  /** Show a chat's stored history. */
  async open(chatId) {
    if (this.chatId === chatId && this.container.querySelector(".message")) return;
    const token = ++this.loadToken;
    this.chatId = chatId;
    this.container.replaceChildren();
    const messages = [];
    let after = null;
    do {
      const page = await getPage(`/chats/${encodeURIComponent(chatId)}/messages`, { limit: 200, after });
      if (token !== this.loadToken) return; // another chat was opened meanwhile
      messages.push(...page.data);
      after = page.has_more ? page.next_cursor : null;
    } while (after);
    let question = "";
    for (const message of messages) {
      if (message.role === "user") {
        question = message.content;
        this.addUser(message.content);
      } else {
        this.showAnswer(this.addAssistant(), message, question);
      }
    }
    if (!messages.length) this.container.append(this.empty);
    this.empty.hidden = messages.length > 0;
    this.scroll();
  }

  addUser(text) {
    this.empty.hidden = true;
    const article = el("article", "message user");
    article.dataset.role = "user";
    article.append(el("div", "bubble", text));
    this.container.append(article);
    return article;
  }

  /** A question and the (empty) article of its answer. */
  addTurn(question) {
    this.addUser(question);
    return this.addAssistant();
  }

  addAssistant() {
    const article = el("article", "message assistant");
    article.dataset.role = "assistant";
    article.dataset.status = "in_progress";
    article.dataset.deltas = "0";
    const tools = el("div", "tools");
    const body = el("div", "markdown body");
    const typing = el("div", "typing", "Thinking\u2026");
    const citations = el("ol", "citations");
    citations.hidden = true;
    citations.setAttribute("aria-label", "Sources");
    const error = el("div", "message-error");
    error.hidden = true;
    error.setAttribute("role", "alert");
    const meta = el("footer", "meta");
    article.append(tools, body, typing, citations, error, meta);
    this.container.append(article);
    return article;
  }

  /**
   * Answer a failed turn again, in its place: through the retry endpoint once the server has
   * the answer's message, else by sending the question again (no second copy of it appears).
   * An answer that did not fail on the server (stopped here, or cut off on the way) is shown
   * as the server stored it instead.
   */
  async retry(article, question) {
    if (this.busy) return;
    const messageId = article.dataset.messageId;
    if (messageId) {
      let stored;
      try {
        stored = await getJSON(`${this.messagesPath()}/${encodeURIComponent(messageId)}`);
      } catch (error) {
        this.showFailure(article, describeError(error), question);
        return;
      }
      if (stored.status !== "failed") {
        this.showAnswer(article, stored, question);
        return;
      }
    }
    this.ask(question, article);
  }

  messagesPath() {
    return `/chats/${encodeURIComponent(this.chatId)}/messages`;
  }

  /** Empty an answer's article for another attempt at it (its message id stays). */
  resetAnswer(article) {
    article.dataset.status = "in_progress";
    article.dataset.deltas = "0";
    for (const part of article.querySelectorAll(".tools, .body, .citations, .meta")) part.replaceChildren();
    article.querySelector(".citations").hidden = true;
    article.querySelector(".message-error").hidden = true;
    const typing = article.querySelector(".typing");
    typing.textContent = "Thinking\u2026";
    typing.hidden = false;
    return article;
  }

  /** Start a turn: a retry of a stored answer, or a new question (in a new chat if none). */
  async send(question, article) {
    const signal = this.controller.signal;
    const messageId = article.dataset.messageId;
    if (messageId) {
      return request("POST", `${this.messagesPath()}/${encodeURIComponent(messageId)}/retry`, {
        accept: "text/event-stream",
        signal,
      });
    }
    if (!this.chatId) {
      const response = await request("POST", "/chats", { json: { title: question.slice(0, 80) }, signal });
      const chat = await response.json();
      this.chatId = chat.id;
      this.onChatCreated(chat);
    }
    return request("POST", this.messagesPath(), { json: { content: question }, accept: "text/event-stream", signal });
  }

  /** Render a stored or completed assistant message into its article. */
  showAnswer(article, message, question) {
    article.dataset.messageId = message.id;
    article.dataset.status = message.status;
    article.querySelector(".message-error").hidden = true; // a retried turn's earlier failure
    const tools = article.querySelector(".tools");
    tools.replaceChildren();
    for (const call of message.tool_calls ?? []) {
      const details = el("details", "tool");
      renderToolCall(details, call);
      tools.append(details);
    }
    const citations = citationMap(message.citations);
    article
      .querySelector(".body")
      .replaceChildren(renderMarkdown(message.content, { citations, onCitation: openPassage }));
    renderCitations(article.querySelector(".citations"), message.citations);
    article.querySelector(".typing").hidden = message.status !== "in_progress";
    if (message.status === "in_progress") {
      article.querySelector(".typing").textContent = "Still being answered\u2026 reload to see it.";
    }
    if (message.status === "failed") this.showFailure(article, message.error ?? "the turn failed", question);
    const meta = [message.model, message.latency_ms != null ? `${(message.latency_ms / 1000).toFixed(1)} s` : ""];
    article.querySelector(".meta").textContent = meta.filter(Boolean).join(" \u00b7 ");
  }

  showFailure(article, text, question, status = "failed") {
    article.dataset.status = status;
    article.querySelector(".typing").hidden = true;
    const box = article.querySelector(".message-error");
    box.replaceChildren(el("span", "", text));
    if (question) {
      box.append(
        button("Retry", "retry", (event) => {
          event.currentTarget.disabled = true;
          this.retry(article, question);
        }),
      );
    }
    box.hidden = false;
  }

  scroll() {
    this.container.scrollTop = this.container.scrollHeight;
  }

  /** Stop the answer being streamed: the server cancels the turn (its tokens stop being
   * spent), and the stream is dropped at once. */
  stop() {
    const messageId = this.answering?.dataset.messageId;
    if (messageId && this.chatId && !this.cancelling) {
      const path = `/chats/${encodeURIComponent(this.chatId)}/messages/${encodeURIComponent(messageId)}/cancel`;
      // Resolves to the message as the server stored it, or null when that is unknown.
      this.cancelling = request("POST", path)
        .then((response) => response.json())
        .catch(() => null);
    }
    this.controller?.abort();
  }

  /**
   * Ask `question` in the open chat (creating one first when none is open), or, given the
   * article of its failed answer, answer it again there.
   */
  async ask(question, retrying = null) {
    if (this.busy) return;
    this.controller = new AbortController();
    this.onBusy(true);
    const article = retrying ? this.resetAnswer(retrying) : this.addTurn(question);
    this.answering = article;
    this.scroll();
    try {
      const response = await this.send(question, article);
      await this.consume(response, article, question);
    } catch (error) {
      if (error.name === "AbortError") {
        const stored = await this.cancelling;
        if (stored?.status === "completed") {
          this.showAnswer(article, stored, question); // it finished before the Stop arrived
        } else {
          const note = article.dataset.messageId
            ? "Stopped. The answer was cancelled on the server."
            : "Stopped before the question reached the server.";
          this.showFailure(article, note, question, "stopped");
        }
      } else {
        if (error instanceof ApiError && error.isAuth) showBanner(describeError(error));
        this.showFailure(article, describeError(error), question);
      }
    } finally {
      this.controller = null;
      this.answering = null;
      this.cancelling = null;
      this.onBusy(false);
      this.scroll();
    }
  }

  async consume(response, article, question) {
    const body = article.querySelector(".body");
    const tools = new Map();
    let text = "";
    let frame = 0;
    let finished = false;
    for await (const { event, data } of readEvents(response)) {
      if (event === "message.created") {
        article.dataset.messageId = data.message.id;
      } else if (event === "tool.call" || event === "tool.result") {
        let details = tools.get(data.id);
        if (!details) {
          details = el("details", "tool");
          tools.set(data.id, details);
          article.querySelector(".tools").append(details);
        }
        const previous = details.call ?? {};
        details.call = { ...previous, ...data, arguments: data.arguments ?? previous.arguments };
        renderToolCall(details, details.call);
      } else if (event === "message.delta") {
        text += data.delta;
        article.dataset.status = "streaming";
        article.dataset.deltas = String(Number(article.dataset.deltas) + 1);
        article.querySelector(".typing").hidden = true;
        if (!frame) {
          frame = requestAnimationFrame(() => {
            frame = 0;
            body.replaceChildren(renderMarkdown(text));
            this.scroll();
          });
        }
      } else if (event === "message.completed") {
        cancelAnimationFrame(frame);
        this.showAnswer(article, data, question);
        finished = true;
      } else if (event === "error") {
        cancelAnimationFrame(frame);
        if (data.message) this.showAnswer(article, data.message, question);
        this.showFailure(article, data.problem?.detail ?? "the turn failed", question);
        finished = true;
      }
    }
    if (!finished) this.showFailure(article, "The connection closed before the answer finished.", question);
  }
}
