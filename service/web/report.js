/* kefu's weekly report page (/console/report, agent or admin keys): GET /v1/analytics/html
   for the chosen period, shown in a sandboxed frame (the page kefu report --html writes: no
   script, nothing fetched) and offered as a download. The key is the console's (sessionStorage
   "kefu.agentKey", this tab only): one entered in the console is used here, and one entered here
   there. A server running open (no keys, loopback) needs none. */
(function () {
  "use strict";
  var STORED = "kefu.agentKey";
  var key = sessionStorage.getItem(STORED) || "";
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
          if (err.status === 401) forget();
          showSignIn(err.status === 403 ? NEEDS : UNKNOWN);
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

  var NEEDS = "需要客服或管理员 key · An agent or admin key is needed";
  var UNKNOWN = "key 无效或已吊销 · The key is unknown or revoked";

  // Who the key is (none: the server may run open); the report needs an agent or an admin.
  function signIn(candidate) {
    var headers = candidate ? { Authorization: "Bearer " + candidate } : {};
    return fetch("/v1/me", { headers: headers }).then(function (r) {
      if (r.status === 401) throw new Error(candidate ? UNKNOWN : "");
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (who) {
      if (who.role !== "agent" && who.role !== "admin") throw new Error(NEEDS);
      key = candidate;
      if (key) sessionStorage.setItem(STORED, key);
      start(!!key);
    });
  }

  function start(withKey) {
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = !withKey;
    show();
  }

  function showSignIn(message) {
    $("app").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("key").focus();
  }

  function forget() {
    key = "";
    sessionStorage.removeItem(STORED);
  }

  function signOut() {
    forget();
    showSignIn("");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var days = new URLSearchParams(location.search).get("days");
    if (days && $("days").querySelector('option[value="' + days + '"]')) $("days").value = days;
    $("report").addEventListener("load", fit);
    $("signin").addEventListener("submit", function (e) {
      e.preventDefault();
      var typed = $("key").value.trim();
      $("signin-error").textContent = "";
      if (typed) signIn(typed).catch(function (err) { showSignIn(err.message); });
    });
    $("signout").addEventListener("click", signOut);
    $("period").addEventListener("submit", show);
    // The console's key, or none on a server running open; else the form.
    var stored = key;
    signIn(stored).catch(function (err) {
      if (!stored) throw err;
      if (err.message === UNKNOWN) forget();
      return signIn("").catch(function () { throw err; });
    }).catch(function (err) { showSignIn(stored ? err.message : ""); });
  });
})();
