/* The receipt's print button (no inline handlers: CSP). */
(function () {
  "use strict";
  var button = document.querySelector("[data-print]");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
  // A payment not confirmed yet: look again every few seconds (the page's own URL), and show the result once known.
  if (document.querySelector("[data-confirming]")) {
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      if (tries > 40) { clearInterval(timer); return; }
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (answer) { return answer.text(); })
        .then(function (page) {
          if (page.indexOf("data-confirming") < 0) { clearInterval(timer); window.location.reload(); }
        })
        .catch(function () {});
    }, 3000);
  }
})();
