// The knowledge-base view: documents with chunk counts, upload and delete (for admin keys), and
// a search box showing the passages the agent would retrieve (for every key).

import { ApiError, getJSON, getPage, request, sendJSON } from "./api.js";
import { button, describeError, el, formatBytes, formatTime, openPassage } from "./ui.js";

export class KnowledgeView {
  constructor() {
    this.table = document.querySelector("#kb-documents tbody");
    this.more = document.getElementById("kb-more");
    this.status = document.getElementById("kb-status");
    this.results = document.getElementById("kb-results");
    this.cursor = null;
    this.admin = false;
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

  /**
   * Whether this key may upload and delete. The API has no "who am I" call; GET /keys is its
   * cheapest read that only an admin may make (403 for a `user` key, nothing changes).
   */
  async canAdminister() {
    try {
      await request("GET", "/keys");
      return true;
    } catch (error) {
      if (error instanceof ApiError) return false;
      throw error;
    }
  }

  /** Show or hide upload and delete, which need an admin key. */
  showAdminControls(admin) {
    this.admin = admin;
    document.getElementById("kb-upload").hidden = !admin;
    document.getElementById("kb-actions").hidden = !admin;
    document.getElementById("kb-admin-note").hidden = admin;
    for (const cell of this.table.querySelectorAll("td.actions")) cell.hidden = !admin;
  }

  /** A 403 means the key is valid but not an admin's: hide what it may not do, say why. */
  refused(error, text) {
    if (error instanceof ApiError && error.status === 403) {
      this.showAdminControls(false);
      this.say(`${text} Uploading and deleting need an admin key.`, "error");
    } else {
      this.say(`${text} ${describeError(error)}`, "error");
    }
  }

  async load({ append = false } = {}) {
    if (!append) this.showAdminControls(await this.canAdminister());
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
    const actions = el("td", "actions");
    actions.hidden = !this.admin;
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
      this.refused(error, `Could not delete ${doc.path}.`);
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
      this.refused(error, `Could not upload ${file.name}.`);
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
