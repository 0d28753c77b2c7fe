"use strict";
// dockfaq page: chat (streamed over SSE), FAQ search and entry pages. Everything user- or
// corpus-supplied is put in the page with textContent / createElement, never innerHTML, so no
// text can inject HTML.

const TEXT = {
  en: {
    title: "dockfaq — Docker Q&A", chat: "Chat", faq: "FAQ", sections: "Sections", topics: "Topics",
    skip: "Skip to content", switchLang: "Switch to Chinese", searchShort: "Search",
    searchOpen: "Search the FAQ (Ctrl+K)", ask: "Ask", stop: "Stop", newChat: "New chat",
    recent: "Recent chats", askLabel: "Your question",
    askPlaceholder: "Ask about Docker images, containers, registries…",
    keysDesktop: "Enter sends, Shift+Enter adds a line.", keysTouch: "Use the Ask button to send.",
    tooLong: (n, max) => `${n.toLocaleString("en")} characters: the limit is ${max.toLocaleString("en")}. Keep the lines of the log that matter.`,
    welcomeTitle: "Ask about Docker images and containers",
    scope: (n) => `Answers come from a curated FAQ of ${n} entries, in English or 中文, with their sources. When the FAQ has no answer, dockfaq says so.`,
    tryOne: "Try one of these", topicsHeading: "Or browse a topic",
    thinking: "Looking in the FAQ", stopped: "Stopped.", retry: "Retry",
    noAnswer: "No answer in the FAQ.", suggestions: "Perhaps one of these:",
    sources: "Sources", source: "Source", openEntry: "Open the full entry", citeLabel: (n) => `Source ${n}`,
    helpful: "Was this helpful?", up: "Helpful", down: "Not helpful", thanks: "Thanks!",
    whyDown: "What was wrong or missing? (optional)", send: "Send", skipComment: "No comment",
    noted: "Thanks, noted.", voteFailed: "Your vote was not saved: ",
    shouldAnswer: "This should have been answered", refusalRate: "Expected an answer?",
    copy: "Copy", copied: "Copied", copyCode: "Copy the code",
    offline: "You are offline: questions will work again when the connection is back.",
    networkError: "Cannot reach dockfaq. Check the connection and retry.",
    rateLimited: (s) => `Too many questions in a short time: retry in ${s} s.`,
    unauthorized: "This server needs an API key: reload the page, or ask its administrator.",
    notReady: "dockfaq is still loading its index: retry in a moment.",
    invalid: "The server could not read this question: ",
    serverError: (status) => `dockfaq failed to answer (HTTP ${status}). Retry in a moment.`,
    streamCut: "The answer was cut off. Retry.",
    chatGone: "That chat is no longer on the server (chats are kept for a week); here is a new one.",
    faqTitle: "Search the FAQ", searchLabel: "Search", searchPlaceholder: "e.g. exit code 137",
    allTopics: "All topics", inTopic: (topic) => `In “${topic}” only.`, searchAll: "Search all topics",
    count: (n) => (n === 1 ? "1 entry" : `${n} entries`),
    countFor: (n, q) => (n === 1 ? `1 entry for “${q}”` : `${n} entries for “${q}”`),
    noResults: "No entries match.", askInstead: "Ask in chat instead",
    backChat: "← Back to the chat", backSearch: "← Back to the search", backFaq: "← All FAQ entries",
    questions: "Also asked as", related: "Related entries", askAbout: "Ask about this in chat",
    aboutPrefix: (title) => `About “${title}”: `, copyLink: "Copy link", linkCopied: "Link copied",
    copyFailed: "Copy this address: ", entryHelpful: "Was this entry helpful?",
    missingTitle: "Nothing here", missingPage: (h) => `There is no page at “${h}”.`,
    missingEntry: (id) => `There is no FAQ entry “${id}”.`, goChat: "Ask a question", goFaq: "Search the FAQ",
    loading: "Loading…",
  },
  zh: {
    title: "dockfaq — Docker 问答", chat: "问答", faq: "FAQ", sections: "栏目", topics: "主题",
    skip: "跳到正文", switchLang: "切换到英文", searchShort: "搜索",
    searchOpen: "搜索 FAQ（Ctrl+K）", ask: "提问", stop: "停止", newChat: "新对话",
    recent: "最近的对话", askLabel: "你的问题",
    askPlaceholder: "问问 Docker 镜像、容器、镜像仓库…",
    keysDesktop: "Enter 发送，Shift+Enter 换行。", keysTouch: "点“提问”发送。",
    tooLong: (n, max) => `共 ${n} 个字符，上限是 ${max}。请只保留日志里相关的几行。`,
    welcomeTitle: "关于 Docker 镜像和容器，尽管问",
    scope: (n) => `答案来自精选的 FAQ（共 ${n} 条），支持中文和 English，并注明出处。FAQ 里没有答案时，dockfaq 会直说。`,
    tryOne: "试试这些问题", topicsHeading: "或者按主题浏览",
    thinking: "正在查找 FAQ", stopped: "已停止。", retry: "重试",
    noAnswer: "FAQ 里没有找到答案。", suggestions: "也许这些条目有帮助：",
    sources: "引用", source: "来源", openEntry: "打开完整条目", citeLabel: (n) => `引用 ${n}`,
    helpful: "这个回答有帮助吗？", up: "有帮助", down: "没帮助", thanks: "谢谢！",
    whyDown: "哪里不对或缺了什么？（可选）", send: "发送", skipComment: "不填了",
    noted: "谢谢，已记录。", voteFailed: "评价没有保存：",
    shouldAnswer: "这个问题应该能回答", refusalRate: "你觉得应该有答案？",
    copy: "复制", copied: "已复制", copyCode: "复制代码",
    offline: "网络已断开：恢复连接后就可以继续提问。",
    networkError: "连不上 dockfaq，请检查网络后重试。",
    rateLimited: (s) => `提问太频繁了，请 ${s} 秒后重试。`,
    unauthorized: "这个服务需要 API 密钥：请刷新页面，或联系管理员。",
    notReady: "dockfaq 还在加载索引，请稍后重试。",
    invalid: "服务器无法读取这个问题：",
    serverError: (status) => `dockfaq 回答失败（HTTP ${status}），请稍后重试。`,
    streamCut: "回答中断了，请重试。",
    chatGone: "服务器上已经没有这个对话了（对话保留一周），已为你开始新对话。",
    faqTitle: "搜索 FAQ", searchLabel: "搜索", searchPlaceholder: "例如：退出码 137",
    allTopics: "全部主题", inTopic: (topic) => `只在“${topic}”中搜索。`, searchAll: "搜索全部主题",
    count: (n) => `${n} 个条目`,
    countFor: (n, q) => `“${q}”：${n} 个条目`,
    noResults: "没有匹配的条目。", askInstead: "改为在问答里提问",
    backChat: "← 返回对话", backSearch: "← 返回搜索", backFaq: "← 全部 FAQ 条目",
    questions: "常见问法", related: "相关条目", askAbout: "就这个条目提问",
    aboutPrefix: (title) => `关于“${title}”：`, copyLink: "复制链接", linkCopied: "链接已复制",
    copyFailed: "请复制这个地址：", entryHelpful: "这个条目有帮助吗？",
    missingTitle: "这里什么都没有", missingPage: (h) => `没有“${h}”这个页面。`,
    missingEntry: (id) => `没有叫“${id}”的 FAQ 条目。`, goChat: "去提问", goFaq: "搜索 FAQ",
    loading: "加载中…",
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
// Questions the FAQ answers well (each checked against the shipped index).
const EXAMPLES = {
  en: [
    "What is the difference between an image and a container?",
    "Why does my container exit immediately after starting?",
    "docker save vs docker export: which one should I use?",
    "How do I run a container as a non-root user?",
    "How do I build my own base image?",
    "How do I push an image to a private registry?",
    "My container exited with code 137. Why?",
    "How do I remove dangling images?",
  ],
  zh: [
    "镜像和容器有什么区别？",
    "容器启动后马上就退出了，为什么？",
    "docker save 和 docker export 有什么区别？",
    "怎么以非 root 用户运行容器？",
    "怎么制作自己的基础镜像？",
    "怎么把镜像推送到私有仓库？",
    "容器退出码 137 是什么意思？",
    "怎么删除悬空镜像？",
  ],
};
// How service/answer.py's refusals begin (small talk replies are not refusals: no rating).
const REFUSAL_OPENINGS = ["Sorry, I could not find an answer", "抱歉，dockfaq 的知识库中没有找到"];
const MAX_CHARS = 2000;  // the API's limit on a question (MAX_MESSAGE_CHARS)
const RECENT_KEY = "dockfaq-chats";  // [{id, title}]: ids and titles only; turns stay on the server
const VOTED_KEY = "dockfaq-voted-entries";
const touch = window.matchMedia("(pointer: coarse)").matches;

const browserLang = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
const savedLang = localStorage.getItem("dockfaq-lang");
const state = {
  lang: ["en", "zh"].includes(savedLang) ? savedLang : browserLang,
  conversationId: null,  // the chat on screen (null: a new chat)
  chatSeq: 0,            // bumped by "New chat" and by opening another chat: late answers are dropped
  busy: false,
  controller: null,      // aborts the answer being streamed
  rendered: null,        // the address now on screen
  previous: null,        // the address before it (for "Back")
  scroll: {},            // window scroll per view, restored on return
  entries: null,         // GET /entries, once
};
const $ = (id) => document.getElementById(id);
const t = (key, ...args) => {
  const value = TEXT[state.lang][key];
  return typeof value === "function" ? value(...args) : value;
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// A label that follows the language switch: its text (and aria-label) are set from TEXT.
function label(tag, key, props = {}) {
  return el(tag, { ...props, "data-i18n": key, text: t(key) });
}

// ---- Markdown (the subset the corpus uses), rendered with DOM nodes only ----
// ``cite(n)``: in chat answers, turns "[n]" into a link to citation n.
function renderMarkdown(markdown, cite = null) {
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
        list.append(el("li", {}, inline(lines[i].replace(/^\s*([-*+]|\d+\.)\s+/, ""), cite)));
        i++;
      }
      out.append(list);
    } else if (/^\s*\|/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
      out.append(table(rows, cite));
    } else if (/^#{1,6}\s/.test(line)) {
      out.append(el("h4", {}, inline(line.replace(/^#+\s*/, ""), cite)));
      i++;
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== "" && !/^(```|\s*([-*+]|\d+\.)\s+|\s*\||#{1,6}\s)/.test(lines[i])) {
        para.push(lines[i++]);
      }
      out.append(el("p", {}, inline(para.join(" "), cite)));
    }
  }
  return out;
}

// While an answer streams, its last line may stop inside a mark: hold back from an unclosed
// `**` or backtick, or a fence still arriving, so raw Markdown never shows; it follows with the
// next piece of text. (Earlier lines are whole; code inside an open fence stays as it is.)
function settled(text) {
  const lines = text.split("\n");
  const fences = lines.slice(0, -1).filter((line) => /^```/.test(line)).length;
  let last = lines.pop();
  if (fences % 2 === 0) {
    if (/^`{1,3}\w*$/.test(last)) last = "";
    const bold = last.split("**").length - 1;
    if (bold % 2 === 1) last = last.slice(0, last.lastIndexOf("**"));
    const ticks = last.split("`").length - 1;
    if (ticks % 2 === 1) last = last.slice(0, last.lastIndexOf("`"));
  }
  return [...lines, last].join("\n");
}

function inline(text, cite = null) {
  const frag = document.createDocumentFragment();
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)|\[(\d{1,2})\]/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    frag.append(text.slice(last, match.index));
    if (match[1] !== undefined) frag.append(el("code", { text: match[1] }));
    else if (match[2] !== undefined) frag.append(el("strong", { text: match[2] }));
    else if (match[3] !== undefined) frag.append(el("a", { href: match[4], text: match[3], rel: "noopener", target: "_blank" }));
    else frag.append((cite && cite(Number(match[5]))) || match[0]);
    last = match.index + match[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function codeBlock(code) {
  const button = el("button", { type: "button", class: "copy", "data-i18n": "copy", "data-i18n-aria": "copyCode", "aria-label": t("copyCode"), text: t("copy") });
  button.addEventListener("click", async () => {
    await copyText(code);
    button.textContent = t("copied");
    setTimeout(() => { button.textContent = t("copy"); }, 1500);
  });
  // tabindex: a block wider than the answer scrolls, and the keyboard must reach it too.
  return el("div", { class: "code" }, el("div", { class: "code-bar" }, button), el("pre", { tabindex: "0" }, el("code", { text: code })));
}

function table(rows, cite) {
  const cells = (row) => row.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
  const body = rows.filter((r) => !/^\s*\|?\s*:?-{2,}/.test(r));
  const tableEl = el("table");
  body.forEach((row, index) => {
    const tr = el("tr");
    for (const cell of cells(row)) tr.append(el(index === 0 ? "th" : "td", {}, inline(cell, cite)));
    tableEl.append(tr);
  });
  return tableEl;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    return false;  // the clipboard may be blocked (an insecure origin, a denied permission)
  }
}

// ---- Talking to the server ----
class RequestError extends Error {
  constructor(kind, detail = "", status = 0, retryAfter = 0) {
    super(kind);
    this.kind = kind; this.detail = detail; this.status = status; this.retryAfter = retryAfter;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new RequestError("network");
  }
  if (!response.ok) throw await requestError(response);
  return response;
}

async function requestError(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : body.detail.map((d) => d.msg).join("; ");
  } catch (_) { /* not JSON */ }
  const kinds = { 401: "unauthorized", 404: "missing", 422: "invalid", 429: "rateLimited", 503: "notReady" };
  const retry = Number(response.headers.get("Retry-After")) || 0;
  return new RequestError(kinds[response.status] || "server", detail, response.status, retry);
}

// An error in the page's language; the server's own words only where they name what to fix.
function errorMessage(error) {
  if (!(error instanceof RequestError)) return t("networkError");
  switch (error.kind) {
    case "network": return t("networkError");
    case "rateLimited": return t("rateLimited", error.retryAfter || 60);
    case "unauthorized": return t("unauthorized");
    case "notReady": return t("notReady");
    case "invalid": return t("invalid") + error.detail;
    case "cut": return t("streamCut");
    default: return t("serverError", error.status);
  }
}

async function streamChat(message, conversationId, signal, onMeta, onText) {
  const response = await request("/chat/stream", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ message, conversation_id: conversationId }),
    signal,
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", done = null;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new RequestError("cut");
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1];
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!event || !data) continue;
      if (event === "meta") onMeta(JSON.parse(data));
      if (event === "delta") { text += JSON.parse(data).text; onText(text); }
      if (event === "done") done = JSON.parse(data);
    }
  }
  if (!done) throw new RequestError("cut");
  return done;
}

// ---- Chat ----
function setBusy(busy) {
  state.busy = busy;
  $("ask-button").disabled = busy || overLimit();
  $("stop-button").hidden = !busy;
  $("ask-button").hidden = busy;
}

function overLimit() {
  return $("question").value.length > MAX_CHARS;
}

function updateHelp() {
  const help = $("question-help");
  const length = $("question").value.length;
  const over = length > MAX_CHARS;
  help.classList.toggle("over", over);
  help.textContent = over || length > MAX_CHARS * 0.9 ? t("tooLong", length, MAX_CHARS) : t(touch ? "keysTouch" : "keysDesktop");
  $("ask-button").disabled = state.busy || over;
}

async function ask(question) {
  if (state.busy || !question) return;
  const seq = ++state.chatSeq;
  setBusy(true);
  $("welcome").hidden = true;
  $("chat-notice").hidden = true;
  const messages = $("messages");
  const asked = el("li", { class: "msg user", text: question });
  const reply = el("li", { class: "msg assistant", "aria-busy": "true" });
  const body = el("div", { class: "answer" }, label("span", "thinking", { class: "thinking" }));
  reply.append(body);
  messages.append(asked, reply);
  asked.scrollIntoView({ block: "start" });  // the new answer starts at the top of the view
  const controller = new AbortController();
  state.controller = controller;
  let citations = [];
  let pending = null;
  const draw = (text) => {  // Markdown as it streams, at most once a frame: no jump at the end
    pending = text;
    requestAnimationFrame(() => {
      if (pending === null || seq !== state.chatSeq) return;
      body.textContent = "";
      body.append(renderMarkdown(settled(pending), citeLink(reply, () => citations)));
      pending = null;
    });
  };
  try {
    const done = await streamChat(question, state.conversationId, controller.signal,
      (meta) => { citations = meta.citations || []; }, draw);
    if (seq !== state.chatSeq) return;  // "New chat" (or another chat) was opened meanwhile
    pending = null;
    state.conversationId = done.conversation_id;
    remember(done.conversation_id, question);
    history.replaceState(null, "", `#/c/${done.conversation_id}`);
    state.rendered = location.hash;
    showAnswer(reply, body, done);
  } catch (error) {
    if (seq !== state.chatSeq) return;
    pending = null;
    showFailure(reply, body, question, error);
  } finally {
    reply.setAttribute("aria-busy", "false");
    if (seq === state.chatSeq) {
      state.controller = null;
      setBusy(false);
    }
  }
}

function showFailure(reply, body, question, error) {
  reply.classList.add("failed");
  const stopped = error.name === "AbortError";
  const partial = stopped ? body.querySelector("p, ul, ol, .code, table") : null;
  if (!partial) body.textContent = "";
  body.append(el("p", { class: "note", text: stopped ? t("stopped") : errorMessage(error) }));
  const retry = label("button", "retry", { type: "button", class: "secondary" });
  retry.addEventListener("click", () => {
    if ($("question").value === question) { $("question").value = ""; updateHelp(); }
    reply.previousElementSibling?.remove();
    reply.remove();
    ask(question);
  });
  body.append(el("div", { class: "actions" }, retry));
  if (!$("question").value) { $("question").value = question; updateHelp(); }  // kept, to edit
}

function citeLink(reply, citations) {
  return (n) => {
    if (!citations().some((c) => c.n === n)) return null;
    const link = el("button", { type: "button", class: "cite-ref", text: `[${n}]`, "aria-label": t("citeLabel", n) });
    link.addEventListener("click", () => {
      const card = reply.querySelector(`.citation[data-n="${n}"]`);
      if (!card) return;
      card.open = true;
      card.scrollIntoView({ block: "nearest" });
      card.querySelector("summary").focus();
    });
    return link;
  };
}

// ``done``: a /chat response, or a stored turn from GET /conversations/{id}.
function showAnswer(reply, body, done) {
  body.textContent = "";
  body.lang = done.language === "zh" ? "zh-CN" : "en";
  reply.classList.remove("failed");
  if (!done.answered) {
    const refusal = REFUSAL_OPENINGS.some((opening) => done.answer.startsWith(opening));
    const alternatives = (refusal && (done.alternatives || done.citations)) || [];
    if (refusal) {
      reply.classList.add("refused");
      body.append(label("p", "noAnswer", { class: "note" }), renderMarkdown(done.answer.split("\n\n")[0]));
    } else {
      body.append(renderMarkdown(done.answer));  // small talk: thanks, greetings, off-topic requests
    }
    if (alternatives.length) {
      const list = el("div", { class: "suggestions", role: "group", "aria-label": t("suggestions"), "data-i18n-aria": "suggestions" });
      for (const alt of alternatives) {
        list.append(el("button", { type: "button", text: alt.title, onclick: () => { location.hash = `#/entry/${alt.id}`; } }));
      }
      body.append(label("p", "suggestions"), list);
    }
    if (refusal && done.message_id) reply.append(feedbackBox(done.message_id, true));
    return;
  }
  const cite = citeLink(reply, () => done.citations);
  body.append(renderMarkdown(done.answer, cite));
  const cites = el("ol", { class: "citations", "aria-label": t("sources"), "data-i18n-aria": "sources" });
  for (const c of done.citations) cites.append(citationCard(c));
  reply.append(cites, feedbackBox(done.message_id, false));
}

function citationCard(citation) {
  const details = el("details", { class: "citation", "data-n": String(citation.n) });
  const summary = el("summary", {}, el("span", { class: "num", text: `[${citation.n}]` }), citation.title);
  const full = el("div", { lang: citation.language === "zh" ? "zh-CN" : "en", text: citation.snippet });
  details.append(summary, full);
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    try {
      const entry = await (await request(`/entries/${encodeURIComponent(citation.id)}`)).json();
      details.dataset.loaded = "1";
      full.textContent = "";
      full.append(renderMarkdown(entry.answer[citation.language]), sourceLink(entry.url),
        el("p", {}, el("a", { href: `#/entry/${citation.id}`, "data-i18n": "openEntry", text: t("openEntry") })));
    } catch (_) { /* the snippet stays */ }
  });
  return el("li", {}, details);
}

function sourceLink(url) {
  if (!url) return document.createDocumentFragment();
  return el("p", { class: "source" }, label("span", "source"), ": ", el("a", { href: url, text: url, rel: "noopener", target: "_blank" }));
}

// 👍 / 👎 on an answer; 👎 opens an optional comment. On a refusal: "this should have been answered".
function feedbackBox(messageId, refused) {
  const box = el("div", { class: "feedback", role: "group", "aria-label": t(refused ? "refusalRate" : "helpful"), "data-i18n-aria": refused ? "refusalRate" : "helpful" });
  const status = el("span", { role: "status" });
  const vote = async (rating, comment, pressed) => {
    try {
      await request("/feedback", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ message_id: messageId, rating, comment }),
      });
    } catch (error) {
      status.textContent = t("voteFailed") + errorMessage(error);
      return false;
    }
    box.querySelectorAll("button[aria-pressed]").forEach((b) => b.setAttribute("aria-pressed", String(b === pressed)));
    status.textContent = t(comment ? "noted" : "thanks");
    return true;
  };
  const down = refused
    ? el("button", { type: "button", "aria-pressed": "false", "data-i18n": "shouldAnswer", text: t("shouldAnswer") })
    : el("button", { type: "button", "aria-pressed": "false", "aria-label": t("down"), "data-i18n-aria": "down", text: "👎" });
  if (!refused) {
    box.append(label("span", "helpful"));
    const up = el("button", { type: "button", "aria-pressed": "false", "aria-label": t("up"), "data-i18n-aria": "up", text: "👍" });
    up.addEventListener("click", () => { box.querySelector("form")?.remove(); vote("up", null, up); });
    box.append(up);
  }
  down.addEventListener("click", async () => {
    if (!(await vote("down", null, down)) || box.querySelector("form")) return;
    box.append(commentForm(async (comment) => vote("down", comment, down)));
  });
  box.append(down, status);
  return box;
}

function commentForm(send) {
  const id = `comment-${Math.random().toString(36).slice(2)}`;
  const input = el("textarea", { id, rows: "2", maxlength: String(MAX_CHARS) });
  const form = el("form", {}, label("label", "whyDown", { for: id }), input,
    el("div", { class: "row" }, label("button", "send", { type: "submit" }), label("button", "skipComment", { type: "button", class: "secondary" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const comment = input.value.trim();
    if (comment && !(await send(comment))) return;
    form.remove();
  });
  form.querySelector("button[type=button]").addEventListener("click", () => form.remove());
  setTimeout(() => input.focus(), 0);
  return form;
}

// ---- Conversations: recent chats in this browser, turns from the server ----
function recentChats() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((c) => c && typeof c.id === "string" && typeof c.title === "string") : [];
  } catch (_) { return []; }
}

function remember(id, question) {
  const list = recentChats();
  const known = list.find((c) => c.id === id);
  const title = known ? known.title : question.replace(/\s+/g, " ").slice(0, 80);
  const next = [{ id, title }, ...list.filter((c) => c.id !== id)].slice(0, 8);
  localStorage.setItem(RECENT_KEY, JSON.stringify(next));
  drawRecent();
}

function forget(id) {
  localStorage.setItem(RECENT_KEY, JSON.stringify(recentChats().filter((c) => c.id !== id)));
  drawRecent();
}

function drawRecent() {
  const list = recentChats();
  for (const ul of document.querySelectorAll(".recent-list")) {
    ul.textContent = "";
    for (const chat of list) {
      const current = chat.id === state.conversationId ? "page" : null;
      ul.append(el("li", {}, el("a", { href: `#/c/${chat.id}`, text: chat.title, "aria-current": current })));
    }
  }
  $("recent-menu").hidden = !list.length;
  $("welcome-recent").hidden = !list.length;
}

function newChat() {
  state.chatSeq++;  // an answer still streaming belongs to the old chat: it is dropped
  if (state.controller) state.controller.abort();
  state.controller = null;
  state.conversationId = null;
  setBusy(false);
  $("messages").textContent = "";
  $("welcome").hidden = false;
  drawRecent();
}

async function openChat(id) {
  if (id === state.conversationId && $("messages").children.length) return;
  newChat();
  state.conversationId = id;
  const seq = state.chatSeq;
  $("welcome").hidden = true;
  const messages = $("messages");
  messages.append(el("li", { class: "msg", "aria-busy": "true" }, label("span", "loading", { class: "thinking" })));
  let turns;
  try {
    turns = (await (await request(`/conversations/${encodeURIComponent(id)}`)).json()).turns;
  } catch (error) {
    if (seq !== state.chatSeq) return;
    messages.textContent = "";
    if (error instanceof RequestError && error.kind === "missing") {
      forget(id);
      newChat();
      history.replaceState(null, "", "#/");
      state.rendered = location.hash;
      showNotice(t("chatGone"));
    } else {
      state.conversationId = null;
      $("welcome").hidden = false;
      showNotice(errorMessage(error));
    }
    return;
  }
  if (seq !== state.chatSeq) return;
  messages.textContent = "";
  for (const turn of turns) {
    const reply = el("li", { class: "msg assistant", "aria-busy": "false" });
    const body = el("div", { class: "answer" });
    reply.append(body);
    messages.append(el("li", { class: "msg user", text: turn.question }), reply);
    showAnswer(reply, body, turn);
  }
  if (turns.length) remember(id, turns[0].question);
  drawRecent();
  const last = [...messages.querySelectorAll(".msg.user")].pop();
  if (last && !state.scroll[location.hash]) last.scrollIntoView({ block: "start" });
}

function showNotice(text) {
  const notice = $("chat-notice");
  notice.textContent = text;
  notice.hidden = false;
}

// ---- The first screen ----
async function loadEntries() {
  if (!state.entries) state.entries = (await (await request("/entries")).json()).entries;
  return state.entries;
}

async function drawWelcome() {
  const examples = $("examples");
  examples.textContent = "";
  for (const question of EXAMPLES[state.lang]) {
    examples.append(el("li", {}, el("button", { type: "button", text: question, onclick: () => ask(question) })));
  }
  let entries = [];
  try { entries = await loadEntries(); } catch (_) { /* the scope line waits for the index */ }
  $("scope").textContent = t("scope", entries.length || "…");
  const counts = {};
  for (const entry of entries) counts[entry.topic] = (counts[entry.topic] || 0) + 1;
  const topics = $("welcome-topics");
  topics.textContent = "";
  for (const [id, names] of Object.entries(TOPICS)) {
    const text = counts[id] ? `${names[state.lang]} (${counts[id]})` : names[state.lang];
    topics.append(el("li", {}, el("a", { href: `#/faq?topic=${id}`, text })));
  }
}

// ---- FAQ search ----
let searchTimer = null;
let searchSeq = 0;  // a slower, older response must not overwrite a newer one

function faqAddress(q, topic) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (topic) params.set("topic", topic);
  const query = params.toString();
  return query ? `#/faq?${query}` : "#/faq";
}

async function refreshFaq() {
  const q = $("faq-search").value.trim();
  const topic = state.topic;
  const seq = ++searchSeq;
  const results = $("faq-results");
  let items;
  try {
    if (q) {
      const params = new URLSearchParams({ q, k: "10" });  // results follow the query's language
      if (topic) params.set("topic", topic);
      const found = await (await request(`/search?${params}`)).json();
      items = found.results.map((r) => ({ id: r.id, title: r.title, snippet: r.snippet, lang: r.language }));
    } else {
      const entries = await loadEntries();
      items = entries.filter((e) => !topic || e.topic === topic)
        .map((e) => ({ id: e.id, title: e.title[state.lang], snippet: TOPICS[e.topic][state.lang], lang: state.lang }));
    }
  } catch (error) {
    if (seq !== searchSeq) return;
    results.textContent = "";
    $("faq-count").textContent = errorMessage(error);
    return;
  }
  if (seq !== searchSeq) return;
  results.textContent = "";
  results.dataset.query = q;  // what these results answer
  const scope = topic ? ` ${t("inTopic", TOPICS[topic][state.lang])}` : "";
  $("faq-count").textContent = (q ? t("countFor", items.length, q) : t("count", items.length)) + scope;
  $("faq-empty").hidden = items.length > 0 || !q;
  const terms = searchTerms(q);
  for (const item of items) {
    results.append(el("li", { lang: item.lang === "zh" ? "zh-CN" : "en" },
      el("a", { href: `#/entry/${item.id}` }, highlight(item.title, terms)),
      el("p", {}, highlight(item.snippet, terms))));
  }
  drawTopics();
}

function searchTerms(q) {
  const words = q.toLowerCase().match(/[\p{Script=Han}]+|[\p{L}\p{N}][\p{L}\p{N}._-]*/gu) || [];
  return [...new Set(words.filter((w) => w.length > 1 || /\p{Script=Han}|\d/u.test(w)))].sort((a, b) => b.length - a.length);
}

function highlight(text, terms) {
  const frag = document.createDocumentFragment();
  if (!terms.length) { frag.append(text); return frag; }
  const escaped = terms.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(escaped.join("|"), "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    frag.append(text.slice(last, match.index), el("mark", { text: match[0] }));
    last = match.index + match[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function drawTopics() {
  const box = $("topics");
  box.textContent = "";
  const choices = [[null, t("allTopics")], ...Object.entries(TOPICS).map(([id, names]) => [id, names[state.lang]])];
  for (const [id, name] of choices) {
    box.append(el("button", { type: "button", text: name, "aria-pressed": String(state.topic === id),
      onclick: () => {
        history.pushState(null, "", faqAddress($("faq-search").value.trim(), id));
        route();
      } }));
  }
}

function openSearch() {
  if (!location.hash.startsWith("#/faq")) {
    location.hash = faqAddress("", null);
    route();  // now, not at the hashchange: the box must be visible to take the focus
  }
  const box = $("faq-search");
  box.focus();
  box.select();
}

// ---- Entry pages ----
async function showEntry(id) {
  const article = $("entry");
  article.textContent = t("loading");
  let entry;
  try {
    entry = await (await request(`/entries/${encodeURIComponent(id)}`)).json();
  } catch (error) {
    if (error instanceof RequestError && error.kind === "missing") return showMissing(t("missingEntry", id));
    article.textContent = errorMessage(error);
    return;
  }
  const lang = state.lang;
  article.textContent = "";
  article.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${entry.title[lang]} — dockfaq`;
  const related = el("ul", { class: "related" });
  article.append(
    el("h2", { id: "entry-title", tabindex: "-1", text: entry.title[lang] }),
    el("p", { class: "source" }, el("a", { href: faqAddress("", entry.topic), text: TOPICS[entry.topic][lang] })),
    renderMarkdown(entry.answer[lang]),
    sourceLink(entry.url),
    entryActions(entry),
    entryVote(entry.id),
    label("h3", "questions"),
    el("ul", {}, ...entry.questions[lang].map((q) => el("li", { text: q }))),
    label("h3", "related"),
    related,
  );
  $("entry-title").focus();
  try {
    const params = new URLSearchParams({ q: entry.title[lang], k: "6", language: lang });
    const found = (await (await request(`/search?${params}`)).json()).results;
    for (const r of found.filter((r) => r.id !== entry.id).slice(0, 4)) {
      related.append(el("li", {}, el("a", { href: `#/entry/${r.id}`, text: r.title })));
    }
  } catch (_) { /* related entries are a nicety */ }
  if (!related.children.length) related.previousElementSibling.remove(), related.remove();
}

function entryActions(entry) {
  const status = el("span", { role: "status" });
  const askAbout = label("button", "askAbout", { type: "button", class: "secondary" });
  askAbout.addEventListener("click", () => {
    location.hash = state.conversationId ? `#/c/${state.conversationId}` : "#/";
    const box = $("question");
    box.value = t("aboutPrefix", entry.title[state.lang]);
    updateHelp();
    setTimeout(() => { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }, 0);
  });
  const copyLink = label("button", "copyLink", { type: "button", class: "secondary" });
  copyLink.addEventListener("click", async () => {
    const address = `${location.origin}${location.pathname}#/entry/${entry.id}`;
    status.textContent = (await copyText(address)) ? t("linkCopied") : t("copyFailed") + address;
  });
  return el("div", { class: "actions" }, askAbout, copyLink, status);
}

function votedEntries() {
  try { return new Set(JSON.parse(localStorage.getItem(VOTED_KEY) || "[]")); } catch (_) { return new Set(); }
}

function entryVote(entryId) {
  const box = el("div", { class: "feedback", role: "group", "aria-label": t("entryHelpful"), "data-i18n-aria": "entryHelpful" }, label("span", "entryHelpful"));
  const status = el("span", { role: "status" });
  const send = async (rating, comment) => {
    try {
      await request(`/entries/${encodeURIComponent(entryId)}/feedback`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ rating, comment }),
      });
    } catch (error) {
      status.textContent = t("voteFailed") + errorMessage(error);
      return false;
    }
    const voted = votedEntries();
    voted.add(entryId);
    localStorage.setItem(VOTED_KEY, JSON.stringify([...voted]));
    box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    status.textContent = t(comment ? "noted" : "thanks");
    return true;
  };
  const up = el("button", { type: "button", "aria-label": t("up"), "data-i18n-aria": "up", text: "👍", onclick: () => send("up", null) });
  const down = el("button", { type: "button", "aria-label": t("down"), "data-i18n-aria": "down", text: "👎" });
  down.addEventListener("click", () => {  // one vote per entry: the comment goes with it
    if (box.querySelector("form")) return;
    const form = commentForm((comment) => send("down", comment));
    form.querySelector("button[type=button]").addEventListener("click", () => send("down", null));
    box.append(form);
  });
  box.append(up, down, status);
  if (votedEntries().has(entryId)) {
    up.disabled = down.disabled = true;
    status.textContent = t("thanks");
  }
  return box;
}

function showMissing(text) {
  for (const id of ["chat-panel", "faq-panel", "entry-panel"]) $(id).hidden = true;
  $("missing-panel").hidden = false;
  $("missing-text").textContent = text;
  document.title = `${t("missingTitle")} — dockfaq`;
  $("missing-title").focus();
}

// ---- Page wiring ----
function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => { node.placeholder = t(node.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-aria]").forEach((node) => { node.setAttribute("aria-label", t(node.dataset.i18nAria)); });
  const other = state.lang === "zh" ? "en" : "zh";
  $("lang-switch").textContent = other === "zh" ? "中文" : "English";
  $("lang-switch").lang = other === "zh" ? "zh-CN" : "en";
  updateHelp();
  drawWelcome();
  drawTopics();
}

// Addresses: #/ (a new chat), #/c/<id> (a chat), #/faq?q=&topic=, #/entry/<id>.
function parse(hash) {
  let raw;
  try { raw = decodeURIComponent(hash.replace(/^#/, "")); } catch (_) { raw = hash.replace(/^#/, ""); }
  const [path, query = ""] = raw.split("?");
  const clean = ("/" + path.replace(/^\/+/, "")).replace(/\/+$/, "") || "/";
  const lower = clean.toLowerCase();
  if (lower === "/" || lower === "/chat") return { view: "chat", canonical: "#/" };
  const chat = clean.match(/^\/c\/([A-Za-z0-9_-]{1,128})$/);
  if (chat) return { view: "chat", id: chat[1], canonical: `#/c/${chat[1]}` };
  if (lower === "/faq" || lower === "/search") {
    const params = new URLSearchParams(query);
    const topic = TOPICS[params.get("topic")] ? params.get("topic") : null;
    const q = params.get("q") || "";
    return { view: "faq", q, topic, canonical: faqAddress(q, topic) };
  }
  const entry = clean.match(/^\/entry\/([^/]{1,128})$/i);
  if (entry) {
    const id = entry[1].toLowerCase().replace(/[_\s]+/g, "-");  // #/entry/Image_vs_Container
    return { view: "entry", id, canonical: `#/entry/${id}` };
  }
  return { view: "missing", path: raw };
}

function route() {
  const where = parse(location.hash || "#/");
  if (where.canonical && where.canonical !== location.hash && !(where.canonical === "#/" && !location.hash)) {
    history.replaceState(null, "", where.canonical);  // #faq, #/FAQ/, #/entry/Image_vs_Container
  }
  const address = location.hash || "#/";
  if (address === state.rendered) return;
  if (state.rendered) state.scroll[state.rendered] = window.scrollY;
  state.previous = state.rendered;
  state.rendered = address;
  for (const id of ["chat-panel", "faq-panel", "entry-panel", "missing-panel"]) $(id).hidden = true;
  $("nav-chat").removeAttribute("aria-current");
  $("nav-faq").removeAttribute("aria-current");
  document.title = t("title");
  if (where.view === "chat") {
    $("chat-panel").hidden = false;
    $("nav-chat").setAttribute("aria-current", "page");
    if (where.id) openChat(where.id);
    else if (state.conversationId) newChat();
    window.scrollTo(0, state.scroll[address] || (where.id ? document.body.scrollHeight : 0));
    if (!touch) $("question").focus({ preventScroll: true });
  } else if (where.view === "faq") {
    $("faq-panel").hidden = false;
    $("nav-faq").setAttribute("aria-current", "page");
    state.topic = where.topic;
    if ($("faq-search").value.trim() !== where.q) $("faq-search").value = where.q;
    refreshFaq().then(() => window.scrollTo(0, state.scroll[address] || 0));
  } else if (where.view === "entry") {
    $("entry-panel").hidden = false;
    $("nav-faq").setAttribute("aria-current", "page");
    drawBack();
    window.scrollTo(0, 0);
    showEntry(where.id);
  } else {
    showMissing(t("missingPage", where.path));
  }
}

// "Back" returns where the reader came from (the chat, or the search with its query).
function drawBack() {
  const back = $("back");
  const from = state.previous ? parse(state.previous).view : null;
  const key = from === "chat" ? "backChat" : from === "faq" ? "backSearch" : "backFaq";
  back.dataset.i18n = key;
  back.textContent = t(key);
  back.href = from === "chat" || from === "faq" ? state.previous : "#/faq";
  back.dataset.history = from === "chat" || from === "faq" ? "1" : "";
}

$("back").addEventListener("click", (event) => {
  if ($("back").dataset.history) { event.preventDefault(); history.back(); }
});
$("skip").addEventListener("click", (event) => { event.preventDefault(); $("main").focus(); });
$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || state.busy || overLimit()) return;
  $("question").value = "";
  updateHelp();
  ask(question);
});
$("question").addEventListener("keydown", (event) => {
  // Enter sends (Shift+Enter: a new line) with a keyboard; on touch screens Enter is a new line
  // and the Ask button sends. Never while an IME composes, nor while an answer streams.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || touch) return;
  event.preventDefault();
  if (!state.busy) $("ask-form").requestSubmit();
});
$("question").addEventListener("input", updateHelp);
$("stop-button").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
$("new-chat").addEventListener("click", () => {
  newChat();
  if (location.hash !== "#/") history.pushState(null, "", "#/");
  state.rendered = "#/";
  $("question").focus();
});
$("faq-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    history.replaceState(null, "", faqAddress($("faq-search").value.trim(), state.topic));
    state.rendered = location.hash;
    refreshFaq();
  }, 150);
});
$("faq-search").addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") {
    const first = $("faq-results").querySelector("a");
    if (first) { event.preventDefault(); first.focus(); }
  }
});
$("faq-results").addEventListener("keydown", (event) => {
  const links = [...$("faq-results").querySelectorAll("a")];
  const at = links.indexOf(document.activeElement);
  if (at < 0) return;
  if (event.key === "ArrowDown" && at < links.length - 1) { event.preventDefault(); links[at + 1].focus(); }
  if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? links[at - 1] : $("faq-search")).focus(); }
  if (event.key === "Escape") $("faq-search").focus();
});
$("ask-instead").addEventListener("click", () => {
  const question = $("faq-search").value.trim();
  location.hash = "#/";
  newChat();
  ask(question);
});
$("search-open").addEventListener("click", openSearch);
document.addEventListener("keydown", (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName) || document.activeElement.isContentEditable;
  if ((event.key === "k" || event.key === "K") && (event.ctrlKey || event.metaKey)) { event.preventDefault(); openSearch(); }
  else if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) { event.preventDefault(); openSearch(); }
});
$("lang-switch").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("dockfaq-lang", state.lang);
  applyLanguage();
  const where = parse(location.hash || "#/");
  if (where.view === "faq") refreshFaq();
  if (where.view === "entry") showEntry(where.id);
  if (where.view === "missing") showMissing(t("missingPage", where.path));
});
const online = () => { $("offline").hidden = navigator.onLine; };
window.addEventListener("online", online);
window.addEventListener("offline", online);
window.addEventListener("hashchange", route);
window.addEventListener("popstate", route);
if ("scrollRestoration" in history) history.scrollRestoration = "manual";  // route() restores it
online();
applyLanguage();
drawRecent();
route();
