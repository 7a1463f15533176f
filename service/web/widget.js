/* kefu chat widget loader: <script src="https://kefu.example/widget.js" data-key="kefu_app_..."></script>
   Adds a launcher button and, once opened, the chat in an iframe served by kefu (same-origin API calls,
   no style clashes with the page). Options: data-key, data-lang (zh|en), data-user-id, data-open. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;
  var base = new URL(script.src, location.href).origin;
  var key = script.getAttribute("data-key") || "";
  var lang = script.getAttribute("data-lang") || "";
  var user = script.getAttribute("data-user-id") || "";
  var zh = (lang || navigator.language || "").toLowerCase().indexOf("zh") === 0;
  var labels = zh ? { open: "打开在线客服", close: "关闭在线客服", title: "在线客服" }
                  : { open: "Open support chat", close: "Close support chat", title: "Support chat" };
  var stateKey = "kefu-widget-open:" + base;
  var frame = null;

  var style = document.createElement("style");
  style.textContent =
    "#kefu-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;" +
    "border:0;background:#1f6feb;color:#fff;font:600 22px/56px system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    "#kefu-launcher:focus-visible{outline:3px solid #ffbf47;outline-offset:3px}" +
    "#kefu-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#d1242f;" +
    "font:700 12px/20px system-ui,sans-serif}" +
    "#kefu-frame{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:380px;height:560px;max-width:calc(100vw - 40px);" +
    "max-height:calc(100vh - 110px);border:0;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff}" +
    "#kefu-frame[hidden]{display:none}";
  document.head.appendChild(style);

  var button = document.createElement("button");
  button.id = "kefu-launcher";
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "kefu-frame");
  button.setAttribute("aria-label", labels.open);
  button.innerHTML = '<span aria-hidden="true">?</span>';
  document.body.appendChild(button);

  function frameUrl() {
    var q = new URLSearchParams({ key: key });
    if (lang) q.set("lang", lang);
    if (user) q.set("user", user);
    return base + "/widget/frame?" + q.toString();
  }

  function open(focus) {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "kefu-frame";
      frame.title = labels.title;
      frame.src = frameUrl();
      frame.setAttribute("allow", "clipboard-write");
      document.body.appendChild(frame);
      if (focus) frame.addEventListener("load", function () { frame.focus(); post("kefu:focus"); });
    }
    frame.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", labels.close);
    button.firstChild.textContent = "×";
    setBadge(0);
    try { sessionStorage.setItem(stateKey, "1"); } catch (e) { /* storage off: nothing to remember */ }
    if (focus) { frame.focus(); post("kefu:focus"); }
  }

  function close() {
    if (frame) frame.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", labels.open);
    button.firstChild.textContent = "?";
    try { sessionStorage.removeItem(stateKey); } catch (e) { /* as above */ }
    button.focus();
  }

  function post(message) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(message, base);
  }

  function setBadge(n) {
    var badge = document.getElementById("kefu-badge");
    if (!n) { if (badge) badge.remove(); return; }
    if (!badge) { badge = document.createElement("span"); badge.id = "kefu-badge"; button.appendChild(badge); }
    badge.textContent = String(n);
    badge.setAttribute("aria-label", zh ? n + " 条新消息" : n + " new messages");
  }

  button.addEventListener("click", function () {
    if (frame && !frame.hidden) close(); else open(true);
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== base || !frame || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "kefu:close") close();
    if (data.type === "kefu:unread" && frame.hidden) setBadge(data.count || 0);
  });
  var wasOpen = false;
  try { wasOpen = sessionStorage.getItem(stateKey) === "1"; } catch (e) { /* as above */ }
  if (wasOpen || script.hasAttribute("data-open")) open(false);
})();
