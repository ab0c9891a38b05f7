// The list of the user's chats: newest first, open, rename in place, delete.

import { getPage, sendJSON } from "./api.js";
import { button, describeError, el, formatTime, showBanner } from "./ui.js";

export class ChatList {
  constructor({ list, more, none, onDeleted }) {
    this.list = list;
    this.more = more;
    this.none = none;
    this.onDeleted = onDeleted;
    this.cursor = null;
    this.current = null;
    more.addEventListener("click", () => this.load({ append: true }));
  }

  async load({ append = false } = {}) {
    try {
      const page = await getPage("/chats", { limit: 50, after: append ? this.cursor : null });
      if (!append) this.list.replaceChildren();
      for (const chat of page.data) this.list.append(this.item(chat));
      this.cursor = page.next_cursor;
      this.more.hidden = !page.has_more;
      this.none.hidden = this.list.children.length > 0;
      this.highlight(this.current);
    } catch (error) {
      showBanner(`Could not load your chats. ${describeError(error)}`);
    }
  }

  /** Put a chat made just now at the top. */
  prepend(chat) {
    this.list.prepend(this.item(chat));
    this.none.hidden = true;
    this.highlight(chat.id);
  }

  highlight(chatId) {
    this.current = chatId;
    for (const item of this.list.children) {
      const active = item.dataset.chatId === chatId;
      item.classList.toggle("active", active);
      item.querySelector("a")?.toggleAttribute("aria-current", active);
    }
  }

  item(chat) {
    const item = el("li", "chat-item");
    item.dataset.chatId = chat.id;
    const link = el("a", "chat-link");
    link.href = `#/chats/${chat.id}`;
    link.append(el("span", "chat-title", chat.title || "Untitled chat"), el("time", "muted", formatTime(chat.created_at)));
    const actions = el("span", "chat-actions");
    actions.append(
      button("\u270e", "icon-button rename", () => this.rename(item, chat), "Rename chat"),
      button("\u00d7", "icon-button delete", () => this.remove(item, chat), "Delete chat"),
    );
    item.append(link, actions);
    return item;
  }

  rename(item, chat) {
    const form = el("form", "rename-form");
    const input = el("input");
    input.value = chat.title ?? "";
    input.maxLength = 200;
    input.setAttribute("aria-label", "New chat title");
    form.append(input);
    const link = item.querySelector(".chat-link");
    link.hidden = true;
    item.prepend(form);
    input.focus();
    input.select();
    let finished = false;
    const finish = () => {
      if (finished) return; // removing the form blurs its input: finish only once
      finished = true;
      form.remove();
      link.hidden = false;
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") finish();
    });
    input.addEventListener("blur", finish);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim() || null;
      try {
        const updated = await sendJSON("PATCH", `/chats/${chat.id}`, { title });
        chat.title = updated.title;
        link.querySelector(".chat-title").textContent = updated.title || "Untitled chat";
      } catch (error) {
        showBanner(`Could not rename the chat. ${describeError(error)}`);
      }
      finish();
    });
  }

  async remove(item, chat) {
    if (!window.confirm(`Delete \u201c${chat.title || "Untitled chat"}\u201d and its messages?`)) return;
    try {
      await sendJSON("DELETE", `/chats/${chat.id}`);
      item.remove();
      this.none.hidden = this.list.children.length > 0;
      this.onDeleted(chat.id);
    } catch (error) {
      showBanner(`Could not delete the chat. ${describeError(error)}`);
    }
  }
}
