// The return page of a top-up that is opening or waiting for the gateway. Instead of
// reloading itself (which nobody can stop, WCAG 2.2.1), it asks the server for the state
// (topups.views.topup_status) every few seconds. When the state changes it fetches the page
// once, puts its [data-live-part] elements in place and says the new heading in the
// #status-announcement live region. Scroll position and focus stay where they were; focus
// that was inside a replaced part moves to the new heading.
(function () {
  var announcement = document.getElementById("status-announcement");
  var failures = 0;

  function current() {
    return document.querySelector("[data-topup-state]");
  }

  function schedule() {
    var root = current();
    if (!root || !root.dataset.pollMs) return;  // a final state: nothing more to ask
    var delay = Number(root.dataset.pollMs) * Math.pow(2, Math.min(failures, 4));
    window.setTimeout(poll, delay);
  }

  function poll() {
    if (document.hidden) {  // asked again when the page is looked at
      document.addEventListener("visibilitychange", poll, { once: true });
      return;
    }
    var root = current();
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        if (status.state === root.dataset.topupState) return schedule();
        return update(status);
      })
      .catch(function () {
        failures += 1;  // a network blip or a busy server: ask again, less often
        schedule();
      });
  }

  function update(status) {
    return fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var focusMoves = false;
        document.querySelectorAll("[data-live-part]").forEach(function (part) {
          var replacement = fresh.getElementById(part.id);
          if (!replacement) return;
          focusMoves = focusMoves || part.contains(document.activeElement);
          part.replaceWith(document.importNode(replacement, true));
        });
        var heading = document.querySelector("[data-status-heading]");
        if (focusMoves && heading) heading.focus({ preventScroll: true });
        announcement.textContent = heading ? heading.textContent : status.headline;
        schedule();
      });
  }

  schedule();
})();
