/* Sign-in for the desk's pages (/console/report, /console/learning). The key is the console's
   (sessionStorage "kefu.agentKey", this tab only): one entered in the console is used here, and
   one entered here there. A server running open (no keys, loopback) needs none.

   kefuSignIn({roles, needs, start, unknown}) wires the page's #signin form (#key, #signin-error)
   and #signout button, shows #app once /v1/me names one of ``roles`` (else the form, saying
   ``needs``), calls start(withKey), and returns {key(), forget(), showSignIn(message)}. ``needs``
   and ``unknown`` (what a key nobody knows is called) may be functions, for a page that switches
   language (lang.js); without ``unknown`` the words are in both languages. */
(function () {
  "use strict";
  var STORED = "kefu.agentKey";
  var UNKNOWN = "key 无效或已吊销 · The key is unknown or revoked";
  var $ = function (id) { return document.getElementById(id); };

  window.kefuSignIn = function (opts) {
    var key = sessionStorage.getItem(STORED) || "";
    function words(given, fallback) {
      return typeof given === "function" ? given() : given || fallback;
    }

    function signIn(candidate) {
      var headers = candidate ? { Authorization: "Bearer " + candidate } : {};
      return fetch("/v1/me", { headers: headers }).then(function (r) {
        if (r.status === 401) {
          var unknown = new Error(candidate ? words(opts.unknown, UNKNOWN) : "");
          unknown.unknown = true;
          throw unknown;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (who) {
        if (opts.roles.indexOf(who.role) < 0) throw new Error(words(opts.needs));
        key = candidate;
        if (key) sessionStorage.setItem(STORED, key);
        $("signin").hidden = true;
        $("app").hidden = false;
        $("signout").hidden = !key;
        opts.start(!!key);
      });
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

    $("signin").addEventListener("submit", function (e) {
      e.preventDefault();
      var typed = $("key").value.trim();
      $("signin-error").textContent = "";
      if (typed) signIn(typed).catch(function (err) { showSignIn(err.message); });
    });
    $("signout").addEventListener("click", function () { forget(); showSignIn(""); });
    // The console's key, or none on a server running open; else the form (saying why, when
    // the console's key has another role).
    var stored = key;
    signIn(stored).catch(function (err) {
      if (!stored) throw err;
      if (err.unknown) forget();
      return signIn("").catch(function () { throw err; });
    }).catch(function (err) { showSignIn(stored ? err.message : ""); });

    return {
      key: function () { return key; },
      forget: forget,
      showSignIn: showSignIn,
    };
  };
})();
