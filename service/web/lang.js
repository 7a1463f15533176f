/* The desk pages' language, Chinese or English (/console, /console/report, /console/learning):
   one setting for all of them, kept in sessionStorage "kefu.lang" (this tab, over reloads and
   from page to page; at first the browser's language), and one toggle, the #lang button, which
   names the language it switches to.

   kefuLang(texts, onChange) takes the page's words ({zh: {name: text}, en: {...}}), writes them
   into every [data-t] element (its text) and [data-t-title] element (its title attribute), wires
   #lang, and returns {lang(), t(name, vars)}; after a switch it writes them again and calls
   onChange(lang). t() fills {var} from vars, and gives the name itself for a word it lacks. */
(function () {
  "use strict";
  var STORED = "kefu.lang";

  window.kefuLang = function (texts, onChange) {
    var browser = (navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
    var lang = texts[sessionStorage.getItem(STORED)] ? sessionStorage.getItem(STORED) : browser;
    var button = document.getElementById("lang");

    // One pass over the template: a value (a user's question) may itself hold "{...}".
    function t(name, vars) {
      var text = texts[lang][name];
      vars = vars || {};
      return (text == null ? name : text).replace(/\{(\w+)\}/g, function (whole, k) {
        return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : whole;
      });
    }

    function apply() {
      document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
      document.querySelectorAll("[data-t]").forEach(function (n) { n.textContent = t(n.getAttribute("data-t")); });
      document.querySelectorAll("[data-t-title]").forEach(function (n) { n.title = t(n.getAttribute("data-t-title")); });
      button.textContent = lang === "zh" ? "EN" : "中文";
      button.setAttribute("aria-label", lang === "zh" ? "Switch to English" : "切换到中文");
    }

    button.addEventListener("click", function () {
      lang = lang === "zh" ? "en" : "zh";
      sessionStorage.setItem(STORED, lang);
      apply();
      if (onChange) onChange(lang);
    });
    apply();
    return { lang: function () { return lang; }, t: t };
  };
})();
