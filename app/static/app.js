// The ragqa chat page: streams answers from /api/ask and manages /api/documents.
// Model output and document text only ever reach the page through textContent.
"use strict";

const HISTORY_TURNS = 3; // question/answer pairs sent back as context
const KEY_NAME = "ragqa.apiKey";
const $ = (sel) => document.querySelector(sel);
const hangul = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]/;
let history = [];
let turnCount = 0;
let busy = false;
let controller = null; // aborts the answer being streamed

// Long paths keep their last two parts: enough to tell two README.md files apart.
function shortPath(path) {
  const parts = String(path).split(/[\\/]/).filter(Boolean);
  return path.length > 32 && parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : path;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) setText(node, text);
  return node;
}

// Mark Korean text as such so screen readers and font fallback treat it right.
function setText(node, text) {
  node.textContent = text;
  if (hangul.test(text)) node.lang = "ko";
}

// The API key lives in sessionStorage: a reload keeps it, closing the tab forgets it.
function storedKey() {
  return sessionStorage.getItem(KEY_NAME);
}

function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
  $("#forget-key").hidden = !key;
}

// fetch with the API key when one is known. On a 401 it asks for a key and sends the
// request again; it gives the 401 back only when the person cancels the prompt.
async function api(path, options = {}) {
  for (;;) {
    const sent = storedKey();
    const headers = new Headers(options.headers || {});
    if (sent) headers.set("Authorization", `Bearer ${sent}`);
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
    const current = storedKey();
    if (current && current !== sent) continue; // a key came in while this request was out
    // No reason shown for a first prompt: "a key is required" is what the prompt says.
    const reason = sent ? await errorText(response.clone()) : "";
    if (sent) storeKey(null);
    if (!(await askForKey(reason))) return response;
  }
}

// One prompt at a time: every request that got a 401 waits on the same answer.
let keyWaiters = [];
let focusBeforePrompt = null;

function askForKey(reason) {
  const panel = $("#key-panel");
  const input = $("#api-key");
  const opening = panel.hidden;
  if (opening) {
    focusBeforePrompt = document.activeElement;
    panel.hidden = false;
    input.value = "";
  }
  // A request joining an open prompt leaves what is being typed alone.
  if (opening || reason) {
    $("#key-error").textContent = reason;
    input.setAttribute("aria-invalid", String(Boolean(reason)));
  }
  if (!panel.contains(document.activeElement)) input.focus();
  return new Promise((resolve) => keyWaiters.push(resolve));
}

function closeKeyPrompt(gotKey) {
  $("#key-panel").hidden = true;
  const waiters = keyWaiters;
  keyWaiters = [];
  waiters.forEach((resolve) => resolve(gotKey));
  const earlier = focusBeforePrompt;
  const back = earlier?.isConnected && earlier !== document.body ? earlier : $("#question");
  back.focus({ preventScroll: true });
}

// The reason a request failed, in words; a 429 says when to try again.
async function errorText(response) {
  if (response.status === 429) {
    const seconds = retryAfter(response);
    return seconds == null
      ? "Too many requests. Try again shortly."
      : `Too many requests. Try again in ${plural(seconds, "second")}.`;
  }
  try {
    const body = await response.json();
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return JSON.stringify(detail ?? body);
  } catch {
    return `${response.status} ${response.statusText}`.trim();
  }
}

// Retry-After is either a number of seconds or an HTTP date.
function retryAfter(response) {
  const value = (response.headers.get("Retry-After") || "").trim();
  if (!value) return null;
  const seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : null;
}

// One SSE frame ("event: x\ndata: {...}") as {event, data}, or null for a comment or ping.
function parseFrame(frame) {
  let event = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

// Yields {event, data} for each frame of a text/event-stream body.
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      // Normalise CRLF/CR to LF; a trailing CR waits, its LF may be in the next chunk.
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n|\r(?!$)/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const parsed = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (parsed) yield parsed;
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // also when the caller stops early, at done or error
  }
}

function renderSources(container, sources, turn, title = "Sources") {
  container.replaceChildren();
  if (!sources.length) return;
  container.append(el("h3", "sources-title", title));
  const list = el("ol", "source-list");
  for (const s of sources) {
    const card = el("li", "source-card");
    card.id = `src-${turn}-${s.n}`;
    card.tabIndex = -1;
    const head = el("div", "source-head");
    const where = s.source || s.document_id;
    head.append(el("span", "source-n", `[${s.n}]`), el("span", "source-name", s.title || shortPath(where)));
    if (s.title) head.append(el("span", "source-path", shortPath(where)));
    head.title = where;
    // Source files are often hard-wrapped: single newlines flow, blank lines stay paragraphs.
    const passage = el("p", "passage", s.text.replace(/(?<!\n)\n(?!\n)/g, " "));
    card.append(head, passage);
    if (s.text.length > 320) {
      passage.classList.add("clamped");
      const toggle = el("button", "link-button", "Show more");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      toggle.addEventListener("click", () => {
        const open = passage.classList.toggle("clamped") === false;
        toggle.textContent = open ? "Show less" : "Show more";
        toggle.setAttribute("aria-expanded", String(open));
      });
      card.append(toggle);
    }
    list.append(card);
  }
  container.append(list);
}

// Answer text with each [n] that names a shown source turned into a link to it.
function renderAnswer(node, text, turn, sources) {
  const known = new Set(sources.map((s) => s.n));
  node.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (!known.has(n)) continue;
    node.append(text.slice(last, match.index));
    const link = el("a", "cite", `[${n}]`);
    link.href = `#src-${turn}-${n}`;
    link.setAttribute("aria-label", `Source ${n}`);
    link.addEventListener("click", (e) => {
      e.preventDefault();
      jumpTo(document.getElementById(`src-${turn}-${n}`));
    });
    node.append(link);
    last = match.index + match[0].length;
  }
  node.append(text.slice(last));
  if (hangul.test(text)) node.lang = "ko";
}

function jumpTo(card) {
  if (!card) return;
  document.querySelectorAll(".source-card.highlight").forEach((c) => c.classList.remove("highlight"));
  card.classList.add("highlight");
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  card.focus({ preventScroll: true });
}

function addTurn(question) {
  $("#empty").hidden = true;
  const turn = ++turnCount;
  const item = el("li", "turn");
  const answer = el("div", "answer pending");
  answer.setAttribute("aria-busy", "true");
  const status = el("p", "status", "Searching your documents…");
  const sources = el("section", "sources");
  const meta = el("p", "meta");
  item.append(el("p", "question", question), status, answer, sources, meta);
  $("#log").append(item);
  item.scrollIntoView({ behavior: "smooth", block: "end" });
  return { turn, item, answer, status, sources, meta };
}

// "12 ms" under a second, "1.4 s" above.
function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function copyButton(text) {
  const button = el("button", "ghost copy", "Copy answer");
  button.type = "button";
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => (button.textContent = "Copy answer"), 2000);
  });
  return button;
}

function finish(t, result) {
  t.answer.classList.remove("pending");
  t.answer.removeAttribute("aria-busy");
  if (result.stopped) {
    // What came so far stays readable; the question still counts for follow-ups.
    t.status.className = "status stopped";
    t.status.textContent = "Stopped.";
    if (!t.item.isConnected) return; // stopped by New chat: not part of the new one
    history.push({ role: "user", content: t.question });
    if (result.partial) history.push({ role: "assistant", content: result.partial });
    return;
  }
  if (result.error) {
    t.status.className = "status error";
    t.status.textContent = result.error;
    return;
  }
  const a = result.answer;
  renderSources(t.sources, a.sources, t.turn, a.grounded === false ? "Closest passages" : "Sources");
  renderAnswer(t.answer, a.answer, t.turn, a.sources);
  if (a.grounded === false) {
    t.item.classList.add("not-found");
    t.status.className = "status notice";
    t.status.textContent = "Not found in your documents.";
  } else {
    t.status.remove();
  }
  const timings = a.timings || {};
  const parts = [a.model];
  if (timings.retrieve_ms != null) parts.push(`retrieve ${duration(timings.retrieve_ms)}`);
  if (timings.generate_ms) parts.push(`generate ${duration(timings.generate_ms)}`);
  t.meta.replaceChildren(el("span", "timings", parts.filter(Boolean).join(" · ")), copyButton(a.answer));
  history.push({ role: "user", content: t.question }, { role: "assistant", content: a.answer });
}

// `signal` aborts the request: the Stop button, Escape, New chat.
async function ask(question, signal) {
  const t = addTurn(question);
  t.question = question;
  const topK = Math.min(20, Math.max(1, Number($("#top-k").value) || 5));
  const body = {
    question,
    top_k: topK,
    mode: $("#mode").value,
    history: history.slice(-2 * HISTORY_TURNS),
    stream: true,
  };
  let streamed = "";
  try {
    const response = await api("api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) return finish(t, { error: await errorText(response) });
    if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      return finish(t, { answer: await response.json() });
    }
    for await (const { event, data } of readEvents(response)) {
      if (event === "sources") {
        renderSources(t.sources, data.sources, t.turn);
        t.status.textContent = "Writing the answer…";
      } else if (event === "token") {
        streamed += data.text;
        setText(t.answer, streamed);
      } else if (event === "done") {
        return finish(t, { answer: data });
      } else if (event === "error") {
        return finish(t, { error: data.detail || "The answer failed." });
      }
    }
    finish(t, { error: "The connection closed before the answer was complete." });
  } catch (err) {
    // Closing the connection is what stops the server generating.
    if (signal.aborted) finish(t, { stopped: true, partial: streamed });
    else finish(t, { error: `The request failed: ${err.message}` });
  }
}

async function loadDocuments() {
  const error = $("#doc-error");
  try {
    const response = await api("api/documents?limit=200");
    if (!response.ok) throw new Error(await errorText(response));
    const { documents, total } = await response.json();
    const list = $("#doc-list");
    list.replaceChildren();
    for (const doc of documents) {
      const item = el("li", "doc");
      item.dataset.id = doc.id;
      const name = el("span", "doc-name", doc.title || shortPath(doc.source || doc.id));
      name.title = doc.source || doc.id;
      const del = el("button", "ghost danger", "Delete");
      del.type = "button";
      del.setAttribute("aria-label", `Delete ${doc.source || doc.id}`);
      del.addEventListener("click", () => deleteDocument(doc));
      item.append(name, el("span", "muted", plural(doc.chunks, "chunk")), del);
      list.append(item);
    }
    if (!documents.length) list.append(el("li", "muted", "No documents yet."));
    $("#doc-total").textContent = total ? `(${total})` : "";
    error.hidden = true;
  } catch (err) {
    error.textContent = `Could not list documents: ${err.message}`;
    error.hidden = false;
  }
}

async function deleteDocument(doc) {
  if (!window.confirm(`Delete "${doc.source || doc.id}" from the index?`)) return;
  let problem = null;
  try {
    const response = await api(`api/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
    if (!response.ok && response.status !== 404) problem = await errorText(response);
  } catch (err) {
    problem = err.message;
  }
  await loadDocuments();
  if (problem) {
    $("#doc-error").textContent = `Could not delete: ${problem}`;
    $("#doc-error").hidden = false;
  }
}

// One request per file so each file gets its own status line.
async function upload(files) {
  const status = $("#upload-status");
  status.replaceChildren();
  for (const file of files) {
    const line = el("li", "uploading", `${file.name}: uploading…`);
    status.append(line);
    const form = new FormData();
    form.append("files", file, file.name);
    try {
      const response = await api("api/documents", { method: "POST", body: form });
      if (!response.ok) throw new Error(await errorText(response));
      const { documents } = await response.json();
      const d = documents[0] || {};
      line.className = "ok";
      setText(line, `${file.name}: ${d.status || "done"}${d.chunks != null ? ` (${plural(d.chunks, "chunk")})` : ""}`);
    } catch (err) {
      line.className = "error";
      setText(line, `${file.name}: ${err.message}`);
    }
  }
  await loadDocuments();
}

function submit() {
  const box = $("#question");
  const question = box.value.trim();
  if (!question || busy) return;
  busy = true;
  controller = new AbortController();
  $("#send").disabled = true;
  $("#stop").hidden = false;
  box.value = "";
  ask(question, controller.signal).finally(() => {
    busy = false;
    controller = null;
    $("#send").disabled = false;
    $("#stop").hidden = true;
    box.focus({ preventScroll: true });
  });
}

function stop() {
  if (controller) controller.abort();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  $("#question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  $("#file-input").addEventListener("change", (e) => {
    const files = [...e.target.files];
    e.target.value = "";
    if (files.length) upload(files);
  });
  $("#stop").addEventListener("click", stop);
  // Escape stops the answer from anywhere on the page; in the key prompt it cancels that.
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && busy && !$("#key-panel").contains(e.target)) stop();
  });
  $("#new-chat").addEventListener("click", () => {
    stop();
    history = [];
    $("#log").replaceChildren();
    $("#empty").hidden = false;
    $("#question").focus();
  });
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    storeKey(key);
    closeKeyPrompt(true);
    if (!$("#doc-error").hidden) loadDocuments(); // it gave up when the prompt was cancelled
  });
  $("#key-cancel").addEventListener("click", () => closeKeyPrompt(false));
  $("#key-panel").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeKeyPrompt(false);
  });
  $("#forget-key").addEventListener("click", () => {
    storeKey(null);
    $("#doc-list").replaceChildren();
    $("#doc-total").textContent = "";
    loadDocuments(); // on a server with keys this asks for one again
  });
  $("#forget-key").hidden = !storedKey();
  $("#question").focus();
  loadDocuments();
});
