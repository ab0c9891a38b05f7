// The knowledge-base view (admins): documents with chunk counts, upload, delete, and a
// search box showing the passages the agent would retrieve.

import { getJSON, getPage, request, sendJSON } from "./api.js";
import { button, describeError, el, formatBytes, formatTime, openPassage } from "./ui.js";

export class KnowledgeView {
  constructor() {
    this.table = document.querySelector("#kb-documents tbody");
    this.more = document.getElementById("kb-more");
    this.status = document.getElementById("kb-status");
    this.results = document.getElementById("kb-results");
    this.cursor = null;
    this.more.addEventListener("click", () => this.load({ append: true }));
    document.getElementById("kb-upload").addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
    document.getElementById("kb-search").addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
  }

  say(text, kind = "info") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  async load({ append = false } = {}) {
    try {
      const page = await getPage("/kb/documents", { limit: 100, after: append ? this.cursor : null });
      if (!append) this.table.replaceChildren();
      for (const doc of page.data) this.table.append(this.row(doc));
      this.cursor = page.next_cursor;
      this.more.hidden = !page.has_more;
      if (!append) this.say(page.data.length ? "" : "No documents yet: upload markdown or text files.");
    } catch (error) {
      const text =
        error.status === 404
          ? "This server has no knowledge-base admin API (GET /kb/documents answered 404)."
          : `Could not list documents. ${describeError(error)}`;
      this.say(text, "error");
    }
  }

  row(doc) {
    const row = el("tr");
    row.dataset.documentId = doc.id;
    const name = el("td");
    name.append(el("strong", "", doc.title || doc.path), el("div", "muted", doc.path ?? doc.source));
    row.append(
      name,
      el("td", "num", doc.chunk_count),
      el("td", "num", formatBytes(doc.size_bytes)),
      el("td", "", formatTime(doc.indexed_at)),
    );
    const actions = el("td");
    actions.append(button("Delete", "danger", () => this.remove(row, doc), `Delete ${doc.path}`));
    row.append(actions);
    return row;
  }

  async remove(row, doc) {
    if (!window.confirm(`Delete ${doc.path} from the knowledge base?`)) return;
    try {
      await sendJSON("DELETE", `/kb/documents/${encodeURIComponent(doc.id)}`);
      row.remove();
      this.say(`Deleted ${doc.path}.`);
    } catch (error) {
      this.say(`Could not delete ${doc.path}. ${describeError(error)}`, "error");
    }
  }

  async upload() {
    const input = document.getElementById("kb-file");
    const file = input.files?.[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    this.say(`Uploading ${file.name}\u2026`);
    try {
      const doc = await (await request("POST", "/kb/documents", { body })).json();
      input.value = "";
      await this.load(); // first: listing clears the status line
      this.say(`Indexed ${doc.path}: ${doc.chunk_count} chunks.`);
    } catch (error) {
      this.say(`Could not upload ${file.name}. ${describeError(error)}`, "error");
    }
  }

  async search() {
    const query = document.getElementById("kb-query").value.trim();
    const topK = document.getElementById("kb-top-k").value;
    if (!query) return;
    this.results.replaceChildren();
    try {
      const found = await getJSON(`/kb/search?${new URLSearchParams({ q: query, top_k: topK })}`);
      if (!found.results.length) this.results.append(el("li", "muted", "Nothing matches."));
      for (const hit of found.results) this.results.append(this.hit(hit));
    } catch (error) {
      this.results.append(el("li", "error", describeError(error)));
    }
  }

  hit(hit) {
    const item = el("li", "kb-hit");
    const link = el("a", "", hit.heading || hit.title || hit.source);
    link.href = `#/kb/chunks/${hit.chunk_id}`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      openPassage(hit);
    });
    const scores = [`score ${Number(hit.score).toFixed(3)}`];
    if (hit.lexical_score != null) scores.push(`lexical ${Number(hit.lexical_score).toFixed(3)}`);
    if (hit.vector_score != null) scores.push(`vector ${Number(hit.vector_score).toFixed(3)}`);
    item.append(
      link,
      el("div", "muted", `${hit.source} \u00b7 ${scores.join(", ")}`),
      el("p", "snippet", hit.snippet),
    );
    return item;
  }
}
