/* kefu's weekly report page (/console/report, agent or admin keys): GET /v1/analytics/html
   for the chosen period in the page's language, shown in a sandboxed frame (the page kefu report
   --html writes: no script, nothing fetched) and offered as a download. The language is the
   console's (lang.js): switching it here switches it there, and the report is built again in it.
   Signing in: signin.js. */
(function () {
  "use strict";
  var T = {
    zh: {
      docTitle: "kefu 周报", title: "kefu 周报", console: "客服台", learning: "知识维护", signout: "退出",
      signinTitle: "登录", keyLabel: "客服或管理员 API key", keyNote: "key 只保存在本浏览器标签页的会话中。",
      signin: "登录", period: "时段", days1: "最近 24 小时", days7: "最近 7 天", days14: "最近 14 天",
      days30: "最近 30 天", until: "截止（UTC）", show: "生成", download: "下载 HTML", frameTitle: "周报",
      building: "生成中…", needs: "需要客服或管理员 key。", unknown: "key 无效或已吊销，请重新登录。"
    },
    en: {
      docTitle: "kefu weekly report", title: "kefu weekly report", console: "Console",
      learning: "Curated answers & drafts", signout: "Sign out", signinTitle: "Sign in",
      keyLabel: "Agent or admin API key", keyNote: "The key stays in this tab's session only.", signin: "Sign in",
      period: "Period", days1: "last 24 hours", days7: "last 7 days", days14: "last 14 days",
      days30: "last 30 days", until: "Until (UTC)", show: "Show", download: "Download HTML",
      frameTitle: "Weekly report", building: "Building the report…", needs: "An agent or admin key is needed.",
      unknown: "The key is unknown or revoked; sign in again."
    }
  };
  var auth = null; // window.kefuSignIn's (signin.js)
  var i18n = null; // window.kefuLang's (lang.js)
  var $ = function (id) { return document.getElementById(id); };
  var blobUrl = null;
  // Each request's number: only the latest one's report is shown (a switch of language or
  // period while one is being built asks again).
  var asked = 0;

  function t(name) { return i18n.t(name); }
  function say(text) { $("status").textContent = text; }

  function period() {
    var until = $("until").value ? new Date($("until").value + "Z") : new Date();
    var from = new Date(until.getTime() - Number($("days").value) * 86400000);
    return { from: from.toISOString(), to: until.toISOString() };
  }

  function show(e) {
    if (e) e.preventDefault();
    var p = period();
    var mine = ++asked;
    $("show").disabled = true;
    say(t("building"));
    var url = "/v1/analytics/html?from=" + encodeURIComponent(p.from) + "&to=" + encodeURIComponent(p.to) +
      "&lang=" + i18n.lang();
    var key = auth ? auth.key() : "";
    fetch(url, { headers: key ? { Authorization: "Bearer " + key } : {} })
      .then(function (r) {
        return r.text().then(function (text) {
          if (!r.ok) {
            var message = String(r.status);
            try { message = JSON.parse(text).error.message || message; } catch (ignored) { /* not JSON */ }
            var err = new Error(message); err.status = r.status; throw err;
          }
          return text;
        });
      })
      .then(function (html) {
        if (mine !== asked) return;
        $("report").srcdoc = html;
        if (blobUrl) URL.revokeObjectURL(blobUrl);
        blobUrl = URL.createObjectURL(new Blob([html], { type: "text/html" }));
        $("download").href = blobUrl;
        $("download").download = "kefu-report-" + p.to.slice(0, 10) + ".html";
        $("download").hidden = false;
        say(p.from.slice(0, 16).replace("T", " ") + " – " + p.to.slice(0, 16).replace("T", " ") + " UTC");
      })
      .catch(function (err) {
        if (mine !== asked) return;
        if (err.status === 401 || err.status === 403) {
          if (err.status === 401) auth.forget();
          auth.showSignIn(err.status === 403 ? t("needs") : t("unknown"));
          return;
        }
        say(err.message);
      })
      .finally(function () { if (mine === asked) $("show").disabled = false; });
  }

  function fit() {
    // Same origin (the frame may not run scripts): size it to its page so one scrollbar serves.
    var doc = $("report").contentDocument;
    if (doc && doc.documentElement) $("report").style.height = doc.documentElement.scrollHeight + 24 + "px";
  }

  document.addEventListener("DOMContentLoaded", function () {
    // The report's own words come from the server: a switch asks for it again in the new language.
    i18n = window.kefuLang(T, function () { if (asked && !$("app").hidden) show(); });
    var days = new URLSearchParams(location.search).get("days");
    if (days && $("days").querySelector('option[value="' + days + '"]')) $("days").value = days;
    $("report").addEventListener("load", fit);
    $("period").addEventListener("submit", show);
    auth = window.kefuSignIn({
      roles: ["agent", "admin"],
      needs: function () { return t("needs"); },
      unknown: function () { return t("unknown"); },
      start: function () { show(); },
    });
  });
})();
