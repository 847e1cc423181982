/* The console's behaviour, from a file (the pages carry no inline script: the Content-Security-Policy
   allows scripts from the platform's own origin only). */
(function () {
  "use strict";

  /* Countdowns: server-side text, kept ticking against the server's clock.
     <span id="countdown-clock" data-now="<server epoch>" data-lang="zh|en"> once per page;
     <span class="countdown" data-due="<epoch>"> per deadline. */
  function countdowns() {
    var clock = document.getElementById("countdown-clock");
    if (!clock) return;
    var skew = Date.now() / 1000 - Number(clock.getAttribute("data-now"));
    var zh = clock.getAttribute("data-lang") === "zh";
    function fmt(secs) {
      var over = secs < 0, s = Math.abs(secs);
      var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      if (zh) {
        var b = (d ? d + "天" : "") + ((h || d) ? h + "小时" : "") + m + "分";
        return over ? "已超时 " + b : "剩余 " + b;
      }
      var p = [];
      if (d) p.push(d + "d");
      if (h || d) p.push(h + "h");
      p.push(m + "m");
      return over ? "overdue " + p.join(" ") : p.join(" ") + " left";
    }
    function tick() {
      var now = Date.now() / 1000 - skew;
      document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
        var left = Math.floor(Number(el.getAttribute("data-due")) - now);
        el.textContent = fmt(left);
        if (left < 0) { el.classList.add("bad"); }
      });
    }
    setInterval(tick, 1000);
  }

  /* The ticket form: the subtype select decides the type. */
  function ticketKind() {
    var sel = document.getElementById("subtype"), ty = document.getElementById("type");
    if (!sel || !ty) return;
    function sync() { ty.value = sel.options[sel.selectedIndex].getAttribute("data-type"); }
    sel.addEventListener("change", sync);
    sync();
  }

  /* <form data-confirm="…">: ask before submitting. */
  function confirms() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      var msg = form && form.getAttribute && form.getAttribute("data-confirm");
      if (msg && !window.confirm(msg)) { e.preventDefault(); }
    }, true);
  }

  function init() { countdowns(); ticketKind(); confirms(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
