// The chat page: routing (#/, #/chats/{id}, #/kb), theme, API key, and the views.

import { getApiKey, onAuthRefused, setApiKey } from "./api.js";
import { ChatList } from "./chats.js";
import { Conversation } from "./conversation.js";
import { KnowledgeView } from "./kb.js";
import { describeError, hideBanner, showBanner } from "./ui.js";

const $ = (id) => document.getElementById(id);
const THEME_STORAGE = "qna-agent.theme";

function currentTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const other = theme === "dark" ? "light" : "dark";
  $("theme-toggle").setAttribute("aria-label", `Switch to ${other} theme`);
}

function setupTheme() {
  const saved = localStorage.getItem(THEME_STORAGE);
  if (saved === "light" || saved === "dark") applyTheme(saved);
  $("theme-toggle").addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_STORAGE, next);
    applyTheme(next);
  });
}

function setupKey(onSaved) {
  const input = $("api-key");
  input.value = getApiKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    input.classList.remove("invalid");
    hideBanner();
    onSaved();
  });
  onAuthRefused((error) => {
    input.classList.add("invalid");
    showBanner(describeError(error));
  });
}

function setupComposer(conversation) {
  const form = $("composer");
  const question = $("question");
  const send = () => {
    const text = question.value.trim();
    if (!text || conversation.busy) return;
    question.value = "";
    conversation.ask(text);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && conversation.busy) conversation.stop();
  });
  $("stop").addEventListener("click", () => conversation.stop());
}

function setupSidebar() {
  const toggle = $("menu-toggle");
  const open = (yes) => {
    document.body.classList.toggle("sidebar-open", yes);
    toggle.setAttribute("aria-expanded", String(yes));
  };
  toggle.addEventListener("click", () => open(!document.body.classList.contains("sidebar-open")));
  $("sidebar").addEventListener("click", (event) => {
    if (event.target.closest("a")) open(false);
  });
  $("sidebar-close").addEventListener("click", () => open(false));
  // On a phone the list is a drawer: a tap beside it or Escape closes it.
  document.addEventListener("click", (event) => {
    if (!document.body.classList.contains("sidebar-open")) return;
    if (!event.target.closest("#sidebar, #menu-toggle")) open(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") open(false);
  });
  return open;
}

function main() {
  setupTheme();
  $("banner-close").addEventListener("click", hideBanner);
  const closeSidebar = setupSidebar();
  const kb = new KnowledgeView();
  const chats = new ChatList({
    list: $("chat-list"),
    more: $("more-chats"),
    none: $("no-chats"),
    onDeleted: (chatId) => {
      if (conversation.chatId === chatId) window.location.hash = "#/";
    },
  });
  const conversation = new Conversation({
    container: $("messages"),
    empty: $("empty-chat"),
    onChatCreated: (chat) => {
      chats.prepend(chat);
      // Record the chat in the address without re-rendering the turn that is streaming.
      history.replaceState(null, "", `#/chats/${chat.id}`);
    },
    onBusy: (busy) => {
      $("send").hidden = busy;
      $("stop").hidden = !busy;
      document.body.classList.toggle("busy", busy);
    },
  });
  setupComposer(conversation);
  $("new-chat").addEventListener("click", () => {
    if (conversation.busy) return;
    if (window.location.hash && window.location.hash !== "#/") window.location.hash = "#/";
    else conversation.clear();
    chats.highlight(null);
    closeSidebar(false);
    $("question").focus();
  });

  async function route() {
    const hash = window.location.hash || "#/";
    const kbView = hash.startsWith("#/kb");
    $("chat-view").hidden = kbView;
    $("kb-view").hidden = !kbView;
    $("nav-chats").toggleAttribute("aria-current", !kbView);
    $("nav-kb").toggleAttribute("aria-current", kbView);
    closeSidebar(false);
    if (kbView) {
      await kb.load();
      return;
    }
    const match = /^#\/chats\/([0-9a-f-]{36})$/i.exec(hash);
    chats.highlight(match ? match[1] : null);
    if (conversation.busy) return;
    if (!match) {
      conversation.clear();
    } else {
      try {
        await conversation.open(match[1]);
      } catch (error) {
        conversation.clear();
        showBanner(error.status === 404 ? "That chat no longer exists." : `Could not open the chat. ${describeError(error)}`);
      }
    }
    $("question").focus();
  }

  setupKey(() => {
    chats.load();
    conversation.chatId = null;
    route();
  });
  window.addEventListener("hashchange", route);
  chats.load();
  route();
}

main();
