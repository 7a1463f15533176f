/* kefu chat (inside the widget's iframe): asks POST /v1/ask with streamed answers, shows citations,
   handoffs and the agent's replies (long-poll of GET /v1/conversations/{id}/messages), votes on answers,
   asks once per conversation for a 1-5 rating (POST /v1/conversations/{id}/csat) after an answer or
   a resolved handoff, and keeps the conversation in localStorage so it survives a reload (the thread,
   the handoff's state and the rating given are read back from the API). */
(function () {
  "use strict";
  var T = {
    zh: {
      title: "在线客服", switch: "EN", switchLabel: "Switch to English", close: "关闭", label: "你的问题",
      placeholder: "输入问题，Enter 发送", send: "发送",
      hint: "你好，我是钱包助手。请描述你的问题（不要发送助记词或私钥，客服也绝不会索要）。",
      you: "你", bot: "助手", agent: "人工客服", sources: "来源", helpful: "有帮助", notHelpful: "没帮助",
      thanks: "感谢反馈", handoff: "已转人工客服，请稍候，客服回复会显示在这里。",
      claimed: "人工客服 {who} 正在处理你的问题。", resolved: "人工客服已处理完毕，之后由助手回答。",
      error: "出错了：{what}", busy: "系统繁忙，请稍后再试。", thinking: "正在查找答案…",
      newMessages: "{n} 条新消息",
      csatAsk: "这次服务你满意吗？（1 很不满意，5 很满意）", csatComment: "想说点什么（可不填）", csatSend: "提交评分",
      csatScore: "{n} 分", csatThanks: "感谢评分！"
    },
    en: {
      title: "Support chat", switch: "中文", switchLabel: "切换到中文", close: "Close", label: "Your question",
      placeholder: "Type a question, Enter to send", send: "Send",
      hint: "Hi, I'm the wallet assistant. Describe your problem (never send your seed phrase or private key; support never asks for them).",
      you: "You", bot: "Assistant", agent: "Support agent", sources: "Sources", helpful: "Helpful", notHelpful: "Not helpful",
      thanks: "Thanks for the feedback", handoff: "A support agent will take over; their reply will appear here.",
      claimed: "Support agent {who} is on your question.", resolved: "The agent has finished; the assistant answers again.",
      error: "Something went wrong: {what}", busy: "We are busy, please try again in a moment.", thinking: "Looking for an answer…",
      newMessages: "{n} new messages",
      csatAsk: "How satisfied are you? (1 very unhappy, 5 very happy)", csatComment: "Anything to add? (optional)",
      csatSend: "Send rating", csatScore: "{n} of 5", csatThanks: "Thanks for rating us!"
    }
  };
  var params = new URLSearchParams(location.search);
  var key = params.get("key") || "";
  var scope = "kefu:" + (key ? key.slice(0, 20) : "open") + ":";
  var store = {
    get: function (k) { try { return localStorage.getItem(scope + k); } catch (e) { return null; } },
    set: function (k, v) { try { if (v == null) localStorage.removeItem(scope + k); else localStorage.setItem(scope + k, v); } catch (e) { /* private mode */ } }
  };
  var lang = store.get("lang") || params.get("lang") || ((navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en");
  if (lang !== "zh" && lang !== "en") lang = "en";
  // A random id per browser: the conversation is read back only with it (an app key alone is public).
  var user = params.get("user") || store.get("user");
  if (!user) {
    user = "w-" + Array.from(crypto.getRandomValues(new Uint8Array(16)), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    store.set("user", user);
  }
  var conversation = store.get("conversation");
  var lastId = 0;
  var handoff = null;
  var polling = false;
  var $ = function (id) { return document.getElementById(id); };
  var thread, input, send, statusBox, csatBox;
  var csatScore = 0;
  // The conversation's rating as the API has it (null: not rated); the API takes one only.
  var rated = null;

  function t(name, vars) {
    var text = T[lang][name] || name;
    Object.keys(vars || {}).forEach(function (k) { text = text.replace("{" + k + "}", vars[k]); });
    return text;
  }

  function headers(extra) {
    var h = { "Content-Type": "application/json" };
    if (key) h.Authorization = "Bearer " + key;
    return Object.assign(h, extra || {});
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-t]").forEach(function (el) { el.textContent = t(el.getAttribute("data-t")); });
    document.querySelectorAll("[data-t-label]").forEach(function (el) { el.setAttribute("aria-label", t(el.getAttribute("data-t-label"))); });
    document.querySelectorAll("[data-t-placeholder]").forEach(function (el) { el.placeholder = t(el.getAttribute("data-t-placeholder")); });
    document.querySelectorAll("[data-score]").forEach(function (el) { el.setAttribute("aria-label", t("csatScore", { n: el.getAttribute("data-score") })); });
    $("lang").setAttribute("aria-label", t("switchLabel"));
    showHandoff();
  }

  function scrollDown() { thread.scrollTop = thread.scrollHeight; }

  // After the thread shrank (the rating prompt appeared below it): the newest message in view,
  // from its first line when it is taller than the thread.
  function revealLast() {
    scrollDown();
    var last = thread.lastElementChild;
    var above = last ? thread.getBoundingClientRect().top - last.getBoundingClientRect().top : 0;
    if (above > 0) thread.scrollTop -= above + 12;
  }

  function bubble(role, who) {
    var el = document.createElement("div");
    el.className = "msg " + role;
    if (who) {
      var name = document.createElement("span");
      name.className = "who";
      name.textContent = who;
      el.appendChild(name);
    }
    var body = document.createElement("div");
    body.className = "text";
    el.appendChild(body);
    thread.appendChild(el);
    scrollDown();
    return el;
  }

  // Answer text with each [n] a link to its source; built as DOM nodes, never as HTML.
  function renderCited(body, text, citations) {
    body.textContent = "";
    var byN = {};
    (citations || []).forEach(function (c) { byN[c.n] = c; });
    var parts = text.split(/(\[\d+\])/);
    parts.forEach(function (part) {
      var m = /^\[(\d+)\]$/.exec(part);
      var c = m && byN[+m[1]];
      if (c && c.url) {
        var a = document.createElement("a");
        a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer";
        a.textContent = part; a.title = c.title;
        a.setAttribute("aria-label", t("sources") + " " + m[1] + ": " + c.title);
        body.appendChild(a);
      } else {
        body.appendChild(document.createTextNode(part));
      }
    });
  }

  function addSources(el, citations) {
    if (!citations || !citations.length) return;
    var list = document.createElement("ol");
    list.className = "sources";
    list.setAttribute("aria-label", t("sources"));
    citations.forEach(function (c) {
      var li = document.createElement("li");
      li.value = c.n;
      if (c.url) {
        var a = document.createElement("a");
        a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer"; a.textContent = c.title || c.source;
        li.appendChild(a);
      } else {
        li.textContent = c.title || c.source;
      }
      list.appendChild(li);
    });
    el.appendChild(list);
  }

  function addVotes(el, answerId) {
    if (!answerId) return;
    var box = document.createElement("div");
    box.className = "votes";
    [["helpful", "👍", t("helpful")], ["not_helpful", "👎", t("notHelpful")]].forEach(function (v) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = v[1]; b.setAttribute("aria-label", v[2]); b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        fetch("/v1/feedback", { method: "POST", headers: headers(), body: JSON.stringify({ answer_id: answerId, kind: v[0] }) })
          .then(function (r) {
            if (!r.ok) throw new Error(r.status);
            box.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); x.disabled = true; });
            b.title = t("thanks");
          })
          .catch(function (e) { showError(String(e.message || e)); });
      });
      box.appendChild(b);
    });
    el.appendChild(box);
  }

  function showMessage(m) {
    if (m.role === "user") {
      bubble("user").querySelector(".text").textContent = m.text;
    } else if (m.role === "agent") {
      var el = bubble("agent", t("agent") + (m.author ? " · " + m.author : ""));
      el.querySelector(".text").textContent = m.text;
    } else {
      var a = bubble("assistant");
      renderCited(a.querySelector(".text"), m.text, m.citations);
      addSources(a, m.citations);
      addVotes(a, m.answer_id);
    }
    lastId = Math.max(lastId, m.id);
    scrollDown();
  }

  function showHandoff() {
    if (!statusBox) return;
    if (!handoff) { statusBox.hidden = true; return; }
    statusBox.hidden = false;
    statusBox.className = "status" + (handoff.status === "claimed" ? " agent" : "");
    statusBox.textContent = handoff.status === "open" ? t("handoff")
      : handoff.status === "claimed" ? t("claimed", { who: handoff.claimed_by || "" }) : t("resolved");
  }

  function showError(what) {
    statusBox.hidden = false;
    statusBox.className = "status error";
    statusBox.textContent = t("error", { what: what });
  }

  // restored: the page was reloaded, so a resolved handoff is shown as such (as it was before).
  function setHandoff(h, restored) {
    var was = handoff && handoff.status;
    handoff = h && (h.status !== "resolved" || was || restored) ? h : null;
    showHandoff();
    if (handoff && handoff.status !== "resolved") { csatBox.hidden = true; poll(); }
    else if (was && was !== "resolved" && h && h.status === "resolved") askRating();
  }

  // Satisfaction: once per conversation, after an answer or after the agent resolved the handoff.
  function askRating() {
    if (!conversation) { csatBox.hidden = true; return; }
    if (rated) { showRated(rated); return; }
    if (!csatBox.hidden) return;
    csatScore = 0;
    csatBox.querySelectorAll("[data-score]").forEach(function (b) { b.setAttribute("aria-pressed", "false"); b.disabled = false; });
    $("csat-more").hidden = true;
    $("csat-comment").value = "";
    $("csat-ask").textContent = t("csatAsk");
    csatBox.hidden = false;
    revealLast();
  }

  // The rating given, with its score pressed; no second one (the API answers 409 to it).
  function showRated(csat) {
    rated = csat;
    csatBox.querySelectorAll("[data-score]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(Number(b.getAttribute("data-score")) === csat.score));
      b.disabled = true;
    });
    $("csat-more").hidden = true;
    $("csat-ask").textContent = t("csatThanks");
    // Not while a human has the conversation (nothing to rate then, as for the prompt).
    if (csatBox.hidden && !(handoff && handoff.status !== "resolved")) { csatBox.hidden = false; revealLast(); }
  }

  function sendRating() {
    if (!csatScore || !conversation) return;
    var comment = $("csat-comment").value.trim();
    var payload = { score: csatScore, user_id: user };
    if (comment) payload.comment = comment;
    $("csat-send").disabled = true;
    fetch("/v1/conversations/" + encodeURIComponent(conversation) + "/csat", { method: "POST", headers: headers(), body: JSON.stringify(payload) })
      .then(function (r) {
        if (r.ok) return r.json().then(showRated);
        // 409: rated already (in another tab or browser): show that rating, not this one.
        if (r.status === 409) return sync();
        throw new Error(String(r.status));
      })
      .catch(function (e) { showError(String(e.message || e)); })
      .finally(function () { $("csat-send").disabled = false; });
  }

  // The agent's replies: a long-poll that answers as soon as one is stored.
  function poll() {
    if (polling || !conversation) return;
    polling = true;
    var url = "/v1/conversations/" + encodeURIComponent(conversation) + "/messages?wait=25&after=" + lastId + "&user_id=" + encodeURIComponent(user);
    fetch(url, { headers: headers() })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (page) {
        polling = false;
        var fresh = page.messages.filter(function (m) { return m.id > lastId; });
        // The user's own messages are on screen already (sent from here): only the agent's are new.
        fresh.forEach(function (m) { if (m.role === "agent") showMessage(m); else lastId = Math.max(lastId, m.id); });
        var agentReplies = fresh.filter(function (m) { return m.role === "agent"; }).length;
        // The loader shows a badge on the launcher while the panel is closed.
        if (agentReplies) parent.postMessage({ type: "kefu:unread", count: agentReplies }, "*");
        setHandoff(page.handoff);
      })
      .catch(function () { polling = false; setTimeout(poll, 3000); });
  }

  // After an answer: catch up on the ids of what was just stored, and any agent reply meanwhile.
  function sync() {
    if (!conversation) return Promise.resolve();
    return fetch("/v1/conversations/" + encodeURIComponent(conversation) + "/messages?after=" + lastId + "&user_id=" + encodeURIComponent(user), { headers: headers() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (page) {
        if (!page) return;
        page.messages.forEach(function (m) {
          if (m.id <= lastId) return;  // the long-poll got it first
          if (m.role === "agent") showMessage(m); else lastId = Math.max(lastId, m.id);
        });
        setHandoff(page.handoff);
        if (page.csat) showRated(page.csat);
      });
  }

  function restore() {
    if (!conversation) return;
    fetch("/v1/conversations/" + encodeURIComponent(conversation) + "/messages?user_id=" + encodeURIComponent(user), { headers: headers() })
      .then(function (r) {
        if (r.status === 404) { conversation = null; store.set("conversation", null); return null; }
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      })
      .then(function (page) {
        if (!page) return;
        page.messages.forEach(showMessage);
        setHandoff(page.handoff, true);
        // As before the reload: the rating given, or the prompt after a resolved handoff.
        if (page.csat) showRated(page.csat);
        else if (handoff && handoff.status === "resolved") askRating();
      })
      .catch(function (e) { showError(e.message); });
  }

  // Server-sent events from a POST: fetch's body stream, split into events by blank lines.
  function ask(question) {
    var userEl = bubble("user");
    userEl.querySelector(".text").textContent = question;
    var answerEl = bubble("assistant");
    var body = answerEl.querySelector(".text");
    answerEl.setAttribute("aria-busy", "true");
    body.textContent = t("thinking");
    body.classList.add("pending");
    var text = "";
    var final = null;
    send.disabled = true;
    // No lang: the answer follows the language of the question, not of the interface.
    var payload = { question: question, user_id: user, channel: "widget" };
    if (conversation) payload.conversation_id = conversation;
    return fetch("/v1/ask", { method: "POST", headers: headers({ Accept: "text/event-stream" }), body: JSON.stringify(payload) })
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (e) {
            throw new Error(r.status === 503 && e.error && e.error.code === "busy" ? t("busy") : (e.error && e.error.message) || String(r.status));
          });
        }
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function handle(block) {
          var name = "message", data = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
          });
          if (!data.length) return;
          var value = JSON.parse(data.join("\n"));
          if (name === "token") {
            if (!text) { body.textContent = ""; body.classList.remove("pending"); }
            text += value.text;
            body.textContent = text;
            scrollDown();
          } else if (name === "final") {
            final = value;
          } else if (name === "error") {
            throw new Error((value.error && value.error.message) || "error");
          }
        }
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
            var blocks = buffer.split("\n\n");
            buffer = blocks.pop();
            blocks.forEach(handle);
            return pump();
          });
        }
        return pump();
      })
      .then(function () {
        answerEl.removeAttribute("aria-busy");
        if (!final) throw new Error("no answer");
        conversation = final.conversation_id;
        store.set("conversation", conversation);
        if (final.reason === "handed_off") {
          answerEl.className = "msg notice";
          body.textContent = final.answer;
        } else {
          renderCited(body, final.answer, final.citations);
          addSources(answerEl, final.citations);
          addVotes(answerEl, final.answer_id);
          if (final.action === "answer") askRating();
        }
        scrollDown();
        return sync();
      })
      .catch(function (e) {
        answerEl.remove();
        showError(e.message);
      })
      .finally(function () { send.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    thread = $("thread"); input = $("input"); send = $("send"); statusBox = $("status"); csatBox = $("csat");
    applyLang();
    csatBox.querySelectorAll("[data-score]").forEach(function (b) {
      b.addEventListener("click", function () {
        csatScore = Number(b.getAttribute("data-score"));
        csatBox.querySelectorAll("[data-score]").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
        $("csat-more").hidden = false;
        $("csat-comment").focus();
      });
    });
    $("csat-send").addEventListener("click", sendRating);
    $("form").addEventListener("submit", function (e) {
      e.preventDefault();
      var q = input.value.trim();
      if (!q || send.disabled) return;
      input.value = "";
      ask(q);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("form").requestSubmit(); }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") parent.postMessage({ type: "kefu:close" }, "*");
    });
    $("close").addEventListener("click", function () { parent.postMessage({ type: "kefu:close" }, "*"); });
    $("lang").addEventListener("click", function () {
      lang = lang === "zh" ? "en" : "zh"; store.set("lang", lang); applyLang();
      if (rated) $("csat-ask").textContent = t("csatThanks");
    });
    window.addEventListener("message", function (e) { if (e.data === "kefu:focus") input.focus(); });
    restore();
  });
})();
