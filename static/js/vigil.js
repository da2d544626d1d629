// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", function (event) {
  var target = document.getElementById("live-status");
  if (target) { target.textContent = "Update failed (" + event.detail.xhr.status + "). The page still shows the last known state."; }
});
