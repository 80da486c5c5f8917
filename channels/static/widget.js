/* The site chat widget: one <script src="https://BOT/widget.js" async></script> on any page.
 *
 * Plain modern JavaScript, no build step, no third-party requests: everything comes from
 * the bot's own origin, read from this script's src. It lives in a shadow root so the host
 * page's CSS cannot break it and it cannot break the page. Text from customers and the bot
 * is only ever set as textContent (never innerHTML).
 *
 * Optional attributes: data-lang="it" (else the browser's languages),
 * data-transport="poll" (skip the WebSocket), data-open="true" (start with the panel open).
 */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.src) return;
  const BOT = new URL(script.src).origin;
  const STORE_KEY = "intake-chat-session:" + BOT;
  const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
  const wanted = script.dataset.lang ? [script.dataset.lang] : Array.from(navigator.languages || [navigator.language || "en"]);

  let texts = {};
  let maxChars = 4000;
  let accepted = true;
  let session = null;
  let socket = null;
  let polling = script.dataset.transport === "poll";
  let wsFailures = 0;
  let lastId = -1;
  let typingTimer = 0;
  const pending = new Map(); // cid -> {text, el}
  const seen = new Map(); // entry id -> element

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) node.append(child);
    return node;
  };
  const storage = {
    get() { try { return localStorage.getItem(STORE_KEY); } catch { return null; } },
    set(value) { try { localStorage.setItem(STORE_KEY, value); } catch { /* private mode */ } },
  };
  // Direction overrides are shown as visible codes, not obeyed: they must not reorder a message.
  const shown = (text) => String(text).replace(BIDI, (c) => "\u27e8U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "\u27e9");

  // --- the interface -------------------------------------------------------------------
  const host = el("div", { "data-intake-chat": "" });
  const root = host.attachShadow({ mode: "open" });
  root.append(el("link", { rel: "stylesheet", href: BOT + "/widget.css" }));
  const bubble = el("button", { type: "button", class: "bubble", "aria-expanded": "false", "aria-controls": "intake-panel", "aria-label": "Chat" });
  bubble.append(el("span", { class: "bubble-icon", "aria-hidden": "true" }));
  const title = el("h2", { id: "intake-title" });
  const closeButton = el("button", { type: "button", class: "close", "aria-label": "Close" }, "\u00d7");
  const banner = el("p", { class: "banner", role: "status", hidden: "" });
  const log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  const typing = el("p", { class: "typing", hidden: "", "aria-live": "polite" });
  const notice = el("p", { class: "notice", role: "alert", hidden: "" });
  const unavailable = el("p", { class: "unavailable", role: "status", hidden: "" });
  const label = el("label", { for: "intake-input", class: "visually-hidden" });
  const input = el("textarea", { id: "intake-input", rows: "2", autocomplete: "off" });
  const send = el("button", { type: "submit", class: "send" });
  const form = el("form", { class: "compose" }, label, input, send);
  const panel = el("section", { id: "intake-panel", class: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "intake-title", hidden: "" },
    el("header", {}, title, closeButton), banner, log, typing, unavailable, notice, form);
  root.append(bubble, panel);

  const say = (key, values = {}) => (texts[key] || key).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));

  function applyTexts() {
    bubble.setAttribute("aria-label", say("open"));
    bubble.title = say("open");
    title.textContent = say("title");
    closeButton.setAttribute("aria-label", say("close"));
    label.textContent = say("input_label");
    input.placeholder = say("placeholder");
    send.textContent = say("send");
    typing.textContent = say("typing");
  }

  function setOpen(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) {
      (input.disabled ? closeButton : input).focus();
      log.scrollTop = log.scrollHeight;
      if (!socket && !session) connect();
    } else {
      bubble.focus();
    }
  }
  bubble.addEventListener("click", () => setOpen(panel.hidden));
  closeButton.addEventListener("click", () => setOpen(false));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); setOpen(false); }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });

  function setAccepted(isAccepted, text) {
    accepted = isAccepted;
    unavailable.hidden = isAccepted;
    unavailable.textContent = isAccepted ? "" : text;
    form.hidden = !isAccepted;
    input.disabled = !isAccepted;
    send.disabled = !isAccepted;
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(() => { typing.hidden = true; }, 30000);
  }

  function stateText(state) { return state ? say(state) : ""; }

  function render(entry) {
    if (seen.has(entry.id)) { setState(entry.id, entry.state); return; }
    const item = el("li", { class: "msg " + (entry.sender === "bot" ? "bot" : "customer"), "data-id": String(entry.id) });
    item.append(el("span", { class: "visually-hidden" }, (entry.sender === "bot" ? say("bot") : say("you")) + ": "));
    const body = el("span", { class: "text", dir: "auto" });
    body.textContent = shown(entry.text);
    item.append(body);
    if (entry.ref) item.dataset.ref = entry.ref;
    if (entry.sender !== "bot") {
      const state = el("small", { class: "state" });
      state.textContent = stateText(entry.state);
      item.dataset.state = entry.state || "";
      item.append(state);
    } else {
      showTyping(false);
    }
    seen.set(entry.id, item);
    lastId = Math.max(lastId, entry.id);
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function setState(id, state) {
    const item = seen.get(id);
    if (!item || !state || item.dataset.state === "delivered" && state !== "failed") return;
    item.dataset.state = state;
    const small = item.querySelector(".state");
    if (small) small.textContent = stateText(state);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        session = frame.session;
        storage.set(session);
        maxChars = frame.max_chars || maxChars;
        for (const entry of frame.history) render(entry);
        setAccepted(frame.accepted !== false, unavailable.textContent);
        flushPending();
        break;
      case "entry": render(frame.entry); break;
      case "ack": adopt(frame.cid, frame.id); break;
      case "state": setState(frame.id, frame.state); break;
      case "typing": showTyping(frame.on); break;
      case "status":
        banner.textContent = shown(frame.text);
        banner.hidden = false;
        break;
      case "closed":
        setAccepted(false, frame.text);
        failPending(frame.cid);
        break;
      case "error":
        showNotice(frame.text || frame.code);
        failPending(frame.cid);
        if (frame.retry === "hello") setTimeout(() => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(hello())); }, 2000);
        break;
      default: break;
    }
  }

  // A message shows at once as "sending"; the server's ack gives it its entry id.
  function adopt(cid, id) {
    const waiting = pending.get(cid);
    if (!waiting) return;
    pending.delete(cid);
    if (seen.has(id)) { waiting.el.remove(); return; }
    waiting.el.dataset.id = String(id);
    waiting.el.dataset.state = "sent";
    waiting.el.querySelector(".state").textContent = stateText("sent");
    seen.set(id, waiting.el);
    lastId = Math.max(lastId, id);
  }

  function failPending(cid) {
    const waiting = cid && pending.get(cid);
    if (!waiting) return;
    pending.delete(cid);
    waiting.el.dataset.state = "failed";
    waiting.el.querySelector(".state").textContent = stateText("failed");
  }

  function submit() {
    const text = input.value;
    if (!text.trim() || !accepted) return;
    if (text.length > maxChars) { showNotice(say("too_long", { limit: String(maxChars) })); return; }
    showNotice("");
    const cid = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const item = el("li", { class: "msg customer", "data-state": "sending" });
    item.append(el("span", { class: "visually-hidden" }, say("you") + ": "));
    const body = el("span", { class: "text", dir: "auto" });
    body.textContent = shown(text);
    item.append(body, el("small", { class: "state" }, stateText("sending")));
    log.append(item);
    log.scrollTop = log.scrollHeight;
    pending.set(cid, { text, el: item, sentAt: 0 });
    input.value = "";
    transmit(cid);
  }

  function transmit(cid) {
    const waiting = pending.get(cid);
    if (!waiting || !session) return;
    waiting.sentAt = Date.now();
    const frame = { type: "message", text: waiting.text, cid, session };
    if (polling) httpSend(frame);
    else if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function flushPending() { for (const cid of pending.keys()) transmit(cid); }

  // --- transports --------------------------------------------------------------------
  function hello() { return { type: "hello", session: storage.get(), lang: wanted }; }

  function connect() {
    if (polling) { startPolling(); return; }
    let welcomed = false;
    try {
      socket = new WebSocket(BOT.replace(/^http/, "ws") + "/chat/ws");
    } catch {
      polling = true; startPolling(); return;
    }
    socket.addEventListener("open", () => socket.send(JSON.stringify(hello())));
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type === "welcome") { welcomed = true; wsFailures = 0; showNotice(""); }
      onFrame(frame);
    });
    socket.addEventListener("close", () => {
      socket = null;
      if (!welcomed) wsFailures += 1;
      if (wsFailures >= 2) { polling = true; startPolling(); return; }
      if (session || !welcomed) showNotice(say("reconnecting"));
      setTimeout(connect, Math.min(1000 * 2 ** wsFailures, 15000));
    });
  }

  async function post(frame) {
    const response = await fetch(BOT + "/chat/send", {
      method: "POST", body: JSON.stringify(frame), headers: { "Content-Type": "text/plain" }, credentials: "omit",
    });
    const body = await response.json();
    for (const f of body.frames || []) onFrame(f);
  }

  async function httpSend(frame) {
    try { await post(frame); pollNow(); } catch { showNotice(say("reconnecting")); }
  }

  let pollAbort = null;
  function pollNow() { if (pollAbort) pollAbort.abort(); }

  async function startPolling() {
    try { await post(hello()); } catch { setTimeout(startPolling, 3000); return; }
    for (;;) {
      pollAbort = new AbortController();
      try {
        const response = await fetch(BOT + "/chat/poll", {
          method: "POST", signal: pollAbort.signal, credentials: "omit",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ type: "poll", session, after: lastId, wait: 20 }) });
        if (response.status === 404) { storage.set(""); return startPolling(); }
        const body = await response.json();
        for (const f of body.frames || []) onFrame(f);
        if (body.accepted === false && accepted) setAccepted(false, unavailable.textContent);
        showNotice("");
      } catch (error) {
        if (error.name !== "AbortError") { showNotice(say("reconnecting")); await new Promise((r) => setTimeout(r, 3000)); }
      }
    }
  }

  async function start() {
    try {
      const response = await fetch(BOT + "/chat/config?lang=" + encodeURIComponent(wanted.join(",")), { credentials: "omit" });
      const config = await response.json();
      texts = config.texts || {};
      maxChars = config.max_chars || maxChars;
      applyTexts();
      if (!config.accepted) setAccepted(false, config.unavailable || "");
    } catch { applyTexts(); }
    host.dataset.ready = "true";
    // A returning customer's panel reconnects at once, so replies that came meanwhile show.
    if (storage.get() || script.dataset.open === "true") connect();
    if (script.dataset.open === "true") setOpen(true);
  }

  (document.body ? Promise.resolve() : new Promise((r) => addEventListener("DOMContentLoaded", r))).then(() => {
    document.body.append(host);
    applyTexts();
    start();
  });
})();
