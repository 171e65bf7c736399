// Piranha Configuration Tool: refresh the live status without reloading the page.
(function () {
  "use strict";
  var box = document.getElementById("status");
  if (!box) { return; }
  var src = box.getAttribute("data-src");
  function refresh() {
    fetch(src, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) { location.href = "/login"; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { box.innerHTML = html; } })
      .catch(function () {});
  }
  setInterval(refresh, 3000);
})();
