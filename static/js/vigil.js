// Small progressive enhancements; every page works without this file (and without htmx).
//
// Live pages, one mechanism. The page's root element names a websocket (data-live-url).
// The server sends one kind of message, {"type": "changed", "topics": [...]}; the page
// then asks again for its htmx panels (hx-trigger="vigil:live from:body"), at most once a
// second however many changes arrive. A panel with data-live-topics="a b" only asks when
// one of its topics changed. While the socket is down, the panels are refreshed every
// data-live-poll seconds instead (default 30), and once more when it reconnects.
(function () {
  "use strict";
  document.documentElement.classList.add("js");  // CSS hides the no-JavaScript buttons (e.g. "Show this kind's fields")

  document.addEventListener("htmx:responseError", function (event) {
    var target = document.getElementById("live-status");
    if (target) { target.textContent = "Update failed (" + event.detail.xhr.status + "). The page still shows the last known state."; }
  });

  // Uptime bars: one tab stop per component (today's bar); the arrow keys, Home and End move
  // between days, and the focused day shows its tooltip (its text is in the page for screen
  // readers either way). Delegated, so bars swapped in by a live refresh work too.
  document.addEventListener("keydown", function (event) {
    var bar = event.target;
    if (!bar.classList || !bar.classList.contains("bar") || !bar.parentElement.classList.contains("uptime-bars")) { return; }
    var bars = Array.prototype.filter.call(bar.parentElement.children, function (item) { return item.offsetParent !== null; });
    var index = bars.indexOf(bar);
    var next = {ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: bars.length - 1}[event.key];
    if (next === undefined || next < 0 || next >= bars.length) { return; }
    event.preventDefault();
    bar.setAttribute("tabindex", "-1");
    bars[next].setAttribute("tabindex", "0");
    bars[next].focus();
  });

  // <time data-local-time datetime="..."> carries a fixed instant (so a page's bytes do not change by
  // the minute); show it in the reader's time zone.
  function localTimes(scope) {
    var stamps = scope.querySelectorAll("time[data-local-time]");
    for (var i = 0; i < stamps.length; i++) {
      var when = new Date(stamps[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        stamps[i].textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        stamps[i].title = stamps[i].getAttribute("datetime");
      }
    }
  }
  localTimes(document);
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });

  var root = document.querySelector("[data-live-url]");
  if (!root) { return; }
  var pollSeconds = parseInt(root.getAttribute("data-live-poll") || "30", 10);
  var pending = null;       // topics waiting for the next refresh; null: nothing waits
  var everything = false;   // a catch-up refreshes every panel, whatever its topics
  var timer = null;
  var pollTimer = null;
  var attempts = 0;

  function refresh() {
    var detail = { topics: everything ? null : Object.keys(pending || {}) };
    timer = null;
    pending = null;
    everything = false;
    document.body.dispatchEvent(new CustomEvent("vigil:live", { detail: detail }));
  }

  function changed(topics) {
    if (topics === null) { everything = true; } else {
      pending = pending || {};
      topics.forEach(function (topic) { pending[topic] = true; });
    }
    if (!timer) { timer = setTimeout(refresh, 1000); }
  }

  // A panel that names its topics skips the refresh when none of them changed.
  document.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    if (!trigger || trigger.type !== "vigil:live" || !trigger.detail || trigger.detail.topics === null) { return; }
    var wanted = (event.detail.elt.getAttribute("data-live-topics") || "").split(/\s+/).filter(Boolean);
    if (wanted.length && !wanted.some(function (topic) { return trigger.detail.topics.indexOf(topic) >= 0; })) {
      event.preventDefault();
    }
  });

  // Ask the server to revalidate (a 304 keeps the cached copy), and swap only what changed.
  var shown = {};
  function live(trigger) { return !!trigger && trigger.type === "vigil:live"; }
  document.addEventListener("htmx:configRequest", function (event) {
    if (live(event.detail.triggeringEvent)) { event.detail.headers["Cache-Control"] = "max-age=0"; }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    var id = event.detail.target && event.detail.target.id;
    if (!id || !event.detail.shouldSwap || !config || !live(config.triggeringEvent)) { return; }
    var body = event.detail.serverResponse;
    if (shown[id] === body) { event.detail.shouldSwap = false; }
    shown[id] = body;
  });

  function setState(state, text) {
    var label = document.getElementById("live-state");
    root.setAttribute("data-live", state);
    if (label) { label.textContent = text; }
  }

  function poll() {
    if (!pollTimer && pollSeconds > 0) { pollTimer = setInterval(function () { changed(null); }, pollSeconds * 1000); }
  }

  function connect() {
    if (!window.WebSocket) { poll(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-live-url"));
    socket.onopen = function () {
      if (attempts > 0) { changed(null); }  // catch up on what happened while disconnected
      attempts = 0;
      if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
      setState("connected", "Live");
    };
    socket.onmessage = function (message) {
      var data = null;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (data && data.type === "changed") { changed(Array.isArray(data.topics) ? data.topics : null); }
    };
    socket.onclose = function () {
      attempts += 1;
      setState("disconnected", "Not live: reconnecting (the page refreshes every " + pollSeconds + " s meanwhile)…");
      poll();
      setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, Math.min(attempts, 5))));
    };
  }
  connect();
}());
