// payoutengine web: live updates and the Claim button. Shipped with the package; no
// third-party code. The server renders every fragment (escaped); this only swaps them in.
(function () {
  "use strict";

  function later(el, ms) {
    clearTimeout(el._peTimer);
    el._peTimer = setTimeout(function () { refresh(el); }, ms);
  }

  function refresh(el) {
    if (document.hidden) { later(el, 1000); return; }
    fetch(el.getAttribute("data-live"), {
      headers: { "Accept": "text/html" }, credentials: "same-origin", cache: "no-store"
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      el.innerHTML = html;
      el.removeAttribute("data-stale");
      var root = el.firstElementChild;
      var ms = root ? parseInt(root.getAttribute("data-refresh") || "5000", 10) : 5000;
      later(el, ms > 0 ? ms : 5000);
    }).catch(function () {
      el.setAttribute("data-stale", "");
      later(el, 5000);
    });
  }

  function say(text, kind) {
    var msg = document.getElementById("claim-message");
    if (!msg) { return; }
    msg.textContent = text;
    msg.className = "message" + (kind ? " " + kind : "");
  }

  function claim(button) {
    button.disabled = true;
    say("Sending the claim…", "");
    fetch("/api/claim", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({
        account: button.getAttribute("data-account"),
        schedule: button.getAttribute("data-schedule")
      })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (res.ok) { say(res.body.message, "ok"); } else { say(res.body.error, "error"); }
      var live = document.querySelector("[data-live]");
      if (live) { refresh(live); }
    }).catch(function () {
      say("The server did not answer; try again in a moment.", "error");
    }).then(function () { button.disabled = false; });
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-claim]") : null;
    if (!button) { return; }
    ev.preventDefault();
    claim(button);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("[data-live]");
    for (var i = 0; i < nodes.length; i++) {
      var root = nodes[i].firstElementChild;
      later(nodes[i], root ? parseInt(root.getAttribute("data-refresh") || "5000", 10) : 5000);
    }
  });
})();
