/* kefu's knowledge page (/console/learning, admin keys): the FAQ drafts review queue
   (GET /v1/drafts, approve / edit / reject, POST /v1/drafts/learn) and the curated answers
   (GET/POST /v1/curated, PATCH/DELETE /v1/curated/{id}). Signing in: signin.js. */
(function () {
  "use strict";
  var NEEDS = "需要管理员 key · An admin key is needed";
  var auth = null; // window.kefuSignIn's (signin.js)
  var $ = function (id) { return document.getElementById(id); };

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

  function button(label, onClick, secondary) {
    var b = el("button", secondary ? "secondary" : "", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function say(id, text) { $(id).textContent = text; }

  // --- drafts -------------------------------------------------------------------------------

  function loadDrafts() {
    return api("GET", "/v1/drafts?status=pending").then(function (drafts) {
      var list = $("drafts");
      list.textContent = "";
      $("drafts-empty").hidden = drafts.length > 0;
      drafts.forEach(function (d) {
        var li = el("li");
        li.dataset.id = d.id;
        var qLabel = el("label", "meta", "问题 Question #" + d.id + " · " + d.lang + " · " + d.users + " 位用户 users");
        var q = el("input"); q.value = d.question; q.id = "dq-" + d.id; qLabel.htmlFor = q.id;
        var aLabel = el("label", "meta", "答案 Answer"); var a = el("textarea"); a.rows = 4; a.value = d.answer; a.id = "da-" + d.id; aLabel.htmlFor = a.id;
        li.append(qLabel, q, aLabel, a);
        if (d.examples.length) li.append(el("p", "meta", "其他问法 Also asked: " + d.examples.join(" / ")));
        var actions = el("div", "actions");
        function saveThen(next) {
          var changes = {};
          if (q.value.trim() !== d.question) changes.question = q.value.trim();
          if (a.value.trim() !== d.answer) changes.answer = a.value.trim();
          var saving = Object.keys(changes).length ? api("PATCH", "/v1/drafts/" + d.id, changes) : Promise.resolve(null);
          return saving.then(next);
        }
        actions.append(
          button("通过 Approve", function () {
            saveThen(function () { return api("POST", "/v1/drafts/" + d.id + "/approve", {}); })
              .then(function (r) { say("drafts-status", "已通过，成为策展答案 #" + r.curated.id + " · Approved: curated answer #" + r.curated.id); return refresh(); })
              .catch(function (e) { say("drafts-status", e.message); });
          }),
          button("保存修改 Save edit", function () {
            saveThen(function () { say("drafts-status", "已保存 Saved"); return loadDrafts(); }).catch(function (e) { say("drafts-status", e.message); });
          }, true),
          button("拒绝 Reject", function () {
            api("POST", "/v1/drafts/" + d.id + "/reject").then(function () { say("drafts-status", "已拒绝 Rejected #" + d.id); return loadDrafts(); })
              .catch(function (e) { say("drafts-status", e.message); });
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
    $("c-save").textContent = c ? "保存修改 #" + c.id + " Save #" + c.id : "保存 Save";
  }

  function loadCurated() {
    return api("GET", "/v1/curated").then(function (items) {
      var list = $("curated");
      list.textContent = "";
      $("curated-empty").hidden = items.length > 0;
      items.slice().reverse().forEach(function (c) {
        var li = el("li", c.enabled ? "" : "off");
        li.dataset.id = c.id;
        li.append(el("p", "meta", "#" + c.id + " · " + (c.enabled ? "启用 enabled" : "停用 disabled") + " · 命中 hits " + c.hits));
        [["zh", c.question_zh, c.answer_zh], ["en", c.question_en, c.answer_en]].forEach(function (row) {
          if (!row[1]) return;
          li.append(el("p", "q", row[0] + ": " + row[1]), el("p", "a", row[2]));
        });
        if (c.articles.length) li.append(el("p", "meta", "文章 Articles: " + c.articles.join(", ")));
        var actions = el("div", "actions");
        actions.append(
          button("编辑 Edit", function () { fillForm(c); $("c-qzh").focus(); }, true),
          button(c.enabled ? "停用 Disable" : "启用 Enable", function () {
            api("PATCH", "/v1/curated/" + c.id, { enabled: !c.enabled }).then(loadCurated).catch(function (e) { say("curated-status", e.message); });
          }, true),
          button("删除 Delete", function () {
            if (!confirm("删除 #" + c.id + "? Delete #" + c.id + "?")) return;
            api("DELETE", "/v1/curated/" + c.id).then(loadCurated).catch(function (e) { say("curated-status", e.message); });
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
      .then(function (c) { say("curated-status", "已保存 #" + c.id + " Saved #" + c.id); fillForm(null); return loadCurated(); })
      .catch(function (err) { say("curated-status", err.message); });
  }

  function refresh() { return Promise.all([loadDrafts(), loadCurated()]); }

  // Signed in (signin.js): the page's lists; a key that stops working brings the form back.
  function start() {
    refresh().catch(function (e) {
      if (e.status === 401) auth.forget();
      if (e.status === 401 || e.status === 403) auth.showSignIn(e.status === 403 ? NEEDS : auth.UNKNOWN);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("curated-form").addEventListener("submit", saveCurated);
    $("c-clear").addEventListener("click", function () { fillForm(null); });
    $("learn").addEventListener("click", function () {
      $("learn").disabled = true;
      say("drafts-status", "生成中… Drafting…");
      api("POST", "/v1/drafts/learn?days=7")
        .then(function (r) { say("drafts-status", "新草稿 " + r.drafts.length + " 条 · " + r.drafts.length + " new drafts (" + r.seconds + " s)"); return loadDrafts(); })
        .catch(function (e) { say("drafts-status", e.message); })
        .finally(function () { $("learn").disabled = false; });
    });
    auth = window.kefuSignIn({ roles: ["admin"], needs: NEEDS, start: start });
  });
})();
