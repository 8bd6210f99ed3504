// OrderBot sandbox page. It only draws what the server says and posts what the person does: every answer,
// alert and notice comes back through the bot's pipeline, outbox and sandbox channel (GET /sandbox/feed).
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const $ = (sel, root = document) => root.querySelector(sel);
const S = { me: null, conv: null, after: 0, epoch: boot.epoch, items: [], unread: {}, waiting: {}, tab: "cockpit",
  loaded: false, clicked: {} };
// A pressed card button is greyed out for the person who pressed it, as in their own WeCom client: someone who
// switches identity in the same tab sees the card as they would (a refused click leaves it pressable for others).
const clickedKey = (item) => `${S.me ? S.me.id : ""}|${item.id}`;
const KEY = "orderbot.sandbox.as";
// WeCom groups served by the AI bot (智能机器人): the page shows the JSON the bot answered WeCom with.
const AIBOT = boot.aibot || { name: "OrderBot", groups: [] };
const isAibot = (conv) => !!conv && conv.startsWith("group:") && AIBOT.groups.includes(conv.slice(6));

// --- small helpers ------------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false)
    el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
const newId = () => (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
  : `${Date.now().toString(16)}-${Math.random().toString(16).slice(2, 12)}`;

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) };
  let resp, data = null;
  try { resp = await fetch(path, init); } catch (e) {
    throw new Error("连接不上演示服务器：请确认 orderbot demo 还在运行");
  }
  try { data = await resp.json(); } catch (e) { /* not JSON: reported below */ }
  if (!resp.ok || !data || data.ok === false) {
    if (data && data.request_id) throw new Error(`服务器出错了（编号 ${data.request_id}），请看服务器日志`);
    throw new Error((data && data.error) || `服务器出错了（HTTP ${resp.status}）`);
  }
  return data;
}

function toast(text, error = false) {
  const el = h("div", { class: error ? "toast error" : "toast" }, text);
  const box = $("#toasts");
  box.append(el);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => el.remove(), error ? 7000 : 4500);
}
const fail = (e) => toast(e.message, true);
const person = (id) => boot.people.find((p) => p.id === id);
const nameOf = (id) => (person(id) || {}).name || id;

// --- who am I, and my conversations -------------------------------------------------------------------------
function conversations() {
  if (!S.me) return [];
  if (S.me.customer) return [{ id: S.me.id, name: "OrderBot物流通知", sub: "微信服务号", kind: "wechat" }];
  return [{ id: `user:${S.me.id}`, name: "OrderBot", sub: "应用 · 订单中枢机器人", kind: "bot" },
    ...S.me.groups.map((g) => {
      const n = boot.people.filter((p) => p.groups.includes(g)).length + 1;
      return isAibot(`group:${g}`)
        ? { id: `group:${g}`, name: boot.groups[g], kind: "group", aibot: true,
          sub: `企业微信群 · ${n} 人（含 ${AIBOT.name} 智能机器人，@它才会回答）` }
        : { id: `group:${g}`, name: boot.groups[g], kind: "group", sub: `${n} 人（含 OrderBot）` };
    })];
}

function choose(id) {
  const c = boot.customer;
  S.me = c && id === c.id ? { id: c.id, name: c.name, customer: true, roles: ["客户"], groups: [] } : person(id);
  if (!S.me) { $("#picker").hidden = false; return; }
  localStorage.setItem(KEY, id);
  history.replaceState(null, "", `?as=${encodeURIComponent(id)}`);
  $("#picker").hidden = true;
  document.body.classList.toggle("customer", !!S.me.customer);
  $("#me-avatar").textContent = S.me.customer ? "客" : S.me.name.slice(-2);
  $("#me-name").textContent = S.me.name;
  $("#me-roles").textContent = S.me.roles.join("、");
  $("#membership-note").textContent = S.me.customer ? "客户在微信里收到服务号的发货通知。"
    : S.me.groups.length ? "群聊里发给 OrderBot 的消息，群里所有人都能看到。" : "这个岗位不在任何群里，直接和 OrderBot 对话。";
  S.conv = conversations()[0].id;
  S.unread[S.conv] = 0;
  renderChats(); renderConversation(); renderScannerWho();
  if (S.tab === "scanner") loadPackages();
}

// --- chat list ---------------------------------------------------------------------------------------------
function aibotText(b) {
  if (b.stream) return b.stream.content || "";
  if (b.markdown) return b.markdown.content || "";
  if (b.text) return b.text.content || "";
  if (b.template_card) return (b.template_card.main_title || {}).title || "[卡片]";
  return b.msgtype === "image" ? "[图片]" : "";
}

function preview(item) {
  if (!item) return "";
  if (item.dir === "in") return `${nameOf(item.sender)}：${item.text || item.button || "扫码"}`;
  if (item.kind === "aibot") {
    if (item.via === "card_update") return "[卡片已更新]";
    const first = aibotText(item.body).replace(/^#+\s*/, "").split("\n")[0].replace(/\*\*/g, "");
    return (item.via === "webhook" ? "消息推送：" : "") + first;
  }
  const r = item.reply;
  return (r.card && r.card.title) || r.title || (r.text || "").split("\n")[0] || "[图表]";
}

function renderChats() {
  const list = $("#chats");
  list.replaceChildren(...conversations().map((c) => {
    const last = S.items.filter((i) => i.conv === c.id).pop();
    const n = S.unread[c.id] || 0;
    return h("li", { class: c.id === S.conv ? "active" : "", "data-conv": c.id, onclick: () => openConv(c.id) },
      h("span", { class: `avatar ${c.kind === "group" ? "group" : c.kind === "wechat" ? "wechat" : "bot"}` },
        c.kind === "group" ? c.name.slice(0, 2) : "OB"),
      n ? h("span", { class: "badge" }, n > 99 ? "99+" : n) : null,
      h("div", { class: "meta" }, h("b", {}, c.name, h("small", {}, last ? last.time : "")),
        h("div", { class: "preview" }, last ? preview(last) : c.sub)));
  }));
}

function openConv(conv) {
  S.conv = conv;
  S.unread[conv] = 0;
  renderChats(); renderConversation();
}

// --- the conversation -----------------------------------------------------------------------------------------
function richText(text) {
  // WeCom markdown, shown plainly: **bold** kept, <font> tags dropped. Never innerHTML.
  const clean = String(text || "").replace(/<\/?font[^>]*>/g, "");
  return clean.split("**").map((part, i) => (i % 2 ? h("b", {}, part) : part));
}

function table(t) {
  return h("table", {}, h("tr", {}, t.headers.map((x) => h("th", {}, x))),
    t.rows.map((row) => h("tr", {}, row.map((x) => h("td", {}, x)))));
}

// WeCom markdown as the AI bot and the group webhook send it, drawn with DOM nodes (never innerHTML): headings,
// **bold**, > quotes, <font color>, <@userid> mentions and http(s) links.
const INLINE = /\*\*([^*]+)\*\*|<font color="(\w+)">([\s\S]*?)<\/font>|<@([^>\s]+)>|\[([^\]]+)\]\(([^)\s]+)\)/;
function inline(text) {
  const re = new RegExp(INLINE.source, "g"), out = [];
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("b", {}, m[1]));
    else if (m[2] !== undefined) out.push(h("span", { class: `font-${m[2]}` }, inline(m[3])));
    else if (m[4] !== undefined) {
      const p = boot.people.find((x) => x.wecom === m[4]);
      out.push(h("span", { class: "mention" }, `@${p ? p.name : m[4]}`));
    } else out.push(/^https?:\/\//.test(m[6]) ? h("a", { href: m[6], target: "_blank", rel: "noopener" }, m[5]) : m[5]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function markdown(text) {
  return h("div", { class: "md" }, String(text || "").split("\n").map((line) => {
    const head = /^(#{1,6})\s+(.*)$/.exec(line);
    if (head) return h("div", { class: "h" }, inline(head[2]));
    if (line.startsWith(">")) return h("div", { class: "q" }, inline(line.replace(/^>\s?/, "")));
    return line.trim() ? h("div", {}, inline(line)) : h("div", { class: "gap" });
  }));
}

function image(img) {
  return h("img", { class: "chart", src: img.url, alt: "图片", onclick: () => window.open(img.url, "_blank"),
    onload: () => stickToBottom() });
}

function jsonView(body) {
  return h("details", { class: "json" }, h("summary", {}, "企业微信收到的 JSON"),
    h("pre", {}, JSON.stringify(body, null, 1)));
}

function quoteButton(conv, who, text) {
  if (!isAibot(conv)) return null;
  return h("button", { class: "quote-btn", title: "引用这条消息", onclick: () => {
    S.quote = { conv, who, text: String(text).slice(0, 500) };
    renderQuote();
    $("#composer-input").focus();
  } }, "引用");
}

// An AI-bot template card (button_interaction) as last updated for me: an update_template_card with `userids`
// changes it only for those people (a refused click), one without for everybody.
function aibotCard(item, sent, updates) {
  const upd = updates[sent.task_id];
  const c = upd ? upd.body.template_card : sent;
  const title = c.main_title || {};
  return h("div", { class: "card aicard", "data-task": c.task_id || "" },
    h("div", { class: "source" }, h("i"), `${AIBOT.name} · 智能机器人`),
    h("div", { class: "main" }, h("b", {}, title.title || ""), title.desc ? h("div", { class: "desc" }, title.desc) : null,
      c.sub_title_text ? h("div", { class: "desc sub" }, c.sub_title_text) : null,
      (c.horizontal_content_list || []).length ? h("dl", {}, c.horizontal_content_list.flatMap((x) =>
        [h("dt", {}, x.keyname), h("dd", {}, x.value)])) : null),
    (c.button_list || []).length ? h("div", { class: "buttons" }, c.button_list.map((b) =>
      h("button", { class: `s${b.style || 1}`, disabled: b.key === "noop:done", "data-key": b.key,
        onclick: () => click(item, { task_id: c.task_id }, b) }, b.text))) : null,
    upd && upd.body.userids ? h("div", { class: "clicked" }, "仅你可见：卡片按你这次点击的结果更新") : null);
}

function aibotMessage(item, shown, updates) {
  const b = shown.body;
  const webhook = item.via === "webhook";
  const parts = [];
  if (b.stream) {
    const st = b.stream;
    parts.push(h("div", { class: `bubble md-bubble ${st.finish ? "" : "streaming"}` }, markdown(st.content),
      (st.msg_item || []).filter((x) => x.image).map((x) => image(x.image))));
    if (b.template_card) parts.push(aibotCard(item, b.template_card, updates));
  } else if (b.template_card) parts.push(aibotCard(item, b.template_card, updates));
  else if (b.msgtype === "image") parts.push(h("div", { class: "bubble" }, image(b.image)));
  else parts.push(h("div", { class: "bubble md-bubble" }, b.markdown ? markdown(b.markdown.content) : (b.text || {}).content));
  parts.push(jsonView(b));
  return h("div", { class: `msg bot aibot ${webhook ? "webhook" : ""}`, "data-id": item.id, "data-via": item.via },
    h("span", { class: `avatar ${webhook ? "robot" : "bot"}` }, webhook ? "推" : "OB"),
    h("div", { class: "body" },
      h("span", { class: "sender" }, webhook ? "消息推送（群机器人）" : `${AIBOT.name}（智能机器人）`,
        b.stream ? quoteButton(item.conv, AIBOT.name, b.stream.content) : null), parts));
}

function card(item, c, text) {
  const done = S.clicked[clickedKey(item)];
  const sub = text && !text.startsWith(c.title) ? h("div", { class: "desc" }, text) : null;
  // A confirmation card's description is the first 44 characters of its text: show the sentence once.
  return h("div", { class: "card", "data-task": c.task_id || "" },
    h("div", { class: "source" }, h("i"), "OrderBot"),
    h("div", { class: "main" }, h("b", {}, c.title), c.description && !(text && text.startsWith(c.description)) ? h("div", { class: "desc" }, c.description) : null,
      sub, c.fields.length ? h("dl", {}, c.fields.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null),
    c.buttons.length ? h("div", { class: "buttons" }, c.buttons.map((b) =>
      h("button", { class: `s${b.style}`, disabled: !!done, "data-key": b.key,
        onclick: () => click(item, c, b) }, b.text))) : null,
    done ? h("div", { class: "clicked" }, `已点击「${done}」，结果见下方消息`) : null);
}

function botMessage(item) {
  const r = item.reply;
  const parts = [];
  if (r.card) parts.push(card(item, r.card, r.text));
  const hasText = !r.card && (r.title || r.text);
  if (hasText || r.table || r.charts.length || r.files.length) {
    parts.push(h("div", { class: "bubble" },
      !r.card && r.title ? h("div", { class: "title" }, r.title) : null,
      !r.card && r.text ? richText(r.text) : null,
      r.table ? table(r.table) : null,
      r.charts.map((c) => h("img", { class: "chart", src: c.url, alt: c.title, title: c.title,
        onclick: () => window.open(c.url, "_blank"), onload: () => stickToBottom() })),
      r.files.map((f) => h("a", { class: "file", href: f.url, download: f.filename }, `[附件] ${f.filename}`))));
  }
  const inGroup = item.conv.startsWith("group:");
  return h("div", { class: "msg bot", "data-id": item.id },
    h("span", { class: `avatar ${S.me && S.me.customer ? "wechat" : "bot"}` }, "OB"),
    h("div", { class: "body" }, inGroup ? h("span", { class: "sender" }, "OrderBot") : null, parts));
}

function message(item, view) {
  if (item.kind === "aibot") return aibotMessage(item, view.shown, view.updates);
  if (item.dir === "out") return botMessage(item);
  if (item.kind === "click")
    return h("div", { class: "system", "data-id": item.id }, h("span", {}, `${nameOf(item.sender)} 点击了「${item.button}」`));
  const mine = S.me && item.sender === S.me.id;
  const bubble = item.kind === "scan" ? h("div", { class: "bubble scan" }, `扫码：${item.label}`)
    : h("div", { class: "bubble" }, item.quote ? h("div", { class: "quoted" }, item.quote) : null, item.text);
  const quote = quoteButton(item.conv, nameOf(item.sender), item.text);
  return h("div", { class: `msg ${mine ? "me" : "other"}`, "data-id": item.id },
    h("span", { class: "avatar" }, nameOf(item.sender).slice(-2)),
    h("div", { class: "body" }, !mine || quote ? h("span", { class: "sender" }, !mine ? nameOf(item.sender) : null, quote)
      : null, bubble));
}

function renderConversation() {
  const c = conversations().find((x) => x.id === S.conv);
  $("#conv-title").textContent = c ? c.name : "选择一个身份开始";
  $("#conv-sub").textContent = c ? c.sub : "";
  const box = $("#messages");
  let last = 0;
  const nodes = [];
  const here = S.items.filter((i) => i.conv === S.conv);
  // AI bot: a stream is one message whose content its later frames replace; a card shows its latest update.
  const streams = {}, updates = {};
  for (const i of here) {
    if (i.kind !== "aibot") continue;
    if (i.via === "stream") streams[i.body.stream.id] = i;
    const who = i.body.userids;
    if (i.via === "card_update" && (!who || (S.me && who.includes(S.me.wecom)))) updates[i.body.template_card.task_id] = i;
  }
  const drawn = new Set();
  for (const item of here) {
    let view = null;
    if (item.kind === "aibot") {
      if (item.via === "card_update") continue;
      const sid = item.via === "stream" ? item.body.stream.id : null;
      if (sid && drawn.has(sid)) continue;
      if (sid) drawn.add(sid);
      view = { shown: sid ? streams[sid] : item, updates };
    }
    if (item.ts - last > 300) nodes.push(h("div", { class: "day" }, `${item.day} ${item.time}`));
    last = item.ts;
    nodes.push(message(item, view));
  }
  if (!nodes.length && c) nodes.push(h("div", { class: "system" }, h("span", {},
    c.kind === "wechat" ? "还没有通知：让仓库扫这位客户的包裹，发货通知会出现在这里" : "还没有消息，试试下面的示例")));
  box.replaceChildren(...nodes);
  box.scrollTop = box.scrollHeight;
  $("#composer").classList.toggle("readonly", !!(S.me && S.me.customer));
  const aibot = isAibot(S.conv);
  $("#composer-input").placeholder = aibot ? `企业微信群：@${AIBOT.name} 提问它才会收到，不 @ 就只是群聊`
    : S.conv && S.conv.startsWith("group:") ? "@OrderBot 发消息（群里所有人可见）"
      : "输入消息，回车发送（Shift+回车换行）";
  const examples = ((S.me && S.me.examples) || []).map((e) => (aibot ? `@${AIBOT.name} ${e}` : e));
  if (aibot && S.quote && S.quote.conv === S.conv) examples.unshift(`@${AIBOT.name} 这单到哪了`);
  $("#examples").replaceChildren(...examples.map((e) => h("button", { onclick: () => send(e) }, e)));
  renderQuote();
  showTyping();
}

function renderQuote() {
  const bar = $("#quote-bar");
  const q = S.quote && S.quote.conv === S.conv ? S.quote : null;
  bar.hidden = !q;
  if (q) bar.replaceChildren(h("span", {}, `引用 ${q.who}：${q.text.replace(/\s+/g, " ").slice(0, 60)}`),
    h("button", { title: "取消引用", onclick: () => { S.quote = null; renderConversation(); } }, "×"));
}

function stickToBottom() { const box = $("#messages"); box.scrollTop = box.scrollHeight; }

function showTyping() {
  const since = S.waiting[S.conv];
  $("#typing").hidden = !(since && Date.now() - since < 20000);
}

// --- sending: messages, clicks, scans -------------------------------------------------------------------
async function send(text) {
  text = (text || "").trim();
  if (!text || !S.me || S.me.customer) return;
  const conv = S.conv;
  const body = { user: S.me.id, conv, text, msg_id: newId() };
  if (isAibot(conv) && S.quote && S.quote.conv === conv) body.quote = S.quote.text;
  try {
    const r = await api("/sandbox/message", body);
    $("#composer-input").value = "";
    if (body.quote) { S.quote = null; renderQuote(); }
    if (r.heard === false) toast(`没有 @${AIBOT.name}：在企业微信群里，机器人只收到 @ 它的消息，这条只是群聊`);
    else S.waiting[conv] = Date.now();
    await poll();
  } catch (e) { fail(e); }
}

async function click(item, c, b) {
  try {
    await api("/sandbox/card", { user: S.me.id, conv: item.conv, key: b.key, text: b.text, task_id: c.task_id,
      msg_id: newId() });
    if (!isAibot(item.conv)) { S.clicked[clickedKey(item)] = b.text; S.waiting[item.conv] = Date.now(); }
    await poll();
    renderConversation();
  } catch (e) { fail(e); }
}

async function scan(label) {
  if (!S.me || !S.me.scanner) return toast("扫码枪只给仓库岗位用：请切换到仓库打包员或值班组长", true);
  const out = $("#scan-result");
  try {
    const r = await api("/sandbox/scan", { user: S.me.id, label, msg_id: newId(), station: null });
    out.hidden = false;
    out.textContent = r.duplicate ? "这次扫码已经处理过" : r.answer;
    out.className = r.outcome === "ok" ? "" : "bad";
    await Promise.all([loadPackages(), poll(), loadCockpit()]);
  } catch (e) { fail(e); }
}

// --- the feed -------------------------------------------------------------------------------------------------
async function poll() {
  let data;
  try { data = await api(`/sandbox/feed?after=${S.after}`); } catch (e) { return; }
  if (data.epoch !== S.epoch) { // the server restarted: start over
    Object.assign(S, { epoch: data.epoch, after: 0, items: [], unread: {} });
    return poll();
  }
  clockView(data.clock);
  if (!data.items.length) { showTyping(); return; }
  const mine = new Set(conversations().map((c) => c.id));
  const elsewhere = {};
  let here = false, fresh = false;
  for (const item of data.items) {
    if (item.id <= S.after) continue;
    S.items.push(item);
    S.after = item.id;
    if (item.dir === "out") { delete S.waiting[item.conv]; fresh = true; }
    if (!mine.has(item.conv)) continue;
    if (item.conv === S.conv) { here = true; continue; }
    if (item.kind === "aibot" && (item.via === "card_update"
      || (item.via === "stream" && S.items.some((o) => o !== item && o.via === "stream" && o.body.stream.id === item.body.stream.id)))) continue;
    if (S.loaded) {
      S.unread[item.conv] = (S.unread[item.conv] || 0) + 1;
      if (item.dir === "out") elsewhere[item.conv] = (elsewhere[item.conv] || 0) + 1;
    }
  }
  const news = conversations().filter((c) => elsewhere[c.id]).map((c) => `${c.name} ${elsewhere[c.id]} 条`);
  if (news.length) toast(`新消息：${news.join("、")}`);
  if (S.items.length > 1500) S.items = S.items.slice(-1200);
  S.loaded = true;
  if (fresh && S.tab === "cockpit") loadCockpit(); // something happened: the cockpit may have moved
  renderChats();
  if (here) renderConversation(); else showTyping();
}

// --- clock and weather -------------------------------------------------------------------------------------
function clockView(c) {
  if (!c) return;
  $("#clock-now").textContent = c.text;
  $("#clock-ahead").textContent = c.ahead ? `（${c.ahead}）` : "";
  document.querySelectorAll("[data-clock]").forEach((b) => { b.hidden = !c.adjustable; });
}

async function jump(kind, button) {
  const buttons = document.querySelectorAll("[data-clock]");
  buttons.forEach((b) => { b.disabled = true; });
  const label = button.textContent;
  button.textContent = "快进中…";
  try {
    const r = await api("/sandbox/clock", { jump: kind });
    clockView(r.clock);
    const ok = r.ran.filter((x) => x.outcome === "ok").map((x) => x.name);
    const bad = r.ran.filter((x) => x.outcome !== "ok");
    toast(`已快进到 ${r.clock.text}` + (ok.length ? `；已运行：${ok.join("、")}` : ""));
    bad.forEach((x) => toast(`${x.name} 运行失败：${x.error || x.outcome}`, true));
    await Promise.all([poll(), loadCockpit()]);
  } catch (e) { fail(e); } finally {
    buttons.forEach((b) => { b.disabled = false; });
    button.textContent = label;
  }
}

function weatherView(w) {
  const b = $("#weather-toggle");
  b.hidden = !w.demo;
  b.textContent = w.alert ? `⚠ ${w.alert}（点击解除）` : "晴（点击发布红色预警）";
  b.classList.toggle("alert", !!w.alert);
  b.dataset.alert = w.alert ? "1" : "";
}

async function toggleWeather() {
  try {
    const r = await api("/sandbox/weather", { alert: !$("#weather-toggle").dataset.alert });
    weatherView(r.weather);
    toast(r.weather.alert ? `已发布${r.weather.alert}：下一批快递交接会暂停，点「到下一批快递交接」看看`
      : "预警已解除：下一批快递交接会照常发运");
  } catch (e) { fail(e); }
}

// --- right panel: cockpit and scanner ----------------------------------------------------------------------
async function loadCockpit() {
  let d;
  try { d = await api("/sandbox/cockpit"); } catch (e) { return; }
  const max = Math.max(1, ...d.stages.map((s) => s.orders));
  $("#stages").replaceChildren(...d.stages.map((s) => h("div", { class: "stage", "data-stage": s.code },
    h("span", {}, s.name),
    h("span", { class: "bar" }, h("i", { style: `width:${(100 * (s.orders - s.stuck)) / max}%` }),
      h("i", { class: "stuck", style: `width:${(100 * s.stuck) / max}%` })),
    h("span", { class: "n" }, `${s.orders}单`, s.stuck ? h("em", {}, ` · 超时${s.stuck}`) : null))));
  $("#delays").replaceChildren(...(d.delays.length ? d.delays.map((x) => h("li", {}, x.sentence))
    : [h("li", {}, "近7天没有记录到延迟")]));
  $("#alert-counts").textContent = `触发中 ${d.firing} · 已知悉 ${d.acknowledged}`;
  $("#status-lines").replaceChildren(
    ...d.paused.map((p) => h("div", {}, `${p.warehouse}仓快递交接已暂停（${p.reason}）：等「恢复发运」或预警解除`)),
    ...d.frozen.map((f) => h("div", {}, `${f} 渠道已冻结：新订单进入待审核`)));
  $("#alerts").replaceChildren(...(d.alerts.length ? d.alerts.map((a) => h("li", { class: a.state },
    h("b", {}, `【${a.rule}】`), a.title, a.state === "acknowledged" ? `（${nameOf(a.acked_by)} 已知悉）` : ""))
    : [h("li", { class: "acknowledged" }, "没有正在触发的告警（规则每5分钟检查一次，快进时间试试）")]));
}

function renderScannerWho() {
  const who = $("#scanner-who");
  if (S.me && S.me.scanner) {
    who.textContent = `${S.me.name} 的企业微信扫码枪（扫码推事件，工位 sandbox-pack-1）。点「扫码」就像扫了包裹上的二维码。`;
    return;
  }
  const packer = boot.people.find((p) => p.scanner);
  who.replaceChildren("扫码枪是仓库岗位的工具。",
    packer ? h("button", { onclick: () => choose(packer.id) }, `切换到 ${packer.name}（${packer.roles.join("、")}）`) : "");
}

function pkgRow(p) {
  return h("li", { class: `pkg ${p.demo_customer ? "mine" : ""}`, "data-order": p.order_no },
    h("b", {}, `${p.order_no} · 包裹 ${p.package_no}/${p.packages}`),
    p.demo_customer ? h("span", { class: "tag" }, "演示客户") : null,
    p.hazard ? h("span", { class: "haz" }, p.hazard) : null,
    h("div", {}, `${p.sku} ${p.product} · ${p.customer} · ${p.stage}`),
    h("div", { class: "acts" },
      h("button", { "data-scan": "good", onclick: () => scan(p.labels.good) }, "扫码"),
      h("button", { "data-scan": "wrong_sku", onclick: () => scan(p.labels.wrong_sku) }, "贴错SKU的标签"),
      h("button", { "data-scan": "damaged", onclick: () => scan(p.labels.damaged) }, "标签损坏")));
}

async function loadPackages() {
  let d;
  try { d = await api("/sandbox/packages"); } catch (e) { $("#packages").replaceChildren(h("li", {}, e.message)); return; }
  $("#packages").replaceChildren(...(d.waiting.length ? d.waiting.map(pkgRow) : [h("li", { class: "note" }, "打包台没有待扫的包裹")]));
  $("#scanned").replaceChildren(...(d.scanned.length ? d.scanned.map((p) => h("li", { class: "pkg", "data-order": p.order_no },
    h("b", {}, `${p.order_no} · 包裹 ${p.package_no}`), ` ${p.sku} · ${p.at} ${nameOf(p.by)} 已扫`,
    h("div", { class: "acts" }, h("button", { "data-scan": "repeat", onclick: () => scan(p.label) }, "再扫一次"))))
    : [h("li", { class: "note" }, "还没有扫过")]));
}

function showTab(tab) {
  S.tab = tab;
  document.querySelectorAll("[data-tab]").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  $("#cockpit").hidden = tab !== "cockpit";
  $("#scanner").hidden = tab !== "scanner";
  if (tab === "scanner") loadPackages(); else loadCockpit();
}

// --- wiring ---------------------------------------------------------------------------------------------------
document.querySelectorAll("[data-person]").forEach((b) => b.addEventListener("click", () => choose(b.dataset.person)));
["#switch-person", "#me-avatar", "#rail-switch"].forEach((s) => $(s).addEventListener("click", () => { $("#picker").hidden = false; }));
$("#picker").addEventListener("click", (e) => { if (e.target.id === "picker" && S.me) $("#picker").hidden = true; });
$("#composer-send").addEventListener("click", () => send($("#composer-input").value));
$("#composer-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(e.target.value); }
});
document.querySelectorAll("[data-clock]").forEach((b) => b.addEventListener("click", () => jump(b.dataset.clock, b)));
$("#weather-toggle").addEventListener("click", toggleWeather);
document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
$("#manual-scan").addEventListener("click", () => scan($("#manual-label").value));

weatherView(boot.weather);
clockView(boot.clock);
choose(boot.as || localStorage.getItem(KEY) || "");
poll().then(() => { if (S.me) renderConversation(); });
loadCockpit();
setInterval(poll, 1000);
setInterval(() => { if (!document.hidden) (S.tab === "cockpit" ? loadCockpit : loadPackages)(); }, 4000);
