/* The Splash sandbox's PayFields loader (GET /payFieldsScript): the browser API of Payrix PayFields, so a page
 * built for it runs unchanged against the local sandbox. See local/sandbox/payfields.py for what is Payrix's and
 * what is the sandbox's own.
 *
 * Card and bank numbers are typed into frames served from the sandbox's origin; this script (in the page) never
 * sees them. It only creates the frames, forwards PayFields.config to the first ("leader") frame on submit(), and
 * hands the leader's answer (the standard envelope's `response`) to onSuccess / onFailure / onValidationFailure.
 * Written for a strict page CSP: no eval, no inline script, no style attributes (only CSSOM `el.style.x`), so the
 * page needs only `script-src <host>` and `frame-src <host>`. */
(function () {
  "use strict";

  var ORIGIN = "__PAYFIELDS_ORIGIN__";
  var SPA = __PAYFIELDS_SPA__;
  var CARD = { number: 1, expiration: 1, cvv: 1 };
  var BANK = { routing: 1, account: 1, account_type: 1 };
  var ALIASES = { account_number: "account" };
  var TITLES = {
    number: "Secure card number field",
    expiration: "Secure card expiration date field",
    cvv: "Secure card security code field",
    routing: "Secure bank routing number field",
    account: "Secure bank account number field",
    account_type: "Secure bank account type field"
  };

  var existing = window.PayFields || {};
  var PayFields = existing;
  PayFields.config = PayFields.config || {};
  PayFields.fields = PayFields.fields || [];
  PayFields.customizations = PayFields.customizations || {};
  PayFields.config.mode = PayFields.config.mode || "token";
  if (typeof PayFields.onSuccess !== "function") PayFields.onSuccess = function () {};
  if (typeof PayFields.onFailure !== "function") PayFields.onFailure = function () {};
  if (typeof PayFields.onValidationFailure !== "function") PayFields.onValidationFailure = function () {};

  var state = { group: null, frames: [], loaded: 0, busy: false, rendered: false };

  function groupId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += ("0" + bytes[i].toString(16)).slice(-2);
    return out;
  }

  function failure(message) {
    return { data: [], errors: [{ code: 0, severity: 3, msg: message, errorCode: "payfields" }] };
  }

  function finish(response) {
    if (typeof PayFields.onFinish === "function") PayFields.onFinish(response);
  }

  function clear() {
    for (var i = 0; i < state.frames.length; i++) {
      var frame = state.frames[i].iframe;
      if (frame.parentNode) frame.parentNode.removeChild(frame);
    }
    state.frames = [];
    state.loaded = 0;
    state.busy = false;
    state.rendered = false;
  }

  PayFields.ready = function () {
    clear();
    var fields = PayFields.fields || [];
    var card = false;
    var bank = false;
    var types = [];
    for (var i = 0; i < fields.length; i++) {
      var type = ALIASES[fields[i].type] || fields[i].type;
      if (CARD[type]) card = true;
      else if (BANK[type]) bank = true;
      else throw new Error("PayFields (sandbox): unknown field type " + JSON.stringify(fields[i].type));
      types.push(type);
    }
    if (card && bank) throw new Error("PayFields (sandbox): card and bank fields cannot be mixed on one page");
    if (!types.length) throw new Error("PayFields (sandbox): PayFields.fields is empty");
    state.group = groupId();
    for (var j = 0; j < fields.length; j++) {
      var holder = typeof fields[j].element === "string" ? document.querySelector(fields[j].element) : fields[j].element;
      if (!holder) throw new Error("PayFields (sandbox): no element " + fields[j].element);
      var query = [
        "type=" + encodeURIComponent(types[j]),
        "group=" + state.group,
        "parent=" + encodeURIComponent(window.location.origin),
        "leader=" + (j === 0 ? "1" : "0")
      ].join("&");
      var iframe = document.createElement("iframe");
      iframe.src = ORIGIN + "/payFields/frame?" + query;
      iframe.title = TITLES[types[j]];
      iframe.name = "payfields-" + types[j];
      iframe.style.border = "0";
      iframe.style.width = "100%";
      iframe.style.minWidth = "0";
      iframe.style.height = "5.5rem";
      iframe.style.display = "block";
      holder.appendChild(iframe);
      state.frames.push({ iframe: iframe, type: types[j] });
    }
    state.rendered = true;
  };
  PayFields.addFields = PayFields.ready;

  PayFields.submit = function () {
    if (!state.rendered || !state.frames.length) {
      var notReady = failure("PayFields is not ready: call PayFields.ready() first");
      PayFields.onFailure(notReady);
      finish(notReady);
      return;
    }
    if (state.busy) return;
    var config = PayFields.config || {};
    if ((config.mode || "token") !== "token") {
      var mode = failure("The sandbox's PayFields implements mode 'token' only");
      PayFields.onFailure(mode);
      finish(mode);
      return;
    }
    state.busy = true;
    var message = {
      type: "payfields:submit",
      group: state.group,
      config: {
        apiKey: String(config.apiKey || ""),
        txnSessionKey: String(config.txnSessionKey || ""),
        merchant: String(config.merchant || ""),
        customer: typeof config.customer === "string" ? config.customer : null
      }
    };
    state.frames[0].iframe.contentWindow.postMessage(message, ORIGIN);
  };

  function frameOf(source) {
    for (var i = 0; i < state.frames.length; i++) {
      if (state.frames[i].iframe.contentWindow === source) return state.frames[i];
    }
    return null;
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== ORIGIN) return;
    var data = event.data;
    var frame = frameOf(event.source);
    if (!frame || !data || data.group !== state.group) return;
    if (data.type === "payfields:size" && typeof data.height === "number" && data.height > 0) {
      frame.iframe.style.height = Math.ceil(data.height) + "px";
    } else if (data.type === "payfields:loaded") {
      state.loaded += 1;
      if (state.loaded === state.frames.length && typeof PayFields.onReady === "function") PayFields.onReady();
    } else if (frame === state.frames[0] && data.type === "payfields:invalid") {
      state.busy = false;
      PayFields.onValidationFailure({ errors: data.errors || [] });
    } else if (frame === state.frames[0] && data.type === "payfields:result") {
      state.busy = false;
      var response = data.response || failure("No answer from the sandbox");
      if (data.ok) PayFields.onSuccess(response);
      else PayFields.onFailure(response);
      finish(response);
    }
  });

  if (!SPA) {
    // Without ?spa=1 the fields are rendered once the page has loaded, if the page has not done it by then.
    window.addEventListener("load", function () {
      if (!state.rendered && (PayFields.fields || []).length) PayFields.ready();
    });
  }

  window.PayFields = PayFields;
})();
