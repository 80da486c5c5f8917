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
  let privacyUrl = "";
  let canMail = false;
  let canAttach = false;
  let hasRef = false;
  let language = wanted[0] || "en";
  let recheck = 0;
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
  bubble.append(el("span", { class: "bubble-icon", "aria-hidden": "true" }), el("span", { class: "bubble-offline", "aria-hidden": "true" }));
  const title = el("h2", { id: "intake-title" });
  const closeButton = el("button", { type: "button", class: "close", "aria-label": "Close" }, "\u00d7");
  const banner = el("p", { class: "banner", role: "status", hidden: "" });
  // Messages are a log of plain items (not a list: role=log would hide list semantics).
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  const typing = el("p", { class: "typing", hidden: "", "aria-live": "polite" });
  const notice = el("p", { class: "notice", role: "alert", hidden: "" });
  const info = el("p", { class: "info", role: "status", hidden: "" });
  const unavailable = el("div", { class: "unavailable", role: "status", hidden: "" });
  const choices = el("div", { class: "choices", role: "group", hidden: "" });
  const label = el("label", { for: "intake-input", class: "visually-hidden" });
  const input = el("textarea", { id: "intake-input", rows: "2", autocomplete: "off" });
  const send = el("button", { type: "submit", class: "send" });
  // Files go to the complaint once it has its reference (the server checks them again).
  const fileInput = el("input", { type: "file", hidden: "", tabindex: "-1", accept: "image/jpeg,image/png,image/webp,image/heic,application/pdf" });
  const attachButton = el("button", { type: "button", class: "attach", hidden: "" });
  attachButton.append(el("span", { "aria-hidden": "true" }, "+"));
  const form = el("form", { class: "compose" }, label, attachButton, fileInput, input, send);
  const transcriptButton = el("button", { type: "button", class: "transcript", hidden: "" });
  const panel = el("div", { id: "intake-panel", class: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "intake-title", hidden: "" },
    el("div", { class: "head" }, title, closeButton), banner, log, typing, unavailable, notice, info, choices, form, transcriptButton);
  root.append(bubble, panel);

  const say = (key, values = {}) => (texts[key] || key).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));

  function applyTexts() {
    const open = accepted ? say("open") : say("open_offline");
    bubble.setAttribute("aria-label", open);
    bubble.title = open;
    choices.setAttribute("aria-label", say("choices"));
    transcriptButton.textContent = say("transcript");
    attachButton.setAttribute("aria-label", say("attach"));
    attachButton.title = say("attach");
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

  // Closed: the notice lists the channels to use instead, each a link; the bubble shows it.
  function setAccepted(isAccepted, text, links) {
      accepted = isAccepted;
    unavailable.hidden = isAccepted;
    if (isAccepted) unavailable.replaceChildren();
    else if (text !== undefined) showUnavailable(text, links || []);
    form.hidden = !isAccepted;
    input.disabled = !isAccepted;
    send.disabled = !isAccepted;
    transcriptButton.hidden = !isAccepted || !canMail || !session;
    attachButton.hidden = !isAccepted || !canAttach || !hasRef;
    if (!isAccepted) choices.hidden = true;
    bubble.classList.toggle("offline", !isAccepted);
    bubble.dataset.offline = String(!isAccepted);
    applyTexts();
    clearInterval(recheck);
    if (!isAccepted) recheck = setInterval(checkOpen, 3000);
  }

  function showUnavailable(text, links) {
    const list = el("ul", { class: "links" });
    for (const link of links) {
      const href = new URL(link.href, BOT).href;
      if (!/^(https?:|mailto:)/.test(href)) continue;
      const a = el("a", { href, target: "_blank", rel: "noopener noreferrer" });
      a.textContent = link.address ? link.name + ": " + link.address : link.name;
      list.append(el("li", {}, a));
    }
    const para = el("p", {});
    para.textContent = text;
    unavailable.replaceChildren(para);
    if (list.children.length) unavailable.append(list);
  }

  // While closed, ask now and then whether an admin opened the chat again: no reload needed.
  let reopening = false;
  async function checkOpen() {
    if (reopening) return;
    reopening = true;
    try {
      const config = await fetchConfig();
      if (config.accepted && !accepted) { setAccepted(true); resume(); }
    } catch { /* try again at the next tick */ } finally { reopening = false; }
  }

  // Open again: the panel says hello (a new chat starts, or the old one goes on).
  function resume() {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(hello()));
    else if (polling) { if (!session) startPolling(); }
    else if (!socket && (session || !panel.hidden)) connect();
  }

  async function fetchConfig() {
    const response = await fetch(BOT + "/chat/config?lang=" + encodeURIComponent(wanted.join(",")), { credentials: "omit" });
    return response.json();
  }

  async function closedNow() {
    try {
      const config = await fetchConfig();
      if (!config.accepted) setAccepted(false, config.unavailable || "", config.links);
    } catch { setAccepted(false); }
  }

  function showInfo(text) {
    info.textContent = text;
    info.hidden = !text;
  }

  function showChoices(entry) {
    choices.replaceChildren();
    const offered = entry && entry.sender === "bot" ? entry.choices || [] : [];
    for (const text of offered) {
      const button = el("button", { type: "button", class: "choice" });
      button.textContent = text;
      button.addEventListener("click", () => { input.value = text; submit(); input.focus(); });
      choices.append(button);
    }
    choices.hidden = !offered.length || !accepted;
  }
  function refKnown() {
    hasRef = true;
    attachButton.hidden = !accepted || !canAttach;
  }
  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file || !session) return;
    const body = new FormData();
    body.append("session", session); // first: the server reads no file before it
    body.append("cid", Math.random().toString(36).slice(2));
    body.append("file", file, file.name);
    showNotice("");
    try {
      const response = await fetch(BOT + "/chat/upload?lang=" + encodeURIComponent(language), { method: "POST", body, credentials: "omit" });
      const answer = await response.json();
      for (const f of answer.frames || []) onFrame(f);
      pollNow();
    } catch { showNotice(say("reconnecting")); }
    fileInput.value = "";
  });
  transcriptButton.addEventListener("click", () => {
    if (!session) return;
    const frame = { type: "transcript", session };
    if (polling) post(frame).catch(() => showNotice(say("reconnecting")));
    else if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  });

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
    const kind = entry.kind ? " " + entry.kind : "";
    const item = el("div", { class: "msg " + (entry.sender === "bot" ? "bot" : "customer") + kind, "data-id": String(entry.id) });
    item.append(el("span", { class: "visually-hidden" }, (entry.sender === "bot" ? say("bot") : say("you")) + ": "));
    const body = el("span", { class: "text", dir: "auto" });
    body.textContent = shown(entry.text);
    item.append(body);
    if (entry.kind === "privacy" && privacyUrl) {
      const a = el("a", { href: privacyUrl, target: "_blank", rel: "noopener noreferrer", class: "privacy-link" });
      a.textContent = say("privacy_link", { url: privacyUrl });
      item.append(" ", a);
    }
    if (entry.ref) { item.dataset.ref = entry.ref; refKnown(); }
    if (entry.sender !== "bot") {
      const state = el("small", { class: "state" });
      state.textContent = stateText(entry.state);
      item.dataset.state = entry.state || "";
      item.append(state);
    } else {
      showTyping(false);
    }
    seen.set(entry.id, item);
    if (entry.id >= lastId) showChoices(entry);
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
        if (frame.accepted !== false) setAccepted(true); else if (accepted) closedNow();
        flushPending();
        break;
      case "availability":
        if (frame.accepted) checkOpen(); else closedNow();
        break;
      case "notice": showInfo(frame.text); break;
      case "entry": render(frame.entry); break;
      case "ack": adopt(frame.cid, frame.id); break;
      case "state": setState(frame.id, frame.state); break;
      case "typing": showTyping(frame.on); break;
      case "status":
        refKnown();
        banner.textContent = shown(frame.text);
        banner.hidden = false;
        break;
      case "closed":
        setAccepted(false, frame.text, frame.links);
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
    showInfo("");
    choices.hidden = true;
    const cid = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const item = el("div", { class: "msg customer", "data-state": "sending" });
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
      // Never welcomed twice: WebSockets are blocked here, so plain HTTP it is, silently.
      if (wsFailures >= 2) { polling = true; startPolling(); return; }
      if (welcomed) showNotice(say("reconnecting")); // a connection that worked was lost
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

  let pollFailures = 0;
  async function startPolling() {
    try { await post(hello()); } catch { showNotice(say("reconnecting")); setTimeout(startPolling, 3000); return; }
    showNotice("");
    if (!session) return; // closed: checkOpen() starts again when the chat reopens
    for (;;) {
      pollAbort = new AbortController();
      try {
        const response = await fetch(BOT + "/chat/poll", {
          method: "POST", signal: pollAbort.signal, credentials: "omit",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ type: "poll", session, after: lastId, wait: 20 }) });
        if (response.status === 404) { storage.set(""); session = null; return startPolling(); }
        const body = await response.json();
        for (const f of body.frames || []) onFrame(f);
        for (const [id, state] of Object.entries(body.states || {})) setState(Number(id), state);
        if (body.accepted === false && accepted) closedNow();
        else if (body.accepted === true && !accepted) setAccepted(true);
        if (pollFailures) showNotice("");
        pollFailures = 0;
      } catch (error) {
        if (error.name !== "AbortError") {
          pollFailures += 1;
          if (pollFailures > 1) showNotice(say("reconnecting"));
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
    }
  }

  async function start() {
    try {
      const config = await fetchConfig();
      texts = config.texts || {};
      maxChars = config.max_chars || maxChars;
      canMail = Boolean(config.transcript);
      canAttach = Boolean(config.uploads);
      language = config.language || language;
      if (config.privacy_url) {
        const url = new URL(config.privacy_url, BOT);
        if (/^https?:$/.test(url.protocol)) privacyUrl = url.href;
      }
      applyTexts();
      if (!config.accepted) setAccepted(false, config.unavailable || "", config.links);
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
