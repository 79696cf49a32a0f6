// Stele console: small progressive enhancements. Every page works without
// this file; it only localises times, tidies the filter form, asks before
// destructive actions and notes when an export has started.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Times are rendered in UTC; show them in the viewer's time zone, keeping
  // UTC in the tooltip.
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  } catch (e) { fmt = null; }
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d) || !fmt) { return; }
    el.title = el.textContent.trim();
    el.textContent = fmt.format(d);
  });

  // Show the custom dates only for the custom range.
  var range = document.getElementById("range");
  var custom = document.getElementById("custom-range");
  if (range && custom) {
    var sync = function () { custom.hidden = range.value !== "custom"; };
    range.addEventListener("change", sync);
    sync();
  }

  // Confirm destructive actions.
  document.querySelectorAll("[data-confirm]").forEach(function (btn) {
    btn.addEventListener("click", function (ev) {
      if (!window.confirm(btn.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // An export streams straight to the browser's downloads; say so, with
  // the size to expect.
  var note = document.getElementById("export-note");
  document.querySelectorAll("#export a").forEach(function (a) {
    a.addEventListener("click", function () {
      if (!note) { return; }
      var n = Number(note.getAttribute("data-estimate") || 0);
      note.textContent = "Export started: about " + n.toLocaleString() + " events are streaming to your downloads.";
      note.classList.add("busy");
    });
  });
})();
