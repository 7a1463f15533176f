/* kefu's weekly report page (/console/report, agent or admin keys): GET /v1/analytics/html
   for the chosen period, shown in a sandboxed frame (the page kefu report --html writes: no
   script, nothing fetched) and offered as a download. The key lives in sessionStorage only. */
(function () {
  "use strict";
  var key = sessionStorage.getItem("kefu.reportKey") || sessionStorage.getItem("kefu.agentKey") || "";
  var $ = function (id) { return document.getElementById(id); };
  var blobUrl = null;

  function say(text) { $("status").textContent = text; }

  function period() {
    var until = $("until").value ? new Date($("until").value + "Z") : new Date();
    var from = new Date(until.getTime() - Number($("days").value) * 86400000);
    return { from: from.toISOString(), to: until.toISOString() };
  }

  function show(e) {
    if (e) e.preventDefault();
    var p = period();
    $("show").disabled = true;
    say("生成中… Building the report…");
    var url = "/v1/analytics/html?from=" + encodeURIComponent(p.from) + "&to=" + encodeURIComponent(p.to);
    fetch(url, { headers: { Authorization: "Bearer " + key } })
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
        $("report").srcdoc = html;
        if (blobUrl) URL.revokeObjectURL(blobUrl);
        blobUrl = URL.createObjectURL(new Blob([html], { type: "text/html" }));
        $("download").href = blobUrl;
        $("download").download = "kefu-report-" + p.to.slice(0, 10) + ".html";
        $("download").hidden = false;
        say(p.from.slice(0, 16).replace("T", " ") + " – " + p.to.slice(0, 16).replace("T", " ") + " UTC");
      })
      .catch(function (err) {
        if (err.status === 401 || err.status === 403) {
          signOut();
          $("signin-error").textContent = err.status === 403 ? "需要客服或管理员 key · An agent or admin key is needed" : err.message;
          return;
        }
        say(err.message);
      })
      .finally(function () { $("show").disabled = false; });
  }

  function fit() {
    // Same origin (the frame may not run scripts): size it to its page so one scrollbar serves.
    var doc = $("report").contentDocument;
    if (doc && doc.documentElement) $("report").style.height = doc.documentElement.scrollHeight + 24 + "px";
  }

  function start() {
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    show();
  }

  function signOut() {
    key = "";
    sessionStorage.removeItem("kefu.reportKey");
    $("app").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var days = new URLSearchParams(location.search).get("days");
    if (days && $("days").querySelector('option[value="' + days + '"]')) $("days").value = days;
    $("report").addEventListener("load", fit);
    $("signin").addEventListener("submit", function (e) {
      e.preventDefault();
      key = $("key").value.trim();
      sessionStorage.setItem("kefu.reportKey", key);
      $("signin-error").textContent = "";
      start();
    });
    $("signout").addEventListener("click", signOut);
    $("period").addEventListener("submit", show);
    if (key) start(); else $("signin").hidden = false;
  });
})();
