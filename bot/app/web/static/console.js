// The console's one script: keyboard shortcuts and live marks on the moderation queue.
// Every page works without it; it only saves moderators clicks.
"use strict";
(function () {
  var queue = document.getElementById("queue");
  if (!queue) return;
  var csrf = queue.getAttribute("data-csrf");
  var me = queue.getAttribute("data-me");
  var items = Array.prototype.slice.call(queue.querySelectorAll(".item"));
  var current = -1;
  var renew = null;

  function markOpen(item) {
    var id = item.getAttribute("data-id");
    fetch("/console/moderation/" + id + "/open", {
      method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (!body) return;
      var mark = item.querySelector(".open-mark");
      if (body.open_by && body.open_by !== me) {
        item.querySelector(".open-by").textContent = body.open_by;
        mark.hidden = false;
      }
    }).catch(function () {});
  }

  function select(index) {
    if (index < 0 || index >= items.length) return;
    if (current >= 0) items[current].setAttribute("aria-selected", "false");
    current = index;
    var item = items[current];
    item.setAttribute("aria-selected", "true");
    item.focus();
    item.scrollIntoView({ block: "nearest" });
    markOpen(item);
    if (renew) clearInterval(renew);
    renew = setInterval(function () { markOpen(item); }, 30000);
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) return;
    if (event.key === "j") { select(current + 1); event.preventDefault(); }
    else if (event.key === "k") { select(Math.max(0, current - 1)); event.preventDefault(); }
    else if (current >= 0 && (event.key === "r" || event.key === "c" || event.key === "b")) {
      var form = items[current].querySelector('form[data-key="' + event.key + '"]');
      if (form) { event.preventDefault(); form.submit(); }
    }
  });

  if (window.EventSource) {
    var source = new EventSource("/console/moderation/events");
    source.onmessage = function (event) {
      var data = JSON.parse(event.data);
      var count = document.getElementById("pending-count");
      if (count && typeof data.pending === "number") count.textContent = String(data.pending);
    };
  }
})();
