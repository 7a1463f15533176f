/* kefu's weekly report page (/console/report, agent or admin keys): GET /v1/analytics/html
   for the chosen period, shown in a sandboxed frame (the page kefu report --html writes: no
   script, nothing fetched) and offered as a download. Signing in: signin.js. */
(function () {
  "use strict";
  var NEEDS = "需要客服或管理员 key · An agent or admin key is needed";
  var auth = null; // window.kefuSignIn's (signin.js)
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
          if (err.status === 401) auth.forget();
          auth.showSignIn(err.status === 403 ? NEEDS : auth.UNKNOWN);
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

  document.addEventListener("DOMContentLoaded", function () {
    var days = new URLSearchParams(location.search).get("days");
    if (days && $("days").querySelector('option[value="' + days + '"]')) $("days").value = days;
    $("report").addEventListener("load", fit);
    $("period").addEventListener("submit", show);
    auth = window.kefuSignIn({
      roles: ["agent", "admin"],
      needs: NEEDS,
      start: function () { show(); },
    });
  });
})();
