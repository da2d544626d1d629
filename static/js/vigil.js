// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", function (event) {
  var target = document.getElementById("live-status");
  if (target) { target.textContent = "Update failed (" + event.detail.xhr.status + "). The page still shows the last known state."; }
});

// Live overview: the websocket only says "something changed"; the page then asks for its
// panels again, at most once a second however many changes arrive (no polling, no storms).
(function () {
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.WebSocket) { return; }
  var label = document.getElementById("live-state");
  var pending = null;
  var attempts = 0;
  function changed() {
    if (pending) { return; }
    pending = setTimeout(function () {
      pending = null;
      document.body.dispatchEvent(new CustomEvent("vigil:live"));
    }, 1000);
  }
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-live-url"));
    socket.onopen = function () {
      if (attempts > 0) { changed(); }  // catch up on what happened while disconnected
      attempts = 0;
      if (label) { label.textContent = "Live"; }
      root.setAttribute("data-live", "open");
    };
    socket.onmessage = changed;
    socket.onclose = function () {
      root.setAttribute("data-live", "closed");
      if (label) { label.textContent = "Reconnecting…"; }
      attempts += 1;
      setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, Math.min(attempts, 5))));
    };
  }
  connect();
})();
