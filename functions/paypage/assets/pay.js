/* PracticePay pay page: hands the card or bank fields to Payrix PayFields (their iframes; this page never sees a
   number), puts the token PayFields returns into the form, and submits it once. No inline script (CSP). */
(function () {
  "use strict";
  var configNode = document.getElementById("payfields-config");
  var words = document.getElementById("pf-messages");
  if (!configNode) { return; }
  var settings = JSON.parse(configNode.textContent);
  var active = null; // the form whose submit asked PayFields for a token

  function showError(form, text) {
    var box = form.querySelector("[data-pf-error]");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.setAttribute("tabindex", "-1");
    box.focus();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = false; button.textContent = button.getAttribute("data-label"); }
  }

  if (typeof window.PayFields === "undefined") {
    document.querySelectorAll(".payfields-form").forEach(function (form) { showError(form, words.getAttribute("data-load")); });
    return;
  }
  var PF = window.PayFields;
  Object.keys(settings.config).forEach(function (key) { PF.config[key] = settings.config[key]; });
  PF.fields = settings.fields;
  PF.onSuccess = function (response) {
    var record = response && response.data && response.data[0];
    var token = record && record.token;
    if (!active || !token) { showError(active || document.forms[0], words.getAttribute("data-card")); return; }
    active.querySelector("[data-token]").value = token;
    active.submit();
  };
  PF.onFailure = function () { showError(active || document.forms[0], words.getAttribute("data-card")); active = null; };
  PF.onValidationFailure = function () { showError(active || document.forms[0], words.getAttribute("data-card")); active = null; };
  PF.ready();

  document.querySelectorAll(".payfields-form").forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    if (button) { button.setAttribute("data-label", button.textContent); }
    form.addEventListener("submit", function (event) {
      if (form.querySelector("[data-token]").value) { return; } // the token is in: the real submit
      event.preventDefault();
      if (!form.checkValidity()) { form.reportValidity(); return; }
      if (active) { return; } // a double click: the first submit is still tokenizing
      active = form;
      var box = form.querySelector("[data-pf-error]");
      if (box) { box.hidden = true; }
      if (button) { button.disabled = true; button.textContent = button.getAttribute("data-working"); }
      PF.submit();
    });
  });

  var other = document.getElementById("amount");
  if (other) {
    other.addEventListener("input", function () { document.getElementById("amount-other").checked = true; });
  }
})();
