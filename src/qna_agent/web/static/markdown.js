// A small, safe markdown renderer for model answers and documents.
//
// Text never becomes HTML: every piece is a text node or an element made with
// document.createElement, so `<img onerror=...>` in an answer shows as those characters.
// Links keep only http(s) and mailto targets; anything else (javascript:, data:, ...)
// renders as its label, inert. Supported: paragraphs, headings, lists, block quotes,
// fenced code, tables, rules, `code`, **bold**, *italic*, [links](url), bare URLs and
// citation marks like [1] (made into buttons when a citation handler is given).

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The absolute URL when it is safe to link to, else null. */
export function safeHref(raw) {
  try {
    const url = new URL(raw, window.location.href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// One pass over inline text; the first alternative that matches at a position wins.
const INLINE = new RegExp(
  [
    "(?<code>`+)(?<codeText>[\\s\\S]*?[^`])\\k<code>(?!`)",
    "\\*\\*(?<strong>\\S(?:[\\s\\S]*?\\S)?)\\*\\*",
    "\\*(?<em>[^\\s*](?:[^*]*?[^\\s*])?)\\*",
    "\\[(?<label>[^\\]\\n]+)\\]\\(\\s*(?<href>(?:[^()\\s]|\\([^()\\s]*\\))*)(?:\\s+\"[^\"\\n]*\")?\\s*\\)",
    "\\[(?<cite>\\d{1,3})\\]",
    "(?<url>https?:\\/\\/[^\\s<>\"'()]*[^\\s<>\"'().,;:!?])",
  ].join("|"),
  "g",
);

function appendText(parent, text) {
  if (text) parent.append(document.createTextNode(text));
}

function renderInline(parent, text, options) {
  INLINE.lastIndex = 0;
  let last = 0;
  const matches = [...text.matchAll(INLINE)];
  for (const match of matches) {
    const g = match.groups;
    appendText(parent, text.slice(last, match.index));
    last = match.index + match[0].length;
    if (g.code !== undefined) {
      parent.append(el("code", "", g.codeText));
    } else if (g.strong !== undefined) {
      renderInline(parent.appendChild(el("strong")), g.strong, options);
    } else if (g.em !== undefined) {
      renderInline(parent.appendChild(el("em")), g.em, options);
    } else if (g.label !== undefined) {
      const href = safeHref(g.href);
      if (href) {
        const link = el("a");
        link.href = href;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        renderInline(link, g.label, options);
        parent.append(link);
      } else {
        renderInline(parent, g.label, options); // an unsafe target keeps only its label
      }
    } else if (g.cite !== undefined) {
      appendCitation(parent, Number(g.cite), match[0], options);
    } else if (g.url !== undefined) {
      const href = safeHref(g.url);
      if (href) {
        const link = el("a", "", g.url);
        link.href = href;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        parent.append(link);
      } else {
        appendText(parent, g.url);
      }
    }
  }
  appendText(parent, text.slice(last));
}

function appendCitation(parent, ref, raw, options) {
  const citation = options.citations?.get(ref);
  if (!citation || !options.onCitation) {
    appendText(parent, raw);
    return;
  }
  const link = el("a", "cite", `[${ref}]`);
  link.href = `#cite-${ref}`;
  link.title = [citation.title, citation.heading].filter(Boolean).join(" \u203a ");
  link.addEventListener("click", (event) => {
    event.preventDefault();
    options.onCitation(citation);
  });
  parent.append(link);
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^`]*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"));
}

function isBlockStart(line, next) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_RULE.test(next) && next.includes("-"))
  );
}

function renderCode(lines, i, parent) {
  const [, fence, lang] = lines[i].match(FENCE);
  const body = [];
  let j = i + 1;
  while (j < lines.length && !lines[j].trim().startsWith(fence)) body.push(lines[j++]);
  const pre = el("pre");
  const code = el("code", lang ? `language-${lang}` : "", body.join("\n"));
  if (lang) code.dataset.lang = lang;
  pre.append(code);
  parent.append(pre);
  return j + 1; // past the closing fence (or the end, while an answer still streams)
}

function renderList(lines, i, parent, options) {
  const ordered = /\d/.test(lines[i].match(ITEM)[2]);
  const list = el(ordered ? "ol" : "ul");
  if (ordered) {
    const start = parseInt(lines[i].match(ITEM)[2], 10);
    if (start !== 1) list.start = start;
  }
  let item = null;
  let j = i;
  while (j < lines.length) {
    const match = lines[j].match(ITEM);
    if (match && /\d/.test(match[2]) === ordered) {
      item = list.appendChild(el("li"));
      renderInline(item, match[3], options);
    } else if (item && lines[j].trim() && /^\s+/.test(lines[j]) && !isBlockStart(lines[j].trim())) {
      item.append(el("br"));
      renderInline(item, lines[j].trim(), options);
    } else {
      break;
    }
    j += 1;
  }
  parent.append(list);
  return j;
}

function renderTable(lines, i, parent, options) {
  const wrap = el("div", "table-wrap");
  const table = wrap.appendChild(el("table"));
  const head = table.appendChild(el("thead")).appendChild(el("tr"));
  for (const cell of splitRow(lines[i])) renderInline(head.appendChild(el("th")), cell, options);
  const body = table.appendChild(el("tbody"));
  let j = i + 2;
  while (j < lines.length && lines[j].includes("|") && lines[j].trim()) {
    const row = body.appendChild(el("tr"));
    for (const cell of splitRow(lines[j])) renderInline(row.appendChild(el("td")), cell, options);
    j += 1;
  }
  parent.append(wrap);
  return j;
}

function renderBlocks(lines, parent, options) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
    } else if (FENCE.test(line)) {
      i = renderCode(lines, i, parent);
    } else if (HEADING.test(line)) {
      const [, hashes, text] = line.match(HEADING);
      // Answers sit inside the page: their headings start two levels down.
      renderInline(parent.appendChild(el(`h${Math.min(hashes.length + 2, 6)}`)), text, options);
      i += 1;
    } else if (RULE.test(line)) {
      parent.append(el("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].match(QUOTE)[1]);
      renderBlocks(inner, parent.appendChild(el("blockquote")), options);
    } else if (ITEM.test(line)) {
      i = renderList(lines, i, parent, options);
    } else if (line.includes("|") && TABLE_RULE.test(lines[i + 1] ?? "") && lines[i + 1].includes("-")) {
      i = renderTable(lines, i, parent, options);
    } else {
      const paragraph = parent.appendChild(el("p"));
      let first = true;
      while (i < lines.length && lines[i].trim() && (first || !isBlockStart(lines[i], lines[i + 1]))) {
        if (!first) paragraph.append(el("br"));
        renderInline(paragraph, lines[i].trim(), options);
        first = false;
        i += 1;
      }
    }
  }
}

/**
 * Render markdown `text` into a fresh DocumentFragment.
 * options.citations: Map of ref number -> citation; options.onCitation(citation) on a click.
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text ?? "").replaceAll("\r\n", "\n").split("\n"), fragment, options);
  return fragment;
}
