/* PracticePay staff dashboard: HIPAA automatic logoff in the browser. The server ends a session after its idle
   minutes whatever this does; this signs the screen out at the same moment (so a walk-away desk shows no patient)
   and warns a minute before. No inline script (CSP). */
(function () {
  "use strict";
  var form = document.getElementById("signout");
  if (!form) { return; }
  var seconds = parseInt(form.getAttribute("data-idle-seconds"), 10);
  if (!(seconds > 0)) { return; }
  var warning = document.getElementById("idle-warning");
  var warnAt = Math.max(seconds - 60, 1) * 1000;
  window.setTimeout(function () { if (warning) { warning.hidden = false; } }, warnAt);
  window.setTimeout(function () {
    var reason = document.createElement("input");
    reason.type = "hidden";
    reason.name = "reason";
    reason.value = "idle";
    form.appendChild(reason);
    form.submit();
  }, seconds * 1000);
})();
