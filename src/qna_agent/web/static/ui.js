// Small DOM helpers shared by the views: elements, the alert banner, the passage dialog.

import { ApiError, getJSON } from "./api.js";
import { renderMarkdown } from "./markdown.js";

/** An element with a class and text content (never HTML). */
export function el(tag, className = "", text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function button(label, className = "", onClick = null, title = "") {
  const node = el("button", className, label);
  node.type = "button";
  if (title) {
    node.title = title;
    node.setAttribute("aria-label", title);
  }
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** What to tell a person about an error, naming a refused key plainly. */
export function describeError(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return `Wrong or missing API key: ${error.detail}`;
    if (error.status === 403) return `This API key may not do that: ${error.detail}`;
    if (error.status === 0) return `Cannot reach the server: ${error.detail}`;
    return `${error.problem?.title || "Error"} (${error.status}): ${error.detail}`;
  }
  return String(error?.message ?? error);
}

const banner = () => document.getElementById("banner");

export function showBanner(text, kind = "error") {
  const node = banner();
  document.getElementById("banner-text").textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
}

export function hideBanner() {
  banner().hidden = true;
}

/** "Lines 9-13" style location of a passage. */
function lines(passage) {
  if (passage.start_line == null) return "";
  return passage.end_line != null && passage.end_line !== passage.start_line
    ? `lines ${passage.start_line}\u2013${passage.end_line}`
    : `line ${passage.start_line}`;
}

/**
 * Open the passage dialog for a citation or a search hit: document and heading at once, then
 * the whole chunk when the server can give it (GET /kb/chunks/{chunk_id}).
 */
export async function openPassage(passage) {
  const dialog = document.getElementById("passage");
  const body = document.getElementById("passage-body");
  document.getElementById("passage-title").textContent = passage.heading || passage.title || passage.source;
  document.getElementById("passage-meta").textContent = [passage.source, passage.title, lines(passage)]
    .filter(Boolean)
    .join(" \u00b7 ");
  body.replaceChildren(renderMarkdown(passage.snippet ?? passage.content ?? ""));
  body.dataset.full = "false";
  if (!dialog.open) dialog.showModal();
  if (!passage.chunk_id || passage.content) {
    body.dataset.full = String(Boolean(passage.content));
    return;
  }
  try {
    const chunk = await getJSON(`/kb/chunks/${encodeURIComponent(passage.chunk_id)}`);
    body.replaceChildren(renderMarkdown(chunk.content));
    body.dataset.full = "true";
  } catch (error) {
    // The snippet stays; say why the whole passage is not shown.
    body.append(el("p", "muted", `(The full passage is not available: ${describeError(error)})`));
  }
}
