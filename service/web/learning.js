/* kefu's knowledge page (/console/learning, admin keys): the FAQ drafts review queue
   (GET /v1/drafts, approve / edit / reject, POST /v1/drafts/learn) and the curated answers
   (GET/POST /v1/curated, PATCH/DELETE /v1/curated/{id}). The page's own words are in the
   console's language (lang.js); the drafts and answers are shown as written. Signing in:
   signin.js. */
(function () {
  "use strict";
  var T = {
    zh: {
      docTitle: "kefu 知识维护", title: "kefu 知识维护", console: "客服台", report: "周报", signout: "退出",
      signinTitle: "登录", keyLabel: "管理员 API key", keyNote: "key 只保存在本浏览器标签页的会话中。", signin: "登录",
      needs: "需要管理员 key。", unknown: "key 无效或已吊销，请重新登录。",
      draftsTitle: "待审核的 FAQ 草稿",
      draftsNote: "由已解决的转人工会话和客服修改过的建议生成；审核通过前不会展示给用户。",
      learn: "立即生成草稿（最近 7 天）", draftsEmpty: "没有待审核的草稿。", drafting: "生成中…",
      drafted: "新草稿 {n} 条（{seconds} 秒）", draftQuestion: "问题 #{id} · {lang} · {users} 位用户", draftAnswer: "答案",
      alsoAsked: "其他问法：{examples}", approve: "通过", saveDraft: "保存修改", reject: "拒绝",
      approved: "已通过，成为策展答案 #{id}", draftSaved: "已保存", rejected: "已拒绝 #{id}",
      curatedTitle: "策展答案", questionZh: "问题（中文）", answerZh: "答案（中文）", questionEn: "问题（英文）",
      answerEn: "答案（英文）", articlesLabel: "文章（每行一个路径或链接）", save: "保存", saveCurated: "保存修改 #{id}",
      clear: "清空", curatedEmpty: "还没有策展答案。", curatedSaved: "已保存 #{id}",
      enabledMeta: "#{id} · 启用 · 命中 {hits} 次", disabledMeta: "#{id} · 停用 · 命中 {hits} 次",
      articles: "文章：{articles}", edit: "编辑", enable: "启用", disable: "停用", remove: "删除",
      confirmRemove: "删除 #{id}？"
    },
    en: {
      docTitle: "kefu curated answers & FAQ drafts", title: "kefu curated answers & FAQ drafts", console: "Console",
      report: "Weekly report", signout: "Sign out", signinTitle: "Sign in", keyLabel: "Admin API key",
      keyNote: "The key stays in this tab's session only.", signin: "Sign in", needs: "An admin key is needed.",
      unknown: "The key is unknown or revoked; sign in again.", draftsTitle: "FAQ drafts to review",
      draftsNote: "Drafted from resolved handoffs and edited suggestions; never shown to users until approved.",
      learn: "Draft now (last 7 days)", draftsEmpty: "No drafts waiting.", drafting: "Drafting…",
      drafted: "New drafts: {n} ({seconds} s)", draftQuestion: "Question #{id} · {lang} · users: {users}",
      draftAnswer: "Answer", alsoAsked: "Also asked: {examples}", approve: "Approve", saveDraft: "Save edit",
      reject: "Reject", approved: "Approved: curated answer #{id}", draftSaved: "Saved", rejected: "Rejected #{id}",
      curatedTitle: "Curated answers", questionZh: "Question (zh)", answerZh: "Answer (zh)", questionEn: "Question (en)",
      answerEn: "Answer (en)", articlesLabel: "Articles (one path or link per line)", save: "Save",
      saveCurated: "Save #{id}", clear: "Clear", curatedEmpty: "No curated answers yet.", curatedSaved: "Saved #{id}",
      enabledMeta: "#{id} · enabled · hits: {hits}", disabledMeta: "#{id} · disabled · hits: {hits}",
      articles: "Articles: {articles}", edit: "Edit", enable: "Enable", disable: "Disable", remove: "Delete",
      confirmRemove: "Delete #{id}?"
    }
  };
  var auth = null; // window.kefuSignIn's (signin.js)
  var i18n = null; // window.kefuLang's (lang.js)
  var $ = function (id) { return document.getElementById(id); };

  function t(name, vars) { return i18n.t(name, vars); }

  // A word of the page filled with data (an id, a count, a question): lang.js writes only the
  // plain [data-t] words, so these are written again here after a switch, in place (what an
  // admin typed into a draft or the form stays).
  function word(node, name, vars) {
    node.setAttribute("data-t-filled", name);
    node.kefuVars = vars || {};
    node.textContent = t(name, vars);
    return node;
  }

  function reword(lang) {
    document.querySelectorAll("[data-t-filled]").forEach(function (n) {
      n.textContent = t(n.getAttribute("data-t-filled"), n.kefuVars);
    });
    // signin.js's message, when it is one of the page's own words.
    var other = T[lang === "zh" ? "en" : "zh"];
    ["needs", "unknown"].forEach(function (name) {
      if ($("signin-error").textContent === other[name]) $("signin-error").textContent = t(name);
    });
  }

  function api(method, path, body) {
    var key = auth ? auth.key() : "";
    var init = { method: method, headers: key ? { Authorization: "Bearer " + key } : {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      if (r.status === 204) return null;
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error((data.error && data.error.message) || String(r.status)); e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function button(name, onClick, secondary) {
    var b = word(el("button", secondary ? "secondary" : ""), name);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // A status in the page's words (written again after a switch), or an error as the API words it.
  function say(id, name, vars) { word($(id), name, vars); }
  function fail(id) {
    return function (e) { $(id).removeAttribute("data-t-filled"); $(id).textContent = e.message; };
  }

  // --- drafts -------------------------------------------------------------------------------

  function loadDrafts() {
    return api("GET", "/v1/drafts?status=pending").then(function (drafts) {
      var list = $("drafts");
      list.textContent = "";
      $("drafts-empty").hidden = drafts.length > 0;
      drafts.forEach(function (d) {
        var li = el("li");
        li.dataset.id = d.id;
        var qLabel = word(el("label", "meta"), "draftQuestion", { id: d.id, lang: d.lang, users: d.users });
        var q = el("input"); q.value = d.question; q.id = "dq-" + d.id; qLabel.htmlFor = q.id;
        var aLabel = word(el("label", "meta"), "draftAnswer"); var a = el("textarea"); a.rows = 4; a.value = d.answer; a.id = "da-" + d.id; aLabel.htmlFor = a.id;
        li.append(qLabel, q, aLabel, a);
        if (d.examples.length) li.append(word(el("p", "meta"), "alsoAsked", { examples: d.examples.join(" / ") }));
        var actions = el("div", "actions");
        function saveThen(next) {
          var changes = {};
          if (q.value.trim() !== d.question) changes.question = q.value.trim();
          if (a.value.trim() !== d.answer) changes.answer = a.value.trim();
          var saving = Object.keys(changes).length ? api("PATCH", "/v1/drafts/" + d.id, changes) : Promise.resolve(null);
          return saving.then(next);
        }
        actions.append(
          button("approve", function () {
            saveThen(function () { return api("POST", "/v1/drafts/" + d.id + "/approve", {}); })
              .then(function (r) { say("drafts-status", "approved", { id: r.curated.id }); return refresh(); })
              .catch(fail("drafts-status"));
          }),
          button("saveDraft", function () {
            saveThen(function () { say("drafts-status", "draftSaved"); return loadDrafts(); }).catch(fail("drafts-status"));
          }, true),
          button("reject", function () {
            api("POST", "/v1/drafts/" + d.id + "/reject").then(function () { say("drafts-status", "rejected", { id: d.id }); return loadDrafts(); })
              .catch(fail("drafts-status"));
          }, true)
        );
        li.append(actions);
        list.append(li);
      });
    });
  }

  // --- curated answers ------------------------------------------------------------------------

  function fillForm(c) {
    $("c-id").value = c ? c.id : "";
    $("c-qzh").value = c && c.question_zh || ""; $("c-azh").value = c && c.answer_zh || "";
    $("c-qen").value = c && c.question_en || ""; $("c-aen").value = c && c.answer_en || "";
    $("c-articles").value = c ? c.articles.join("\n") : "";
    word($("c-save"), c ? "saveCurated" : "save", c ? { id: c.id } : null);
  }

  function loadCurated() {
    return api("GET", "/v1/curated").then(function (items) {
      var list = $("curated");
      list.textContent = "";
      $("curated-empty").hidden = items.length > 0;
      items.slice().reverse().forEach(function (c) {
        var li = el("li", c.enabled ? "" : "off");
        li.dataset.id = c.id;
        li.append(word(el("p", "meta"), c.enabled ? "enabledMeta" : "disabledMeta", { id: c.id, hits: c.hits }));
        [["zh", c.question_zh, c.answer_zh], ["en", c.question_en, c.answer_en]].forEach(function (row) {
          if (!row[1]) return;
          li.append(el("p", "q", row[0] + ": " + row[1]), el("p", "a", row[2]));
        });
        if (c.articles.length) li.append(word(el("p", "meta"), "articles", { articles: c.articles.join(", ") }));
        var actions = el("div", "actions");
        actions.append(
          button("edit", function () { fillForm(c); $("c-qzh").focus(); }, true),
          button(c.enabled ? "disable" : "enable", function () {
            api("PATCH", "/v1/curated/" + c.id, { enabled: !c.enabled }).then(loadCurated).catch(fail("curated-status"));
          }, true),
          button("remove", function () {
            if (!confirm(t("confirmRemove", { id: c.id }))) return;
            api("DELETE", "/v1/curated/" + c.id).then(loadCurated).catch(fail("curated-status"));
          }, true)
        );
        li.append(actions);
        list.append(li);
      });
    });
  }

  function saveCurated(e) {
    e.preventDefault();
    var id = $("c-id").value;
    var body = {
      question_zh: $("c-qzh").value.trim() || null, answer_zh: $("c-azh").value.trim() || null,
      question_en: $("c-qen").value.trim() || null, answer_en: $("c-aen").value.trim() || null,
      articles: $("c-articles").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean)
    };
    api(id ? "PATCH" : "POST", id ? "/v1/curated/" + id : "/v1/curated", body)
      .then(function (c) { say("curated-status", "curatedSaved", { id: c.id }); fillForm(null); return loadCurated(); })
      .catch(fail("curated-status"));
  }

  function refresh() { return Promise.all([loadDrafts(), loadCurated()]); }

  // Signed in (signin.js): the page's lists; a key that stops working brings the form back.
  function start() {
    refresh().catch(function (e) {
      if (e.status === 401) auth.forget();
      if (e.status === 401 || e.status === 403) auth.showSignIn(t(e.status === 403 ? "needs" : "unknown"));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    i18n = window.kefuLang(T, reword);
    word($("c-save"), "save");
    $("curated-form").addEventListener("submit", saveCurated);
    $("c-clear").addEventListener("click", function () { fillForm(null); });
    $("learn").addEventListener("click", function () {
      $("learn").disabled = true;
      say("drafts-status", "drafting");
      api("POST", "/v1/drafts/learn?days=7")
        .then(function (r) { say("drafts-status", "drafted", { n: r.drafts.length, seconds: r.seconds }); return loadDrafts(); })
        .catch(fail("drafts-status"))
        .finally(function () { $("learn").disabled = false; });
    });
    auth = window.kefuSignIn({
      roles: ["admin"],
      needs: function () { return t("needs"); },
      unknown: function () { return t("unknown"); },
      start: start,
    });
  });
})();
