// Live status page: the page is complete without this file. With it, a websocket
// says when the snapshot changed and the page fetches the new fragment. If the
// socket cannot connect (a proxy without websockets), it polls once a minute.
(function () {
  "use strict";
  var root = document.getElementById("status-live");
  if (!root) { return; }
  var state = document.getElementById("live-state");
  var fragmentUrl = root.getAttribute("data-fragment-url");
  var etag = null;
  var pollTimer = null;
  var retry = 1000;

  function refresh() {
    var headers = etag ? { "If-None-Match": etag } : {};
    return fetch(fragmentUrl, { headers: headers, credentials: "same-origin" }).then(function (response) {
      if (response.status === 304 || !response.ok) { return; }
      etag = response.headers.get("ETag");
      return response.text().then(function (html) {
        root.innerHTML = html;
        if (state) { state.textContent = "Status updated " + new Date().toLocaleTimeString(); }
      });
    }).catch(function () { /* keep showing the last known state */ });
  }

  function poll() {
    if (!pollTimer) { pollTimer = window.setInterval(refresh, 60000); }
  }

  function connect() {
    if (!("WebSocket" in window)) { poll(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-live-url"));
    socket.onopen = function () {
      retry = 1000;
      if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
      root.setAttribute("data-live", "connected");
      refresh();
    };
    socket.onmessage = function () { refresh(); };
    socket.onclose = function () {
      root.setAttribute("data-live", "disconnected");
      poll();
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 60000);
    };
  }
  connect();
}());
