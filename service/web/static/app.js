"use strict";
// dockfaq page: chat (streamed over SSE) and FAQ search. Everything user- or corpus-supplied is
// put in the page with textContent / createElement, never innerHTML, so no text can inject HTML.

const TEXT = {
  en: {
    brand: "dockfaq", chat: "Chat", faq: "FAQ", ask: "Ask", newChat: "New chat",
    askLabel: "Your question", askPlaceholder: "Ask about Docker images, containers, registries…",
    faqTitle: "Search the FAQ", searchLabel: "Search", searchPlaceholder: "e.g. exit code 137",
    back: "← Back to the FAQ", allTopics: "All topics", sources: "Sources", source: "Source",
    noAnswer: "No answer in the FAQ.", suggestions: "Perhaps one of these:",
    helpful: "Was this helpful?", up: "Helpful", down: "Not helpful", thanks: "Thanks!",
    copy: "Copy", copied: "Copied", error: "Something went wrong: ", noResults: "No entries found.",
    questions: "Also asked as", loading: "…",
  },
  zh: {
    brand: "dockfaq", chat: "问答", faq: "FAQ", ask: "提问", newChat: "新对话",
    askLabel: "你的问题", askPlaceholder: "问问 Docker 镜像、容器、镜像仓库…",
    faqTitle: "搜索 FAQ", searchLabel: "搜索", searchPlaceholder: "例如：退出码 137",
    back: "← 返回 FAQ", allTopics: "全部主题", sources: "引用", source: "来源",
    noAnswer: "FAQ 里没有找到答案。", suggestions: "也许这些条目有帮助：",
    helpful: "这个回答有帮助吗？", up: "有帮助", down: "没帮助", thanks: "谢谢！",
    copy: "复制", copied: "已复制", error: "出错了：", noResults: "没有找到条目。",
    questions: "常见问法", loading: "…",
  },
};
const TOPICS = {
  "image-vs-container": { en: "Images vs containers", zh: "镜像与容器" },
  "container-exits": { en: "Containers that exit", zh: "容器退出" },
  "save-load-export-import": { en: "Save, load, export, import", zh: "保存/加载/导出/导入" },
  "non-root": { en: "Non-root users", zh: "非 root 用户" },
  "base-image": { en: "Base images", zh: "基础镜像" },
  "image-registry": { en: "Images and registries", zh: "镜像与仓库" },
};

const browserLang = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
const state = {
  lang: ["en", "zh"].includes(localStorage.getItem("dockfaq-lang")) ? localStorage.getItem("dockfaq-lang") : browserLang,
  conversationId: null,
  topic: null,
};
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// ---- Markdown (the subset the corpus uses), rendered with DOM nodes only ----
function renderMarkdown(markdown) {
  const out = document.createDocumentFragment();
  const lines = markdown.replace(/\r\n/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      i++;
      out.append(codeBlock(code.join("\n")));
    } else if (/^\s*([-*+]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*+]|\d+\.)\s+/.test(lines[i])) {
        list.append(el("li", {}, inline(lines[i].replace(/^\s*([-*+]|\d+\.)\s+/, ""))));
        i++;
      }
      out.append(list);
    } else if (/^\s*\|/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
      out.append(table(rows));
    } else if (/^#{1,6}\s/.test(line)) {
      out.append(el("h4", {}, inline(line.replace(/^#+\s*/, ""))));
      i++;
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== "" && !/^(```|\s*([-*+]|\d+\.)\s+|\s*\||#{1,6}\s)/.test(lines[i])) {
        para.push(lines[i++]);
      }
      out.append(el("p", {}, inline(para.join(" "))));
    }
  }
  return out;
}

function inline(text) {
  const frag = document.createDocumentFragment();
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    frag.append(text.slice(last, match.index));
    if (match[1] !== undefined) frag.append(el("code", { text: match[1] }));
    else if (match[2] !== undefined) frag.append(el("strong", { text: match[2] }));
    else frag.append(el("a", { href: match[4], text: match[3], rel: "noopener", target: "_blank" }));
    last = match.index + match[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function codeBlock(code) {
  const button = el("button", { type: "button", class: "copy", text: t("copy"), "aria-label": t("copy") });
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(code); } catch (_) { /* clipboard may be blocked */ }
    button.textContent = t("copied");
    setTimeout(() => { button.textContent = t("copy"); }, 1500);
  });
  return el("pre", {}, button, el("code", { text: code }));
}

function table(rows) {
  const cells = (row) => row.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
  const body = rows.filter((r) => !/^\s*\|?\s*:?-{2,}/.test(r));
  const tableEl = el("table");
  body.forEach((row, index) => {
    const tr = el("tr");
    for (const cell of cells(row)) tr.append(el(index === 0 ? "th" : "td", {}, inline(cell)));
    tableEl.append(tr);
  });
  return tableEl;
}

// ---- Chat ----
async function ask(question) {
  const messages = $("messages");
  messages.append(el("li", { class: "msg user", text: question }));
  const reply = el("li", { class: "msg assistant", "aria-busy": "true" });
  const body = el("div", { class: "answer", text: t("loading") });
  reply.append(body);
  messages.append(reply);
  $("ask-button").disabled = true;
  try {
    const done = await streamChat(question, (partial) => { body.textContent = partial; });
    state.conversationId = done.conversation_id;
    showAnswer(reply, body, done);
  } catch (error) {
    body.textContent = t("error") + error.message;
  } finally {
    reply.setAttribute("aria-busy", "false");
    $("ask-button").disabled = false;
    reply.scrollIntoView({ block: "nearest" });
  }
}

async function streamChat(message, onText) {
  const response = await fetch("/chat/stream", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ message, conversation_id: state.conversationId }),
  });
  if (!response.ok) throw new Error(await errorText(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", done = null;
  for (;;) {
    const { value, done: finished } = await reader.read();
    if (finished) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1];
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!event || !data) continue;
      if (event === "delta") { text += JSON.parse(data).text; onText(text); }
      if (event === "done") done = JSON.parse(data);
    }
  }
  if (!done) throw new Error("the stream ended early");
  return done;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : body.detail.map((d) => d.msg).join("; ");
  } catch (_) { return `HTTP ${response.status}`; }
}

function showAnswer(reply, body, done) {
  body.textContent = "";
  body.lang = done.language === "zh" ? "zh-CN" : "en";
  if (!done.answered) {
    reply.classList.add("refused");
    body.append(el("p", { class: "note", text: t("noAnswer") }), renderMarkdown(done.answer.split("\n\n")[0]));
    if (done.alternatives.length) {
      const list = el("div", { class: "suggestions", role: "group", "aria-label": t("suggestions") });
      for (const alt of done.alternatives) {
        list.append(el("button", { type: "button", text: alt.title, onclick: () => { location.hash = `#/entry/${alt.id}`; } }));
      }
      body.append(el("p", { text: t("suggestions") }), list);
    }
    return;
  }
  body.append(renderMarkdown(done.answer));
  const cites = el("ol", { class: "citations", "aria-label": t("sources") });
  for (const c of done.citations) cites.append(citationCard(c));
  reply.append(cites, feedbackButtons(done.message_id));
}

function citationCard(citation) {
  const details = el("details", { class: "citation" });
  const summary = el("summary", {}, el("span", { class: "num", text: `[${citation.n}]` }), citation.title);
  const full = el("div", { text: citation.snippet });
  details.append(summary, full);
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const entry = await (await fetch(`/entries/${encodeURIComponent(citation.id)}`)).json();
    full.textContent = "";
    full.append(renderMarkdown(entry.answer[citation.language]), sourceLink(entry.url),
      el("p", {}, el("a", { href: `#/entry/${citation.id}`, text: "#/entry/" + citation.id })));
  });
  return el("li", {}, details);
}

function sourceLink(url) {
  if (!url) return document.createDocumentFragment();
  return el("p", { class: "source" }, `${t("source")}: `, el("a", { href: url, text: url, rel: "noopener", target: "_blank" }));
}

function feedbackButtons(messageId) {
  const box = el("div", { class: "feedback", role: "group", "aria-label": t("helpful") }, el("span", { text: t("helpful") }));
  const status = el("span", { "aria-live": "polite" });
  for (const [rating, label, icon] of [["up", t("up"), "👍"], ["down", t("down"), "👎"]]) {
    const button = el("button", { type: "button", "aria-label": label, "aria-pressed": "false", text: icon });
    button.addEventListener("click", async () => {
      const response = await fetch("/feedback", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ message_id: messageId, rating }),
      });
      if (response.ok) {
        box.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        status.textContent = t("thanks");
      }
    });
    box.append(button);
  }
  box.append(status);
  return box;
}

// ---- FAQ ----
let searchTimer = null;
let searchSeq = 0;  // a slower, older response must not overwrite a newer one
async function refreshFaq() {
  const q = $("faq-search").value.trim();
  const results = $("faq-results");
  const seq = ++searchSeq;
  let items;
  if (q) {
    const params = new URLSearchParams({ q, k: "10" });  // results follow the query's language
    if (state.topic) params.set("topic", state.topic);
    const response = await fetch(`/search?${params}`);
    if (seq !== searchSeq) return;
    if (!response.ok) { results.textContent = t("error") + await errorText(response); return; }
    items = (await response.json()).results.map((r) => ({ id: r.id, title: r.title, snippet: r.snippet }));
  } else {
    const params = state.topic ? `?topic=${state.topic}` : "";
    const response = await fetch(`/entries${params}`);
    if (seq !== searchSeq) return;
    if (!response.ok) { results.textContent = t("error") + await errorText(response); return; }
    items = (await response.json()).entries.map((e) => ({ id: e.id, title: e.title[state.lang], snippet: TOPICS[e.topic][state.lang] }));
  }
  if (seq !== searchSeq) return;
  results.textContent = "";
  results.dataset.query = q;  // what these results answer
  if (!items.length) results.append(el("li", { text: t("noResults") }));
  for (const item of items) {
    results.append(el("li", {}, el("a", { href: `#/entry/${item.id}`, text: item.title }), el("p", { text: item.snippet })));
  }
}

function drawTopics() {
  const box = $("topics");
  box.textContent = "";
  const choices = [[null, t("allTopics")], ...Object.entries(TOPICS).map(([id, names]) => [id, names[state.lang]])];
  for (const [id, label] of choices) {
    box.append(el("button", { type: "button", text: label, "aria-pressed": String(state.topic === id),
      onclick: () => { state.topic = id; drawTopics(); refreshFaq(); } }));
  }
}

async function showEntry(id) {
  const article = $("entry");
  article.textContent = t("loading");
  const response = await fetch(`/entries/${encodeURIComponent(id)}`);
  if (!response.ok) { article.textContent = t("error") + await errorText(response); return; }
  const entry = await response.json();
  article.textContent = "";
  article.lang = state.lang === "zh" ? "zh-CN" : "en";
  article.append(
    el("h2", { id: "entry-title", tabindex: "-1", text: entry.title[state.lang] }),
    el("p", { class: "source", text: TOPICS[entry.topic][state.lang] }),
    renderMarkdown(entry.answer[state.lang]),
    sourceLink(entry.url),
    el("h3", { text: t("questions") }),
    el("ul", {}, ...entry.questions[state.lang].map((q) => el("li", { text: q }))),
  );
  $("entry-title").focus();
}

// ---- Page wiring ----
function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => { node.placeholder = t(node.dataset.i18nPlaceholder); });
  $("lang-switch").textContent = state.lang === "zh" ? "English" : "中文";
  drawTopics();
}

function route() {
  const hash = location.hash || "#/";
  const entry = hash.match(/^#\/entry\/([a-z0-9-]+)$/);
  $("chat-panel").hidden = hash !== "#/";
  $("faq-panel").hidden = hash !== "#/faq";
  $("entry-panel").hidden = !entry;
  $("nav-chat").toggleAttribute("aria-current", hash === "#/");
  $("nav-faq").toggleAttribute("aria-current", hash === "#/faq" || !!entry);
  if (hash === "#/") $("nav-chat").setAttribute("aria-current", "page");
  if (hash === "#/faq" || entry) $("nav-faq").setAttribute("aria-current", "page");
  if (entry) showEntry(entry[1]);
  if (hash === "#/faq") refreshFaq();
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  ask(question);
});
$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("ask-form").requestSubmit(); }
});
$("new-chat").addEventListener("click", () => { state.conversationId = null; $("messages").textContent = ""; $("question").focus(); });
$("faq-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refreshFaq, 150); });
$("lang-switch").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("dockfaq-lang", state.lang);
  applyLanguage();
  route();
});
window.addEventListener("hashchange", route);
applyLanguage();
route();
