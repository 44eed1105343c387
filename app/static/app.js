// The ragqa chat page: streams answers from /api/ask and manages /api/documents.
// Model output and document text only ever reach the page through textContent.
"use strict";

const HISTORY_TURNS = 3; // question/answer pairs sent back as context
const KEY_NAME = "ragqa.apiKey";
const ANSWER_MODE_NAME = "ragqa.answerMode"; // remembered across visits: a preference, not a secret
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
  // done repeats the list the stream sent: keep it, and any sentence marked in it, as it is.
  const key = JSON.stringify([title, sources.map((s) => [s.n, s.chunk_id, s.text.length])]);
  if (container.dataset.key === key) return;
  container.dataset.key = key;
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

// Answer text with each [n] that names a shown source turned into a link to it. `spans`
// (answer offsets, in order) wrap checked sentences: a link inside one marks the source
// sentence that supports it, and an unsupported one (policy "mark") is styled as such.
function renderAnswer(node, text, turn, sources, spans = []) {
  const known = new Set(sources.map((s) => s.n));
  node.replaceChildren();
  let last = 0;
  for (const span of spans) {
    if (span.start < last) continue;
    appendCited(node, text.slice(last, span.start), turn, known);
    const wrap = el("span", span.className);
    if (span.title) wrap.title = span.title;
    appendCited(wrap, text.slice(span.start, span.end), turn, known, span);
    node.append(wrap);
    last = span.end;
  }
  appendCited(node, text.slice(last), turn, known);
  if (hangul.test(text)) node.lang = "ko";
}

function appendCited(node, text, turn, known, span = null) {
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (!known.has(n)) continue;
    node.append(text.slice(last, match.index));
    const exact = span && span.source === n && span.sourceStart != null;
    node.append(
      citeLink(turn, n, exact ? { start: span.sourceStart, end: span.sourceEnd } : null),
    );
    last = match.index + match[0].length;
  }
  node.append(text.slice(last));
}

// A [n] link to source n; given a sentence's offsets in it, it marks that sentence there.
function citeLink(turn, n, sentence = null, label = `Source ${n}`) {
  const link = el("a", "cite", `[${n}]`);
  link.href = `#src-${turn}-${n}`;
  link.setAttribute("aria-label", label);
  link.addEventListener("click", (e) => {
    e.preventDefault();
    const card = document.getElementById(`src-${turn}-${n}`);
    if (sentence) showSentence(card, sentence);
    else jumpTo(card);
  });
  return link;
}

function jumpTo(card, target = card) {
  if (!card) return;
  document.querySelectorAll(".source-card.highlight").forEach((c) => c.classList.remove("highlight"));
  card.classList.add("highlight");
  target.scrollIntoView({ behavior: "smooth", block: "center" });
  card.focus({ preventScroll: true });
}

// Marks one sentence inside its source passage (opened in full) and scrolls to it.
// `start`/`end` are the server's offsets (code points) in the source text; `text`, when
// known, is the sentence itself, looked for instead if the offsets do not hold it.
function showSentence(card, { start, end, text = null }) {
  if (!card) return;
  document.querySelectorAll(".passage mark").forEach((m) => {
    const passage = m.closest(".passage");
    passage.textContent = passage.textContent;
  });
  const passage = card.querySelector(".passage");
  const whole = passage.textContent; // the source text, single newlines shown as spaces
  let range = codeUnits(whole, start, end);
  if (text && (!range || squash(whole.slice(...range)) !== squash(text))) {
    range = locate(whole, text, 0) || range;
  }
  if (!range) return jumpTo(card);
  const mark = el("mark", "quoted", whole.slice(...range));
  passage.replaceChildren(whole.slice(0, range[0]), mark, whole.slice(range[1]));
  if (passage.classList.contains("clamped")) {
    passage.classList.remove("clamped");
    const toggle = card.querySelector(".link-button");
    if (toggle) {
      toggle.textContent = "Show less";
      toggle.setAttribute("aria-expanded", "true");
    }
  }
  jumpTo(card, mark);
}

const squash = (text) => text.replace(/\s+/g, " ").trim();

// Python counts code points, JavaScript UTF-16 units: they differ only past U+FFFF.
function codeUnits(text, start, end) {
  if (start == null || end == null || start < 0 || end <= start) return null;
  if (!/[\ud800-\udfff]/.test(text)) return end <= text.length ? [start, end] : null;
  const points = Array.from(text);
  if (end > points.length) return null;
  const a = points.slice(0, start).join("").length;
  return [a, a + points.slice(start, end).join("").length];
}

// Where `sentence` is in `text` from `from` on, as [start, end], whatever the spacing and
// the [n] markers between its words (citations are moved and corrected by the check).
function locate(text, sentence, from) {
  const tokens = sentence.replace(/\[\d+\]/g, " ").match(/[^\s.,;:!?。]+|[.,;:!?。]/g);
  if (!tokens) return null;
  const escape = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(tokens.map(escape).join("(?:\\s|\\[\\d+\\])*"), "g");
  pattern.lastIndex = from;
  const match = pattern.exec(text);
  if (!match) return null;
  let end = match.index + match[0].length;
  const trailing = /^(?:\s*\[\d+\])+/.exec(text.slice(end)); // the sentence's own [n]
  if (trailing) end += trailing[0].length;
  return [match.index, end];
}

// A turn: the question, a status line, the quoted sentences, the generated answer (its
// own block, never styled as a quotation), the timings and the sources.
function addTurn(question, answerMode) {
  $("#empty").hidden = true;
  const turn = ++turnCount;
  const item = el("li", "turn");
  const status = el("p", "status", "Searching your documents…");
  const quotes = el("section", "quotes");
  quotes.hidden = true;
  const generated = el("section", "generated");
  generated.hidden = true;
  const head = el("div", "block-head");
  const label = el("h3", "block-title", "Generated answer — checked against the sources");
  label.id = `generated-${turn}`;
  generated.setAttribute("aria-labelledby", label.id);
  const writing = el("span", "writing", "writing…");
  writing.hidden = true;
  head.append(label, writing);
  const answer = el("div", "answer pending");
  answer.setAttribute("aria-busy", "true");
  const notes = el("div", "answer-notes");
  generated.append(head, answer, notes);
  const sources = el("section", "sources");
  const meta = el("p", "meta");
  // Timings and Copy sit under the answer they belong to, not after the source cards.
  item.append(el("p", "question", question), status, quotes, generated, meta, sources);
  $("#log").append(item);
  item.scrollIntoView({ behavior: "smooth", block: "end" });
  return {
    turn, item, answer, status, quotes, generated, label, writing, notes, sources, meta, answerMode,
  };
}

// The sources' own sentences that answer the question, each with a link that marks it in
// its source. Shown as a quotation: they are the documents' words, not the model's.
function renderQuotes(t, quotes) {
  t.quotes.replaceChildren();
  t.quoteCount = quotes.length;
  t.quotes.hidden = !quotes.length;
  if (!quotes.length) return;
  const title = el("h3", "block-title", "From your documents");
  title.id = `quotes-${t.turn}`;
  title.append(el("span", "block-note", " · quoted word for word"));
  t.quotes.setAttribute("aria-labelledby", title.id);
  const list = el("ol", "quote-list");
  for (const q of quotes) {
    const item = el("li", "quote");
    const words = el("q", "quote-text");
    setText(words, q.text.replace(/\s+/g, " ").trim());
    const sentence = { start: q.start, end: q.end, text: q.text };
    const link = citeLink(t.turn, q.n, sentence, `Show this sentence in source ${q.n}`);
    item.append(words, "\u00a0", link); // the [n] never wraps onto a line of its own
    list.append(item);
  }
  const block = el("blockquote", "quote-block");
  block.append(list);
  t.quotes.append(title, block);
}

// Where each checked sentence of `text` is, for renderAnswer: the ones shown, in order.
function supportSpans(text, support) {
  const spans = [];
  if (!support || !support.checked) return spans;
  let from = 0;
  for (const s of support.sentences || []) {
    if (!s.shown || !s.claim) continue;
    const range = locate(text, s.text, from);
    if (!range) continue;
    const unsupported = !s.supported;
    spans.push({
      start: range[0],
      end: range[1],
      className: unsupported ? "unsupported" : "checked",
      title: unsupported ? `Not supported by the sources: ${s.reason || "no source says this"}` : "",
      source: s.source,
      sourceStart: s.source_start,
      sourceEnd: s.source_end,
    });
    from = range[1];
  }
  return spans;
}

// "4 of 4 sentences supported", the sentences left out and why (behind a toggle), and
// what was marked: the check's findings under the generated answer.
function renderSupport(t, support, made) {
  if (!support || !support.checked) return;
  const claims = (support.sentences || []).filter((s) => s.claim);
  const supported = claims.filter((s) => s.supported).length;
  if (made === "generated" && claims.length) {
    const line = el("p", "support-line");
    line.classList.add(supported === claims.length ? "all" : "some");
    let words = `${supported} of ${plural(claims.length, "sentence")} supported by the sources`;
    const marked = claims.filter((s) => s.shown && !s.supported).length;
    if (marked) words += ` · ${marked} marked as not supported`;
    setText(line, words);
    t.notes.append(line);
  }
  const left = claims.filter((s) => !s.shown && !s.supported);
  if (!left.length) return;
  const toggle = el("button", "link-button left-out-toggle");
  toggle.type = "button";
  const list = el("ul", "left-out");
  list.id = `left-out-${t.turn}`;
  list.hidden = true;
  toggle.setAttribute("aria-controls", list.id);
  const say = (open) => {
    const n = left.length;
    const what = `${n === 1 ? "sentence" : "sentences"} left out, with why`;
    toggle.textContent = `${n} ${what} — ${open ? "hide" : "show"}`;
    toggle.setAttribute("aria-expanded", String(open));
  };
  say(false);
  toggle.addEventListener("click", () => {
    list.hidden = !list.hidden;
    say(!list.hidden);
  });
  for (const s of left) {
    const item = el("li", "left-out-item");
    item.append(el("span", "visually-hidden", "Not supported: "));
    const words = el("s", "left-out-text");
    setText(words, s.text.replace(/\s+/g, " ").trim());
    const reason = el("span", "reason");
    setText(reason, s.reason || "no source says this");
    item.append(words, reason);
    list.append(item);
  }
  t.notes.append(toggle, list);
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
  t.writing.hidden = true;
  if (result.stopped || result.error) {
    t.status.hidden = false;
    if (!t.answer.textContent) t.generated.hidden = true; // an empty "Generated answer"
  }
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
  // Servers before answer modes sent neither answer_mode nor quotes.
  const made = a.answer_mode || (a.grounded === false ? "not_found" : "generated");
  renderSources(t.sources, a.sources, t.turn, a.grounded === false ? "Closest passages" : "Sources");
  if (Array.isArray(a.quotes)) renderQuotes(t, a.quotes);
  const quoted = (t.quoteCount || 0) > 0;
  t.notes.replaceChildren();
  t.label.hidden = false;
  t.generated.hidden = false;
  if (made === "extracted" && quoted) {
    // The quotes above are the answer: never the same text twice.
    t.answer.replaceChildren();
    if (t.answerMode === "extract") t.generated.hidden = true;
    else {
      const notice = el("p", "answer-notice");
      notice.textContent =
        "Nothing the model wrote both answers the question and is backed by the sources; showing the quoted sentences instead.";
      t.notes.append(notice);
    }
  } else {
    const spans = made === "generated" ? supportSpans(a.answer, a.support) : [];
    renderAnswer(t.answer, a.answer, t.turn, a.sources, spans);
    if (made === "generated") {
      const checked = a.support && a.support.checked;
      t.label.textContent = checked
        ? "Generated answer — checked against the sources"
        : "Generated answer — not checked against the sources";
    } else if (made === "extracted") {
      t.label.textContent = "From your documents — quoted";
    } else {
      t.label.hidden = true; // "not found" is the service speaking, not a generated answer
    }
  }
  renderSupport(t, a.support, made);
  if (made === "not_found" && (Array.isArray(a.quotes) || t.quoteCount != null)) {
    t.quotes.hidden = false;
    t.quotes.replaceChildren(el("p", "no-quotes", "No sentence in the sources answers this."));
  }
  if (a.grounded === false) {
    t.item.classList.add("not-found");
    t.status.hidden = false;
    t.status.className = "status notice";
    t.status.textContent = "Not found in your documents.";
  } else {
    t.status.remove();
  }
  const timings = a.timings || {};
  // No model name on an answer no model wrote.
  const wrote = made === "generated" || timings.generate_ms;
  const parts = [wrote ? a.model : made === "extracted" ? "quoted from the sources" : null];
  if (timings.translate_ms != null) parts.push(`translate ${duration(timings.translate_ms)}`);
  if (timings.retrieve_ms != null) parts.push(`retrieve ${duration(timings.retrieve_ms)}`);
  if (timings.extract_ms != null) parts.push(`quotes ${duration(timings.extract_ms)}`);
  if (timings.generate_ms) parts.push(`generate ${duration(timings.generate_ms)}`);
  t.meta.replaceChildren(el("span", "timings", parts.filter(Boolean).join(" · ")), copyButton(a.answer));
  history.push({ role: "user", content: t.question }, { role: "assistant", content: a.answer });
}

// `signal` aborts the request: the Stop button, Escape, New chat.
async function ask(question, signal) {
  const answerMode = $("#answer-mode").value;
  const t = addTurn(question, answerMode);
  t.question = question;
  const topK = Math.min(20, Math.max(1, Number($("#top-k").value) || 5));
  const body = {
    question,
    top_k: topK,
    mode: $("#mode").value,
    answer_mode: answerMode,
    history: history.slice(-2 * HISTORY_TURNS),
    stream: true,
  };
  let streamed = "";
  let checked = false; // after the support event, a token is the fallback, not the model's
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
        if (answerMode === "extract") {
          t.status.textContent = "Quoting your documents…";
        } else {
          t.status.textContent = "Writing the answer…";
          t.generated.hidden = false;
          t.writing.hidden = false;
        }
      } else if (event === "quotes") {
        renderQuotes(t, data.quotes || []);
        if (answerMode !== "extract") t.status.hidden = true; // the answer block says "writing…"
      } else if (event === "support") {
        checked = true;
      } else if (event === "token") {
        if (answerMode === "extract" || checked) continue; // done brings the answer
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
  const answerMode = $("#answer-mode");
  try {
    const saved = localStorage.getItem(ANSWER_MODE_NAME);
    if ([...answerMode.options].some((o) => o.value === saved)) answerMode.value = saved;
  } catch {} // storage blocked: the default stands
  answerMode.addEventListener("change", () => {
    try {
      localStorage.setItem(ANSWER_MODE_NAME, answerMode.value);
    } catch {}
  });
  $("#forget-key").hidden = !storedKey();
  $("#question").focus();
  loadDocuments();
});
