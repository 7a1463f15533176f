/* kefu agent console: the handoff queue, a conversation with kefu's suggested reply, claim / send / resolve,
   feedback on the suggestion, and help-center search. Inside Chatwoot (a Dashboard App) it asks the parent
   frame for the conversation ('chatwoot-dashboard-app:fetch-info', answered with an 'appContext' event)
   and shows kefu's suggestion for it. The agent key lives in sessionStorage only. */
(function () {
  "use strict";
  var T = {
    zh: {
      title: "kefu 客服台", report: "周报", learning: "知识维护", signout: "退出", signinTitle: "客服登录",
      keyLabel: "客服 API key", signin: "登录",
      keyNote: "key 只保存在本浏览器标签页的会话中，关闭标签页即清除。", queue: "队列", tabOpen: "待处理", tabMine: "我的",
      tabAll: "全部", empty: "没有会话", pick: "从左侧选择一个会话。", claim: "认领", conversation: "对话",
      suggestion: "建议回复", reply: "回复", sendResolve: "发送并结束", sendOnly: "仅发送（不结束）", copy: "复制",
      discard: "弃用建议", citations: "引用", similar: "相似的已解决工单", search: "搜索帮助中心", go: "搜索",
      chatwootTitle: "Chatwoot 会话", user: "用户", assistant: "助手", agent: "客服", waiting: "{n} 条新消息",
      status_open: "待处理", status_claimed: "处理中", status_resolved: "已解决", claimedBy: "{who} 已认领",
      priority: "优先级", sentiment: "情绪", category: "分类", reason: "原因", loading: "正在生成建议…",
      sent: "已发送给用户。", resolved: "已发送并结束，之后由助手回答。", discarded: "已弃用建议。", copied: "已复制。",
      noKey: "请输入 key。", badRole: "这个 key 的角色是 {role}，客服台需要 agent 或 admin。", none: "无",
      ago: "{n} 分钟前", agoH: "{n} 小时前", contact: "联系人", by: "客服", noMessages: "这个会话还没有用户消息。",
      resolution: "处理结果", confidence: "置信度",
      summary: "转人工（{reason}）。用户（情绪：{sentiment}）问：{question}{turns}。{articles}", summaryTurns: "（共 {n} 轮）",
      summaryArticles: "相关资料：{titles}。", summaryNoArticles: "未找到相关资料。", titleSeparator: "、",
      alone_answer: "助手自己会回答（{reason}）", alone_handoff: "助手自己会转人工（{reason}）",
      offerNote: "kefu 的建议（你已开始输入，没有替换你写的内容）：", insert: "插入建议",
      offered: "建议已生成，见回复框下方。", taken: "这个会话已被 {who} 认领。", takenResolved: "这个会话已经结束。",
      err401: "key 无效或已吊销，请重新登录。", err403: "这个 key 无权执行此操作。", err404: "找不到这个会话，可能已被删除。",
      err409: "操作冲突：会话状态已变化，已刷新。", err429: "请求太频繁，请稍后再试。", err503: "服务繁忙，请稍后再试。",
      errOther: "出错了（{status}），请稍后再试。", errNet: "网络错误，请检查连接后重试。"
    },
    en: {
      title: "kefu console", report: "Weekly report", learning: "Curated answers & drafts", signout: "Sign out",
      signinTitle: "Agent sign-in", keyLabel: "Agent API key", signin: "Sign in",
      keyNote: "The key is kept in this browser tab's session only and is gone when the tab closes.", queue: "Queue",
      tabOpen: "Open", tabMine: "Mine", tabAll: "All", empty: "No conversations", pick: "Pick a conversation on the left.",
      claim: "Claim", conversation: "Conversation", suggestion: "Suggested reply", reply: "Reply",
      sendResolve: "Send and resolve", sendOnly: "Send (keep open)", copy: "Copy", discard: "Discard suggestion",
      citations: "Citations", similar: "Similar resolved tickets", search: "Search the help center", go: "Search",
      chatwootTitle: "Chatwoot conversation", user: "User", assistant: "Assistant", agent: "Agent", waiting: "{n} new",
      status_open: "open", status_claimed: "claimed", status_resolved: "resolved", claimedBy: "claimed by {who}",
      priority: "priority", sentiment: "sentiment", category: "category", reason: "reason", loading: "Drafting a suggestion…",
      sent: "Sent to the user.", resolved: "Sent and resolved; the assistant answers again.", discarded: "Suggestion discarded.",
      copied: "Copied.", noKey: "Enter a key.", badRole: "This key's role is {role}; the console needs agent or admin.",
      none: "none", ago: "{n} min ago", agoH: "{n} h ago", contact: "Contact", by: "Agent",
      noMessages: "No message from the user in this conversation yet.", resolution: "Resolution",
      summary: "Handoff ({reason}). The user ({sentiment}) asks: {question}{turns}. {articles}",
      summaryTurns: " ({n} user turns so far)", summaryArticles: "Related articles: {titles}.",
      summaryNoArticles: "No related article found.", titleSeparator: "; ",
      confidence: "confidence", alone_answer: "on its own kefu would answer ({reason})",
      alone_handoff: "on its own kefu would hand off ({reason})",
      offerNote: "kefu's suggestion (you had started typing, so your text was kept):", insert: "Insert suggestion",
      offered: "Suggestion ready, below the reply box.", taken: "{who} has already claimed this conversation.",
      takenResolved: "This conversation is already resolved.",
      err401: "The key is unknown or revoked; sign in again.", err403: "This key may not do that.",
      err404: "This conversation was not found; it may have been removed.",
      err409: "Conflict: the conversation changed and has been refreshed.", err429: "Too many requests; try again shortly.",
      err503: "The service is busy; try again shortly.", errOther: "Something went wrong ({status}); try again.",
      errNet: "Network error; check the connection and try again."
    }
  };
  // The codes the API sends (reason, priority, sentiment, category), as the desk reads them.
  var LABELS = {
    zh: {
      reason: { stolen_funds: "资金被盗", secret_shared: "泄露了助记词或私钥", compensation: "要求赔偿",
                human_requested: "要求人工", account_lookup: "查具体交易或账户", out_of_scope: "超出服务范围",
                low_confidence: "把握不足", no_answer: "无法回答", no_sources: "帮助中心没有资料",
                unsafe_answer: "答案未通过安全检查", llm_unavailable: "模型不可用", timeout: "回答超时",
                grounded: "有依据", quoted: "引用帮助中心", curated: "策展答案", scam_warning: "诈骗提醒" },
      priority: { urgent: "紧急", high: "高", normal: "普通", low: "低" },
      sentiment: { negative: "负面", neutral: "平静", positive: "正面" },
      category: { wallet: "钱包", transfers: "转账", fees: "手续费", approvals: "授权", "dapp-defi": "DApp / DeFi",
                  "swap-bridge": "兑换 / 跨链", nft: "NFT", "hardware-watch": "硬件 / 观察钱包", multisig: "多签",
                  security: "安全", app: "App", support: "客服" }
    },
    en: {
      reason: { stolen_funds: "stolen funds", secret_shared: "seed phrase or key shared", compensation: "compensation",
                human_requested: "asked for a human", account_lookup: "a specific transaction or account",
                out_of_scope: "out of scope", low_confidence: "low confidence", no_answer: "no answer",
                no_sources: "nothing in the help center", unsafe_answer: "answer failed the safety check",
                llm_unavailable: "LLM unavailable", timeout: "timed out", grounded: "grounded",
                quoted: "quoted from the help center", curated: "curated answer", scam_warning: "scam warning" },
      priority: { urgent: "urgent", high: "high", normal: "normal", low: "low" },
      sentiment: { negative: "negative", neutral: "calm", positive: "positive" },
      category: { wallet: "wallet", transfers: "transfers", fees: "fees", approvals: "approvals", "dapp-defi": "DApps & DeFi",
                  "swap-bridge": "swap & bridge", nft: "NFTs", "hardware-watch": "hardware & watch wallets",
                  multisig: "multisig", security: "security", app: "app", support: "support" }
    }
  };
  var i18n = null; // window.kefuLang's (lang.js): the language the desk's pages share
  var key = sessionStorage.getItem("kefu.agentKey") || "";
  var params = new URLSearchParams(location.search);
  var embedded = params.get("mode") === "chatwoot" || (window.self !== window.top && params.get("mode") !== "standalone");
  var me = null, filter = "open", current = null, suggestion = null, suggestionUsed = false, lastId = 0;
  // replyEdited: the agent has typed in the reply box (a suggestion then never replaces it);
  // suggestionIn: the suggestion is in the box (filled in, or inserted by the agent).
  var replyEdited = false, suggestionIn = false;
  var pollToken = 0, queueTimer = null, chatwootContext = null;
  var $ = function (id) { return document.getElementById(id); };

  function t(name, vars) {
    return i18n.t(name, vars);
  }
  function label(kind, code) {
    var names = LABELS[i18n.lang()][kind] || {};
    return code == null || code === "" ? t("none") : names[code] || code;
  }
  // The handoff's summary line in the console's language, from its parts (the stored summary
  // is in the user's); the question and the article titles stay as written. A handoff stored
  // before the parts were kept has its summary only.
  function summaryLine(h) {
    var p = h.summary_parts;
    if (!p) return h.summary || "";
    return t("summary", {
      reason: label("reason", p.reason), sentiment: label("sentiment", p.sentiment), question: p.question,
      turns: p.turns > 1 ? t("summaryTurns", { n: p.turns }) : "",
      articles: p.titles && p.titles.length ? t("summaryArticles", { titles: p.titles.join(t("titleSeparator")) }) : t("summaryNoArticles")
    });
  }
  // What the user asked: the question that opened the handoff (its last user turn).
  function question(h) {
    var turns = (h.conversation || []).filter(function (m) { return m.role === "user" && m.text; });
    return turns.length ? turns[turns.length - 1].text : (h.summary || "");
  }
  // An error as the desk reads it, in the console's language (the server's words are English).
  function errorText(e) {
    if (!e || !e.status) return t("errNet");
    var own = T[i18n.lang()]["err" + e.status];
    return own || t("errOther", { status: "HTTP " + e.status });
  }
  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var locale = i18n.lang() === "zh" ? "zh-CN" : "en-GB";
    var time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    return d.toDateString() === new Date().toDateString() ? time
      : d.toLocaleDateString(locale, { month: "short", day: "numeric" }) + " " + time;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }
  // After a language switch (lang.js has rewritten the [data-t] texts): what is drawn from data.
  function relabel() {
    if (me) renderQueue(lastQueue);
    if (current) renderDetail(current);
  }

  function api(path, options) {
    options = options || {};
    var headers = { "Content-Type": "application/json" };
    if (key) headers.Authorization = "Bearer " + key;
    return fetch(path, { method: options.method || "GET", headers: headers, signal: options.signal,
                         body: options.body ? JSON.stringify(options.body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) { var e = new Error((body.error && body.error.message) || ("HTTP " + r.status)); e.status = r.status; throw e; }
          return body;
        });
      });
  }

  // --- sign-in ---------------------------------------------------------------------------
  function signIn() {
    return api("/v1/me").then(function (who) {
      if (who.role !== "agent" && who.role !== "admin") throw new Error(t("badRole", { role: who.role }));
      me = who;
      if (key) sessionStorage.setItem("kefu.agentKey", key);
      $("signin").hidden = true; $("app").hidden = false; $("signout").hidden = !key;
      $("who").textContent = who.label + " (" + who.role + ")";
      // Curated answers and drafts are an admin's work: an agent's key would only be refused there.
      document.querySelector('a[href="/console/learning"]').hidden = who.role !== "admin";
      if (embedded) startChatwoot(); else { loadQueue(); queueTimer = setInterval(loadQueue, 5000); }
    });
  }
  function showSignIn(message) {
    $("signin").hidden = false; $("app").hidden = true;
    $("signin-error").textContent = message || "";
    $("key").focus();
  }

  // --- queue -----------------------------------------------------------------------------
  var lastQueue = [];
  function loadQueue() {
    var q = filter === "open" ? "?status=open" : filter === "mine" ? "?status=claimed&order=newest" : "?order=newest&limit=100";
    return api("/v1/handoffs" + q).then(function (page) {
      var items = page.items;
      if (filter === "mine") items = items.filter(function (h) { return h.claimed_by === me.label; });
      lastQueue = items;
      renderQueue(items);
    }).catch(function (e) { if (e.status === 401) { signOut(); showSignIn(errorText(e)); } });
  }
  function age(iso) {
    var minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
    return minutes < 90 ? t("ago", { n: minutes }) : t("agoH", { n: Math.round(minutes / 60) });
  }
  // Updated in place, item by item, so a refresh keeps the agent's focus and place in the list.
  function renderQueue(items) {
    var list = $("queue");
    var active = document.activeElement;
    var focusedId = active && active.parentNode === list ? active.getAttribute("data-id") : null;
    var focusedAt = focusedId ? Array.prototype.indexOf.call(list.children, active) : -1;
    var old = {};
    Array.prototype.forEach.call(list.children, function (li) { old[li.getAttribute("data-id")] = li; });
    $("queue-empty").hidden = items.length > 0;
    items.forEach(function (h, i) {
      var li = old[h.id] || queueItem(h.id);
      delete old[h.id];
      fillItem(li, h);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    Object.keys(old).forEach(function (id) { old[id].remove(); });
    if (focusedId && document.activeElement !== active) {
      var again = list.querySelector('li[data-id="' + CSS.escape(focusedId) + '"]') ||
                  list.children[Math.min(focusedAt, list.children.length - 1)];
      if (again) again.focus({ preventScroll: true });
    }
  }
  function queueItem(id) {
    var li = el("li", { tabindex: "0", "data-id": id });
    li.addEventListener("click", function () { openHandoff(id); });
    li.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openHandoff(id); } });
    return li;
  }
  function fillItem(li, h) {
    li.setAttribute("aria-current", String(!!current && current.id === h.id));
    var parts = [i18n.lang(), h.priority, h.reason, h.status, h.waiting, age(h.created_at), question(h)];
    var signature = JSON.stringify(parts);
    if (li.getAttribute("data-shown") === signature) return;  // unchanged: nothing re-announced
    li.setAttribute("data-shown", signature);
    li.textContent = "";
    li.appendChild(el("div", { class: "preview" }, question(h)));
    var line = el("div", { class: "line" });
    line.appendChild(el("span", { class: "badge p-" + h.priority }, label("priority", h.priority)));
    line.appendChild(el("span", { class: "reason" }, label("reason", h.reason)));
    if (h.status !== "open") line.appendChild(el("span", { class: "badge" }, t("status_" + h.status)));
    if (h.waiting) line.appendChild(el("span", { class: "badge new", "aria-label": t("waiting", { n: h.waiting }) }, String(h.waiting)));
    line.appendChild(el("span", { class: "age" }, age(h.created_at)));
    li.appendChild(line);
  }

  // --- one handoff -----------------------------------------------------------------------
  function openHandoff(id) {
    return api("/v1/handoffs/" + encodeURIComponent(id)).then(function (detail) {
      var switched = !current || current.id !== detail.id;
      current = detail;
      renderDetail(detail);
      renderQueue(lastQueue);
      if (switched) {
        suggestion = null; suggestionUsed = false; replyEdited = false; suggestionIn = false;
        $("reply").value = detail.suggested_reply || "";
        $("s-offer").hidden = true; $("claim-status").textContent = ""; $("s-status").textContent = "";
        requestSuggestion(detail.messages, detail.lang, "");
        watch(detail);
      }
      return detail;
    });
  }
  function renderDetail(h) {
    $("pick").hidden = true; $("detail").hidden = false; $("suggest").hidden = false;
    $("d-title").textContent = question(h) || label("reason", h.reason);
    $("d-summary").textContent = summaryLine(h);
    var meta = [t("status_" + h.status), t("priority") + ": " + label("priority", h.priority),
                t("reason") + ": " + label("reason", h.reason), t("sentiment") + ": " + label("sentiment", h.sentiment),
                t("category") + ": " + label("category", h.category)];
    if (h.claimed_by) meta.push(t("claimedBy", { who: h.claimed_by }));
    $("d-meta").textContent = meta.join(" · ");
    $("claim").hidden = h.status !== "open";
    var resolved = h.status === "resolved";
    $("send-resolve").disabled = resolved; $("send-only").disabled = resolved;
    var list = $("messages");
    list.textContent = "";
    h.messages.forEach(function (m) { list.appendChild(messageItem(m)); });
    lastId = h.messages.length ? h.messages[h.messages.length - 1].id : 0;
  }
  function messageItem(m) {
    var li = el("li", { class: m.role });
    var head = el("span", { class: "role" }, t(m.role) + (m.author ? " · " + m.author : "") + " · ");
    head.appendChild(el("time", { datetime: m.created_at }, clock(m.created_at)));
    li.appendChild(head);
    li.appendChild(document.createTextNode(m.text));
    return li;
  }
  // New messages of the open conversation as soon as they are stored (a long-poll).
  function watch(h) {
    var token = ++pollToken;
    (function loop() {
      if (token !== pollToken || !current) return;
      api("/v1/conversations/" + encodeURIComponent(h.conversation_id) + "/messages?wait=25&after=" + lastId)
        .then(function (page) {
          if (token !== pollToken) return;
          page.messages.forEach(function (m) { $("messages").appendChild(messageItem(m)); lastId = Math.max(lastId, m.id); });
          var h = page.handoff;
          // Another agent claimed or resolved it: show the handoff as it is now.
          var changed = h && current && h.id === current.id && (h.status !== current.status || h.claimed_by !== current.claimed_by);
          if (page.messages.length || changed) loadQueue();
          if (changed) openHandoff(current.id).catch(function () { /* the next poll tries again */ });
          loop();
        })
        .catch(function () { setTimeout(loop, 3000); });
    })();
  }

  // --- suggestion --------------------------------------------------------------------------
  function requestSuggestion(messages, lang_, subject) {
    var turns = messages.filter(function (m) { return m.text && m.text.trim(); })
      .map(function (m) { return { role: m.role === "user" ? "user" : "agent", text: m.text.slice(0, 8000) }; })
      .slice(-100);
    $("citations").textContent = ""; $("similar").textContent = "";
    if (!turns.some(function (m) { return m.role === "user"; })) { $("s-status").textContent = t("noMessages"); return; }
    $("s-status").textContent = t("loading");
    var body = { conversation: turns, subject: subject || "" };
    if (lang_ === "zh" || lang_ === "en") body.lang = lang_;
    var forId = current && current.id;
    return api("/v1/suggest", { method: "POST", body: body }).then(function (s) {
      if (current && current.id !== forId) return;
      suggestion = s; suggestionUsed = false;
      if (!replyEdited || !$("reply").value.trim()) {
        $("reply").value = s.reply; suggestionIn = true; replyEdited = false;
        $("s-offer").hidden = true;
        $("s-status").textContent = "";
      } else {
        // Never over what the agent wrote: offer it instead.
        suggestionIn = false;
        $("s-offer-text").textContent = s.reply;
        $("s-offer").hidden = false;
        $("s-status").textContent = t("offered");
      }
      $("s-meta").textContent = [t("alone_" + s.action, { reason: label("reason", s.reason) }),
        t("confidence") + " " + s.confidence.toFixed(2), t("priority") + ": " + label("priority", s.priority),
        t("sentiment") + ": " + label("sentiment", s.sentiment)].join(" · ");
      renderRefs(s);
    }).catch(function (e) { $("s-status").textContent = errorText(e); });
  }
  function renderRefs(s) {
    var cites = $("citations");
    cites.textContent = "";
    s.citations.forEach(function (c) {
      var li = el("li", { value: String(c.n) });
      var a = el("a", { href: c.url || "#", target: "_blank", rel: "noopener noreferrer" }, c.title || c.source);
      li.appendChild(a);
      li.appendChild(el("span", { class: "snippet" }, c.snippet));
      cites.appendChild(li);
    });
    var similar = $("similar");
    similar.textContent = "";
    s.similar_tickets.forEach(function (tk) {
      var li = el("li");
      li.appendChild(el("strong", {}, tk.subject));
      li.appendChild(el("span", { class: "snippet" }, t("resolution") + ": " + (tk.resolution || t("none"))));
      similar.appendChild(li);
    });
  }
  function feedbackFor(text) {
    if (!suggestion || suggestionUsed) return Promise.resolve();
    suggestionUsed = true;
    var same = text.trim() === suggestion.reply.trim();
    // A suggestion the agent never took in (they wrote their own) counts as discarded.
    var body = !suggestionIn ? { answer_id: suggestion.answer_id, kind: "discarded" }
             : same ? { answer_id: suggestion.answer_id, kind: "sent_as_is" }
             : { answer_id: suggestion.answer_id, kind: "edited", final_text: text };
    return api("/v1/feedback", { method: "POST", body: body });
  }
  function send(resolve) {
    var text = $("reply").value.trim();
    if (!text || !current) return;
    var id = encodeURIComponent(current.id);
    var call = resolve ? api("/v1/handoffs/" + id + "/resolve", { method: "POST", body: { final_reply: text } })
                       : api("/v1/handoffs/" + id + "/messages", { method: "POST", body: { text: text } });
    $("send-resolve").disabled = true; $("send-only").disabled = true;
    return call.then(function () { return feedbackFor(text); })
      .then(function () {
        $("s-status").textContent = resolve ? t("resolved") : t("sent");
        if (!resolve) { $("reply").value = ""; replyEdited = false; suggestionIn = false; $("s-offer").hidden = true; }
        loadQueue();
        return openHandoff(current.id);
      })
      .catch(function (e) { $("s-status").textContent = errorText(e); $("send-resolve").disabled = false; $("send-only").disabled = false; });
  }

  // --- Chatwoot Dashboard App --------------------------------------------------------------
  function startChatwoot() {
    $("app").classList.add("embedded");
    $("pick").hidden = true; $("chatwoot").hidden = false; $("suggest").hidden = false;
    $("send-resolve").hidden = true; $("send-only").hidden = true; $("copy").hidden = false;
    window.addEventListener("message", function (event) {
      if (typeof event.data !== "string") return;
      var payload;
      try { payload = JSON.parse(event.data); } catch (e) { return; }
      if (!payload || payload.event !== "appContext" || !payload.data) return;
      chatwootContext = payload.data;
      showChatwoot(payload.data);
    });
    window.parent.postMessage("chatwoot-dashboard-app:fetch-info", "*");
  }
  function showChatwoot(context) {
    var conversation = context.conversation || {};
    var contact = context.contact || (conversation.meta && conversation.meta.sender) || {};
    var agent = context.currentAgent || {};
    $("cw-meta").textContent = ["#" + (conversation.id || "?"), t("contact") + ": " + (contact.name || contact.email || "?"),
      t("by") + ": " + (agent.name || "?")].join(" · ");
    // message_type 0 is the contact's (incoming), 1 an agent's (outgoing); 2 activity and 3 template,
    // and private notes, are not part of what the customer and the agent said.
    var messages = (conversation.messages || [])
      .filter(function (m) { return (m.message_type === 0 || m.message_type === 1) && !m.private && m.content; })
      .map(function (m) { return { role: m.message_type === 0 ? "user" : "agent", text: m.content }; });
    var subject = (conversation.additional_attributes && conversation.additional_attributes.mail_subject) || "";
    current = null;
    requestSuggestion(messages, null, subject);
  }

  function signOut() {
    key = ""; me = null; current = null; pollToken++;
    sessionStorage.removeItem("kefu.agentKey");
    if (queueTimer) clearInterval(queueTimer);
  }

  document.addEventListener("DOMContentLoaded", function () {
    i18n = window.kefuLang(T, relabel);
    $("signin").addEventListener("submit", function (e) {
      e.preventDefault();
      key = $("key").value.trim();
      if (!key) { showSignIn(t("noKey")); return; }
      signIn().catch(function (err) { key = ""; showSignIn(err.status ? errorText(err) : err.message); });
    });
    $("signout").addEventListener("click", function () { signOut(); location.reload(); });
    document.querySelectorAll("[data-filter]").forEach(function (b) {
      b.addEventListener("click", function () {
        filter = b.getAttribute("data-filter");
        document.querySelectorAll("[data-filter]").forEach(function (x) { x.setAttribute("aria-selected", String(x === b)); });
        loadQueue();
      });
    });
    $("claim").addEventListener("click", function () {
      var id = current.id;
      $("claim").disabled = true; $("claim-status").textContent = "";
      api("/v1/handoffs/" + encodeURIComponent(id) + "/claim", { method: "POST" })
        .then(function () { loadQueue(); return openHandoff(id); })
        .catch(function (e) {
          if (e.status !== 409) { $("claim-status").textContent = errorText(e); return; }
          // Someone was quicker: show the handoff as it is now, and who has it.
          loadQueue();
          return openHandoff(id).then(function (d) {
            $("claim-status").textContent = d.status === "resolved" ? t("takenResolved") : t("taken", { who: d.claimed_by || "?" });
          });
        })
        .catch(function (e) { $("claim-status").textContent = errorText(e); })
        .finally(function () { $("claim").disabled = false; });
    });
    $("reply").addEventListener("input", function () { replyEdited = true; });
    $("insert").addEventListener("click", function () {
      if (!suggestion) return;
      var box = $("reply");
      var start = box.selectionStart, end = box.selectionEnd;
      var before = box.value.slice(0, start);
      var text = (before && !/\n$/.test(before) ? "\n" : "") + suggestion.reply;
      box.setRangeText(text, start, end, "end");
      replyEdited = true; suggestionIn = true;
      $("s-offer").hidden = true; $("s-status").textContent = "";
      box.focus();
    });
    $("send-resolve").addEventListener("click", function () { send(true); });
    $("send-only").addEventListener("click", function () { send(false); });
    $("discard").addEventListener("click", function () {
      // The box is emptied only while it holds the suggestion untouched: the agent's own words stay.
      var clear = function () { if (!replyEdited) $("reply").value = ""; $("s-offer").hidden = true; suggestionIn = false; };
      if (!suggestion || suggestionUsed) { clear(); return; }
      suggestionUsed = true;
      api("/v1/feedback", { method: "POST", body: { answer_id: suggestion.answer_id, kind: "discarded" } })
        .then(function () { clear(); $("s-status").textContent = t("discarded"); })
        .catch(function (e) { $("s-status").textContent = errorText(e); });
    });
    $("copy").addEventListener("click", function () {
      var text = $("reply").value;
      (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject(new Error("clipboard")))
        .then(function () { $("s-status").textContent = t("copied"); }, function () { $("reply").select(); });
      if (suggestion && !suggestionUsed) feedbackFor(text);
    });
    $("search-form").addEventListener("submit", function (e) {
      e.preventDefault();
      api("/v1/search", { method: "POST", body: { query: $("q").value, k: 8 } }).then(function (res) {
        var hits = $("hits");
        hits.textContent = "";
        res.hits.forEach(function (h) {
          var li = el("li");
          li.appendChild(el("a", { href: h.url || "#", target: "_blank", rel: "noopener noreferrer" }, h.title));
          li.appendChild(el("span", { class: "snippet" }, h.snippet));
          hits.appendChild(li);
        });
      }).catch(function (err) { $("hits").textContent = errorText(err); });
    });
    // With a key from this session, or on a server running without keys, no form is needed.
    signIn().catch(function () { key = ""; showSignIn(""); });
  });
})();
