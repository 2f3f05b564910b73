/*
 * Support chat widget. Embed with one tag:
 *   <script src="https://HOST/widget.js" data-widget-key="wk_..." async></script>
 *
 * Renders inside a shadow root (isolated from the host page's CSS), keeps the visitor's session in
 * localStorage, streams answers over server-sent events (fetch + ReadableStream), and polls for
 * replies from the support team. Message text is never parsed as HTML: a tiny markdown subset
 * (bold, italics, code, links, lists) is built with DOM nodes and text nodes only.
 */
(function () {
  "use strict";
  if (window.__supportWidget) return;

  var script = document.currentScript || document.querySelector('script[data-widget-key][src*="widget.js"]');
  if (!script) return;
  var KEY = script.getAttribute("data-widget-key") || "";
  var ORIGIN = new URL(script.src, window.location.href).origin;
  var API = ORIGIN + "/widget/" + encodeURIComponent(KEY);
  var STORE = "support-widget:" + KEY;
  var POLL_MS = 3000;
  var MAX_LENGTH = 4000;

  var state = {
    config: null, session: null, open: false, busy: false, status: null,
    seen: {}, lastId: null, unread: 0, pollTimer: null, started: false
  };
  var ui = {};
  window.__supportWidget = { version: 1, state: state };

  // ------------------------------------------------------------------ storage (may be unavailable)
  function readStore() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  }
  function writeStore() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify({ session_id: state.session, open: state.open }));
    } catch (e) { /* private mode: the session lasts as long as the page */ }
  }

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: "M21 11.5a8.38 8.38 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.38 8.38 0 0 1-3.8-.9L3 21l1.9-5.7a8.38 8.38 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.38 8.38 0 0 1 3.8-.9h.5a8.48 8.48 0 0 1 8 8v.5z",
    close: "M18 6 6 18M6 6l12 12",
    down: "M6 9l6 6 6-6",
    send: "M22 2 11 13M22 2l-7 20-4-9-9-4 20-7z",
    up: "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3",
    downvote: "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17",
    file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6",
    person: "M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2M12 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z"
  };
  function icon(name, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 20);
    svg.setAttribute("height", size || 20);
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  // ------------------------------------------------------------------ safe markdown (DOM nodes only, never parsed as HTML)
  var INLINE = /(\*\*([^*\n]+)\*\*)|(\*([^*\s][^*\n]*?)\*)|(`([^`\n]+)`)|(\[([^\]\n]+)\]\(([^)\s]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])|\s?\[(\d{1,2})\]/g;

  function safeUrl(url) {
    return /^(https?:\/\/|mailto:)/i.test(url) ? url : null;
  }
  function link(text, url) {
    var href = safeUrl(url);
    if (!href) return document.createTextNode(text);
    var a = el("a", null, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }
  function renderInline(parent, text) {
    var last = 0, match;
    INLINE.lastIndex = 0;
    while ((match = INLINE.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) parent.appendChild(el("strong", null, match[2]));
      else if (match[3]) parent.appendChild(el("em", null, match[4]));
      else if (match[5]) parent.appendChild(el("code", null, match[6]));
      else if (match[7]) parent.appendChild(link(match[8], match[9]));
      else if (match[10]) parent.appendChild(link(match[10], match[10]));
      else if (match[11]) parent.appendChild(el("sup", "cite", match[11]));
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function renderMarkdown(target, text) {
    while (target.firstChild) target.removeChild(target.firstChild);
    var para = null, list = null;
    String(text || "").replace(/\r\n?/g, "\n").split("\n").forEach(function (line) {
      var item = /^\s*(?:[-*\u2022]|(\d+)[.)])\s+(.*)$/.exec(line);
      if (item) {
        var type = item[1] ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== type) { list = el(type); target.appendChild(list); }
        para = null;
        var li = el("li");
        renderInline(li, item[2]);
        list.appendChild(li);
      } else if (!line.trim()) {
        para = null; list = null;
      } else {
        list = null;
        if (!para) { para = el("p"); target.appendChild(para); } else { para.appendChild(el("br")); }
        renderInline(para, line);
      }
    });
  }

  // ------------------------------------------------------------------ styles
  var CSS = [
    ":host { all: initial; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".root { --accent: #4f46e5; --on-accent: #ffffff; font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; font-size: 14px; line-height: 1.45; color: #111827; -webkit-font-smoothing: antialiased; }",
    "button { font: inherit; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; width: 60px; height: 60px; border-radius: 50%; border: 0; cursor: pointer; background: var(--accent); color: var(--on-accent); box-shadow: 0 10px 28px rgba(15, 23, 42, .28); display: grid; place-items: center; z-index: 2147483000; transition: transform .18s ease, box-shadow .18s ease; }",
    ".launcher:hover { transform: scale(1.06); box-shadow: 0 12px 32px rgba(15, 23, 42, .34); }",
    ".launcher:focus-visible, button:focus-visible { outline: 3px solid rgba(99, 102, 241, .45); outline-offset: 2px; }",
    ".launcher .badge { position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px; border-radius: 11px; background: #ef4444; color: #fff; font-size: 12px; font-weight: 700; display: grid; place-items: center; border: 2px solid #fff; }",
    ".launcher .badge[hidden] { display: none; }",
    ".panel { position: fixed; right: 20px; bottom: 94px; width: 380px; height: 640px; max-height: calc(100vh - 120px); background: #fff; border-radius: 18px; box-shadow: 0 24px 60px rgba(15, 23, 42, .24), 0 0 0 1px rgba(15, 23, 42, .06); display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; transform-origin: bottom right; animation: pop .18s ease-out; }",
    ".panel[hidden] { display: none; }",
    "@keyframes pop { from { opacity: 0; transform: translateY(12px) scale(.97); } to { opacity: 1; transform: none; } }",
    ".head { background: var(--accent); color: var(--on-accent); padding: 18px 16px 18px 18px; display: flex; align-items: center; gap: 12px; }",
    ".head .avatar { width: 42px; height: 42px; border-radius: 50%; background: rgba(255, 255, 255, .2); display: grid; place-items: center; flex: none; position: relative; }",
    ".head .avatar::after { content: ''; position: absolute; right: 0; bottom: 1px; width: 11px; height: 11px; border-radius: 50%; background: #22c55e; border: 2px solid var(--accent); }",
    ".head .title { font-weight: 650; font-size: 16px; letter-spacing: -.01em; }",
    ".head .subtitle { font-size: 12.5px; opacity: .85; }",
    ".head .grow { flex: 1; min-width: 0; }",
    ".icon-btn { border: 0; background: transparent; color: inherit; width: 34px; height: 34px; border-radius: 10px; display: grid; place-items: center; cursor: pointer; opacity: .9; }",
    ".icon-btn:hover { background: rgba(255, 255, 255, .16); opacity: 1; }",
    ".messages { flex: 1; overflow-y: auto; padding: 18px 14px 8px; background: #f7f8fa; display: flex; flex-direction: column; gap: 10px; scroll-behavior: smooth; }",
    ".row { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; }",
    ".row.customer { align-items: flex-end; }",
    ".label { font-size: 11.5px; color: #6b7280; margin: 0 0 3px 4px; font-weight: 600; }",
    ".bubble { max-width: 84%; padding: 9px 13px; border-radius: 16px; overflow-wrap: anywhere; word-break: break-word; }",
    ".bubble p { margin: 0; } .bubble p + p, .bubble p + ul, .bubble ul + p, .bubble p + ol, .bubble ol + p { margin-top: 8px; }",
    ".bubble ul, .bubble ol { margin: 4px 0; padding-left: 20px; } .bubble li { margin: 2px 0; }",
    ".bubble code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; background: rgba(15, 23, 42, .07); padding: 1px 4px; border-radius: 4px; }",
    ".bubble a { color: inherit; text-decoration: underline; }",
    ".bubble sup.cite { font-size: 10px; font-weight: 700; color: #6b7280; background: #f3f4f6; border-radius: 4px; padding: 0 4px; margin-left: 3px; vertical-align: 3px; line-height: 1; }",
    ".customer .bubble { background: var(--accent); color: var(--on-accent); border-bottom-right-radius: 5px; }",
    ".assistant .bubble, .staff .bubble { background: #fff; color: #111827; border: 1px solid #e5e7eb; border-bottom-left-radius: 5px; box-shadow: 0 1px 2px rgba(15, 23, 42, .04); }",
    ".staff .bubble { border-color: #c7d2fe; background: #eef2ff; }",
    ".row.failed .bubble { opacity: .6; }",
    ".system { align-self: center; max-width: 90%; text-align: center; font-size: 12px; color: #4b5563; background: #eceef2; border-radius: 10px; padding: 6px 11px; }",
    ".meta { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 5px 0 0 2px; max-width: 84%; }",
    ".source { display: inline-flex; align-items: center; gap: 4px; font-size: 11.5px; color: #374151; background: #fff; border: 1px solid #e5e7eb; border-radius: 7px; padding: 2px 7px; max-width: 100%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    "a.source { text-decoration: none; cursor: pointer; } a.source:hover { border-color: #9ca3af; }",
    ".vote { border: 1px solid transparent; background: transparent; color: #9ca3af; width: 26px; height: 24px; border-radius: 7px; display: inline-grid; place-items: center; cursor: pointer; padding: 0; }",
    ".vote:hover { color: #374151; background: #eef0f3; }",
    ".vote.active { color: var(--accent); border-color: currentColor; background: #fff; }",
    ".typing { display: inline-flex; gap: 4px; padding: 12px 14px; background: #fff; border: 1px solid #e5e7eb; border-radius: 16px; border-bottom-left-radius: 5px; }",
    ".typing span { width: 7px; height: 7px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite ease-in-out; }",
    ".typing span:nth-child(2) { animation-delay: .15s; } .typing span:nth-child(3) { animation-delay: .3s; }",
    "@keyframes blink { 0%, 80%, 100% { opacity: .3; transform: translateY(0); } 40% { opacity: 1; transform: translateY(-3px); } }",
    ".notice { margin: 0 14px 8px; padding: 8px 12px; border-radius: 10px; font-size: 12.5px; background: #fff7ed; color: #9a3412; border: 1px solid #fed7aa; }",
    ".notice[hidden] { display: none; }",
    ".composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid #eef0f3; background: #fff; }",
    ".composer textarea { flex: 1; resize: none; border: 1px solid #e5e7eb; border-radius: 12px; padding: 10px 12px; font: inherit; color: #111827; max-height: 120px; min-height: 42px; line-height: 1.4; background: #fff; }",
    ".composer textarea:focus { outline: none; border-color: var(--accent); box-shadow: 0 0 0 3px rgba(99, 102, 241, .15); }",
    ".send { width: 42px; height: 42px; border-radius: 12px; border: 0; background: var(--accent); color: var(--on-accent); display: grid; place-items: center; cursor: pointer; flex: none; }",
    ".send:disabled { opacity: .45; cursor: default; }",
    ".foot { display: flex; align-items: center; justify-content: space-between; padding: 0 14px 10px; background: #fff; font-size: 12px; color: #9ca3af; }",
    ".human { border: 0; background: transparent; color: #4b5563; cursor: pointer; display: inline-flex; align-items: center; gap: 5px; padding: 4px 6px; border-radius: 8px; font-size: 12.5px; font-weight: 600; }",
    ".ask-human { border: 1px solid #d1d5db; background: #fff; color: #374151; cursor: pointer; display: inline-flex; align-items: center; gap: 5px; padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; }",
    ".ask-human:hover { border-color: var(--accent); color: var(--accent); }",
    ".human:hover { background: #f3f4f6; color: #111827; }",
    ".human[hidden] { display: none; }",
    "@media (prefers-reduced-motion: reduce) { .panel, .typing span { animation: none; } .launcher, .messages { transition: none; scroll-behavior: auto; } }",
    "@media (max-width: 480px) {",
    "  .panel { right: 0; bottom: 0; left: 0; top: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; }",
    "  .launcher.open { display: none; }",
    "  .composer textarea { font-size: 16px; }",
    "}"
  ].join("\n");

  // ------------------------------------------------------------------ network
  function request(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    options.credentials = "omit";
    options.mode = "cors";
    return fetch(API + path, options);
  }
  function postJSON(path, body) {
    return request(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  function friendlyError(response) {
    if (response.status === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "", 10);
      return Promise.resolve("You're sending messages a little too fast. Please wait " +
        (wait > 0 && wait < 600 ? wait + " seconds" : "a moment") + " and try again.");
    }
    return response.json().then(function (body) {
      return (body && body.error && body.error.message) || "Something went wrong. Please try again.";
    }, function () { return "Something went wrong. Please try again."; });
  }
  var OFFLINE = "We couldn't reach the chat service. Check your connection and try again.";

  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function dispatch(raw) {
      var event = "message", data = [];
      raw.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) event = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
      });
      if (!data.length) return;
      var payload;
      try { payload = JSON.parse(data.join("\n")); } catch (e) { return; }
      onEvent(event, payload);
    }
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
      var index;
      while ((index = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, index));
        buffer = buffer.slice(index + 2);
      }
    }
    if (buffer.trim()) dispatch(buffer);
  }

  // ------------------------------------------------------------------ rendering
  function scrollDown() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function sourcesList(sources) {
    var seen = {}, out = [];
    (sources || []).forEach(function (s) {
      var label = (s.title || "Document") + (s.page ? " \u00b7 p. " + s.page : "");
      var url = /^https?:\/\//i.test(s.url || "") ? s.url : "";
      if (!seen[label + url]) { seen[label + url] = true; out.push({ label: label, url: url }); }
    });
    return out;
  }

  function addRow(message) {
    var role = message.role;
    if (role === "system") {
      var note = el("div", "system", message.content);
      note.setAttribute("data-role", "system");
      if (message.id) note.setAttribute("data-id", message.id);
      ui.messages.appendChild(note);
      scrollDown();
      return { el: note };
    }
    var row = el("div", "row " + role);
    row.setAttribute("data-role", role);
    if (message.id) row.setAttribute("data-id", message.id);
    if (role === "staff") row.appendChild(el("div", "label", (state.config && state.config.company_name ? state.config.company_name + " team" : "Support team")));
    var bubble = el("div", "bubble");
    row.appendChild(bubble);
    var meta = el("div", "meta");
    ui.messages.appendChild(row);
    var api = {
      el: row,
      update: function (text) {
        if (role === "customer") bubble.textContent = text;
        else renderMarkdown(bubble, text);
        scrollDown();
      },
      finish: function (m) {
        if (m.id) row.setAttribute("data-id", m.id);
        api.update(m.content || "");
        while (meta.firstChild) meta.removeChild(meta.firstChild);
        sourcesList(m.sources).forEach(function (source) {
          var chip = el(source.url ? "a" : "span", "source");
          if (source.url) {
            chip.href = source.url;
            chip.target = "_blank";
            chip.rel = "noopener noreferrer";
          }
          chip.appendChild(icon("file", 12));
          chip.appendChild(document.createTextNode(source.label));
          chip.title = source.url || source.label;
          meta.appendChild(chip);
        });
        if (role === "assistant" && m.id) {
          ["up", "down"].forEach(function (value) {
            var button = el("button", "vote" + (m.feedback === value ? " active" : ""));
            button.type = "button";
            button.setAttribute("data-vote", value);
            button.setAttribute("aria-label", value === "up" ? "Helpful" : "Not helpful");
            button.title = value === "up" ? "Helpful" : "Not helpful";
            button.appendChild(icon(value === "up" ? "up" : "downvote", 14));
            button.addEventListener("click", function () { vote(m.id, value, meta); });
            meta.appendChild(button);
          });
        }
        if (role === "assistant" && m.id && m.answered === false && state.status !== "handed_off") {
          var ask = el("button", "ask-human");
          ask.type = "button";
          ask.appendChild(icon("person", 13));
          ask.appendChild(document.createTextNode("Talk to a person"));
          ask.addEventListener("click", askForHuman);
          meta.appendChild(ask);
        }
        if (meta.childNodes.length && !meta.parentNode) row.appendChild(meta);
        scrollDown();
      },
      fail: function () { row.classList.add("failed"); },
      remove: function () { if (row.parentNode) row.parentNode.removeChild(row); }
    };
    api.update(message.content || "");
    return api;
  }

  function renderMessage(message) {
    if (message.id) state.seen[message.id] = true;
    var row = addRow(message);
    if (row.finish) row.finish(message);
    return row;
  }

  var typingRow = null;
  function showTyping() {
    if (typingRow) return;
    typingRow = el("div", "row assistant");
    var dots = el("div", "typing");
    dots.setAttribute("aria-label", "The assistant is typing");
    dots.appendChild(el("span")); dots.appendChild(el("span")); dots.appendChild(el("span"));
    typingRow.appendChild(dots);
    ui.messages.appendChild(typingRow);
    scrollDown();
  }
  function hideTyping() {
    if (typingRow && typingRow.parentNode) typingRow.parentNode.removeChild(typingRow);
    typingRow = null;
  }

  function notice(text) {
    ui.notice.textContent = text || "";
    ui.notice.hidden = !text;
  }

  function setStatus(status) {
    if (!status) return;
    state.status = status;
    var human = status === "handed_off";
    ui.subtitle.textContent = human ? "You're chatting with our team" : "AI assistant \u00b7 replies instantly";
    ui.human.hidden = human;
    ui.footNote.textContent = human ? "A person from our team is handling this chat"
      : "Answers from " + ((state.config && state.config.company_name) || "our") + " docs";
    if (human) {
      Array.prototype.forEach.call(ui.messages.querySelectorAll(".ask-human"), function (button) {
        button.parentNode.removeChild(button);
      });
    }
  }

  function setUnread(n) {
    state.unread = n;
    ui.badge.textContent = String(n);
    ui.badge.hidden = !n;
  }

  function setSession(id) {
    if (id && id !== state.session) {
      state.session = id;
      writeStore();
    }
  }

  // ------------------------------------------------------------------ actions
  async function send(text) {
    text = text.trim();
    if (!text || state.busy) return;
    if (text.length > MAX_LENGTH) { notice("Your message is too long. Please shorten it."); return; }
    state.busy = true;
    notice("");
    updateComposer();
    var mine = addRow({ role: "customer", content: text });
    var answer = null, acc = "", deltas = 0;
    showTyping();
    try {
      var body = { message: text };
      if (state.session) body.session_id = state.session;
      var response = await postJSON("/messages", body);
      if (!response.ok) {
        mine.fail();
        notice(await friendlyError(response));
        return;
      }
      await readEvents(response, function (event, data) {
        if (event === "start") {
          setSession(data.session_id);
          state.seen[data.message_id] = true;
          mine.el.setAttribute("data-id", data.message_id);
        } else if (event === "delta") {
          if (!answer) { hideTyping(); answer = addRow({ role: "assistant", content: "" }); }
          acc += data.text || "";
          deltas += 1;
          answer.el.setAttribute("data-deltas", String(deltas));
          answer.update(acc);
        } else if (event === "done") {
          hideTyping();
          if (data.reply_id) {
            state.seen[data.reply_id] = true;
            if (!answer) answer = addRow({ role: "assistant", content: "" });
            answer.finish({ id: data.reply_id, content: data.response, sources: data.sources,
                            answered: data.answered });
          } else if (answer) {
            answer.remove();
          }
          if (data.handed_off) setStatus("handed_off");
        } else if (event === "error") {
          hideTyping();
          if (answer) answer.remove();
          notice(data.message || "The assistant is unavailable right now. Please try again shortly.");
        }
      });
    } catch (error) {
      mine.fail();
      notice(OFFLINE);
    } finally {
      hideTyping();
      state.busy = false;
      updateComposer();
      schedulePoll(POLL_MS);
    }
  }

  async function vote(messageId, value, meta) {
    try {
      var response = await postJSON("/feedback", { session_id: state.session, message_id: messageId, value: value });
      if (!response.ok) { notice(await friendlyError(response)); return; }
      Array.prototype.forEach.call(meta.querySelectorAll(".vote"), function (button) {
        button.classList.toggle("active", button.getAttribute("data-vote") === value);
      });
    } catch (error) { notice(OFFLINE); }
  }

  async function askForHuman() {
    if (state.busy) return;
    ui.human.disabled = true;
    try {
      var body = {};
      if (state.session) body.session_id = state.session;
      var response = await postJSON("/handoff", body);
      if (!response.ok) { notice(await friendlyError(response)); return; }
      var data = await response.json();
      setSession(data.session_id);
      if (data.message && !state.seen[data.message.id]) renderMessage(data.message);
      setStatus(data.status);
      notice("");
      schedulePoll(POLL_MS);
    } catch (error) {
      notice(OFFLINE);
    } finally {
      ui.human.disabled = false;
    }
  }

  async function poll() {
    state.pollTimer = null;
    if (!state.session || state.busy) { schedulePoll(POLL_MS); return; }
    try {
      var url = "/messages?session_id=" + encodeURIComponent(state.session) +
        (state.lastId ? "&after=" + encodeURIComponent(state.lastId) : "");
      var response = await request(url);
      if (response.ok) {
        var data = await response.json();
        if (!state.busy) {
          var fresh = 0;
          data.messages.forEach(function (m) {
            state.lastId = m.id;
            if (state.seen[m.id]) return;
            renderMessage(m);
            if (m.role !== "customer") fresh += 1;
          });
          if (fresh && !state.open) setUnread(state.unread + fresh);
          setStatus(data.status);
        }
      }
    } catch (error) { /* offline: try again later */ }
    schedulePoll(document.hidden ? POLL_MS * 4 : POLL_MS);
  }

  function schedulePoll(delay) {
    if (state.pollTimer) clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, delay);
  }

  function updateComposer() {
    ui.send.disabled = state.busy || !ui.input.value.trim();
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function setOpen(open) {
    state.open = open;
    ui.panel.hidden = !open;
    ui.launcher.classList.toggle("open", open);
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    ui.launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    ui.launcher.replaceChild(icon(open ? "down" : "chat", 26), ui.launcher.firstChild);
    writeStore();
    if (open) {
      setUnread(0);
      scrollDown();
      setTimeout(function () { ui.input.focus(); }, 30);
    }
  }

  // ------------------------------------------------------------------ building the widget
  function contrastColor(hex) {
    var m = /^#([0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return "#ffffff";
    var n = parseInt(m[1], 16);
    var luminance = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
    return luminance > 0.65 ? "#111827" : "#ffffff";
  }

  function build(config) {
    var host = el("div");
    host.id = "support-widget";
    host.setAttribute("data-widget-key", KEY);
    var shadow = host.attachShadow({ mode: "open" });
    var style = el("style");
    style.textContent = CSS;
    shadow.appendChild(style);
    var root = el("div", "root");
    var color = /^#[0-9a-f]{6}$/i.test(config.color || "") ? config.color : "#4f46e5";
    root.style.setProperty("--accent", color);
    root.style.setProperty("--on-accent", contrastColor(color));
    shadow.appendChild(root);

    ui.launcher = el("button", "launcher");
    ui.launcher.type = "button";
    ui.launcher.appendChild(icon("chat", 26));
    ui.badge = el("span", "badge", "0");
    ui.badge.hidden = true;
    ui.launcher.appendChild(ui.badge);

    ui.panel = el("section", "panel");
    ui.panel.setAttribute("role", "dialog");
    ui.panel.setAttribute("aria-label", config.title || "Chat");
    ui.panel.hidden = true;

    var head = el("div", "head");
    var avatar = el("div", "avatar");
    avatar.appendChild(icon("chat", 20));
    var titles = el("div", "grow");
    titles.appendChild(el("div", "title", config.title || "Support"));
    ui.subtitle = el("div", "subtitle", "AI assistant \u00b7 replies instantly");
    titles.appendChild(ui.subtitle);
    var close = el("button", "icon-btn");
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    close.appendChild(icon("close", 20));
    head.appendChild(avatar); head.appendChild(titles); head.appendChild(close);

    ui.messages = el("div", "messages");
    ui.messages.setAttribute("role", "log");
    ui.messages.setAttribute("aria-live", "polite");
    if (config.greeting) addRow({ role: "assistant", content: config.greeting }).el.classList.add("greeting");

    ui.notice = el("div", "notice");
    ui.notice.setAttribute("role", "alert");
    ui.notice.hidden = true;

    var form = el("form", "composer");
    ui.input = el("textarea");
    ui.input.rows = 1;
    ui.input.maxLength = MAX_LENGTH;
    ui.input.placeholder = "Type your message\u2026";
    ui.input.setAttribute("aria-label", "Your message");
    ui.send = el("button", "send");
    ui.send.type = "submit";
    ui.send.setAttribute("aria-label", "Send");
    ui.send.appendChild(icon("send", 18));
    ui.send.disabled = true;
    form.appendChild(ui.input); form.appendChild(ui.send);

    var foot = el("div", "foot");
    ui.human = el("button", "human");
    ui.human.type = "button";
    ui.human.appendChild(icon("person", 14));
    ui.human.appendChild(document.createTextNode("Talk to a human"));
    foot.appendChild(ui.human);
    ui.footNote = el("span", "foot-note", "Answers from " + (config.company_name || "our") + " docs");
    foot.appendChild(ui.footNote);

    ui.panel.appendChild(head);
    ui.panel.appendChild(ui.messages);
    ui.panel.appendChild(ui.notice);
    ui.panel.appendChild(form);
    ui.panel.appendChild(foot);
    root.appendChild(ui.panel);
    root.appendChild(ui.launcher);
    document.body.appendChild(host);

    ui.launcher.addEventListener("click", function () { setOpen(!state.open); });
    close.addEventListener("click", function () { setOpen(false); ui.launcher.focus(); });
    ui.human.addEventListener("click", askForHuman);
    ui.input.addEventListener("input", function () { autosize(); updateComposer(); });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (!ui.send.disabled) form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = ui.input.value;
      if (!text.trim() || state.busy) return;
      ui.input.value = "";
      autosize();
      send(text);
    });
    ui.panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { setOpen(false); ui.launcher.focus(); }
    });
  }

  async function loadHistory() {
    if (!state.session) return;
    try {
      var response = await request("/messages?session_id=" + encodeURIComponent(state.session));
      if (!response.ok) return;
      var data = await response.json();
      if (data.status === null) { state.session = null; writeStore(); return; }
      data.messages.forEach(function (m) { state.lastId = m.id; renderMessage(m); });
      setStatus(data.status);
    } catch (error) { /* shown as empty; polling retries */ }
  }

  async function start() {
    if (state.started) return;
    state.started = true;
    var saved = readStore();
    state.session = typeof saved.session_id === "string" ? saved.session_id : null;
    var response;
    try {
      response = await request("/config");
    } catch (error) {
      console.warn("Support widget: this website is not allowed to use the chat widget, or the server is unreachable.");
      return;
    }
    if (!response.ok) {
      console.warn("Support widget: " + await friendlyError(response));
      return;
    }
    state.config = await response.json();
    build(state.config);
    await loadHistory();
    setOpen(!!saved.open);
    window.__supportWidget.ready = true;
    host().setAttribute("data-ready", "true");
    schedulePoll(POLL_MS);
  }

  function host() { return document.getElementById("support-widget"); }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
