/* One PayFields field frame (GET /payFields/frame), served from the sandbox's origin. The value typed here stays
 * in this origin: the page that embeds the frame cannot read it (cross-origin), and this frame only ever messages
 * that page's origin (data-parent) with sizes, validation problems and the tokenize answer.
 *
 * The leader frame (data-leader="1", the first field) receives submit() from the page, reads the values of its
 * sibling frames of the same group (same origin as itself, so it may), validates them, and POSTs them to
 * /payFields/tokenize on this origin with the page's public API key and txnSession key. */
(function () {
  "use strict";

  var root = document.documentElement;
  var TYPE = root.getAttribute("data-type");
  var GROUP = root.getAttribute("data-group");
  var PARENT = root.getAttribute("data-parent");
  var LEADER = root.getAttribute("data-leader") === "1";
  var input = document.getElementById("pf-input");
  var error = document.getElementById("pf-error");

  function post(message) {
    message.group = GROUP;
    window.parent.postMessage(message, PARENT);
  }

  function report() {
    post({ type: "payfields:size", height: document.documentElement.scrollHeight });
  }

  function showError(message) {
    error.textContent = message || "";
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    report();
  }

  // What the leader frame calls on this frame (same origin): nothing else of it is reachable from outside.
  window.pfGroup = GROUP;
  window.pfType = TYPE;
  window.pfValue = function () {
    return input.value;
  };
  window.pfShowError = showError;
  window.pfClear = function () {
    if (input.tagName === "INPUT") input.value = "";
    showError("");
  };

  input.addEventListener("input", function () {
    if (input.getAttribute("aria-invalid")) showError("");
  });
  window.addEventListener("resize", report);
  report();
  post({ type: "payfields:loaded" });

  if (!LEADER) return;

  function siblings() {
    var found = [];
    var page = window.parent;
    for (var i = 0; i < page.length; i++) {
      try {
        var frame = page[i];
        if (frame.pfGroup === GROUP && typeof frame.pfValue === "function") found.push(frame);
      } catch (e) {
        // another origin's frame: not one of ours
      }
    }
    return found;
  }

  function luhn(number) {
    var total = 0;
    for (var i = 0; i < number.length; i++) {
      var digit = Number(number.charAt(number.length - 1 - i));
      if (i % 2) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
      total += digit;
    }
    return total % 10 === 0;
  }

  function aba(routing) {
    if (!/^[0-9]{9}$/.test(routing)) return false;
    var d = routing.split("").map(Number);
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 === 0;
  }

  function expiration(value) {
    var match = value.replace(/\s/g, "").match(/^([0-9]{2})\/?([0-9]{2}|[0-9]{4})$/);
    if (!match || Number(match[1]) < 1 || Number(match[1]) > 12) return null;
    return match[1] + match[2].slice(-2);
  }

  function expired(mmyy) {
    var now = new Date();
    var year = 2000 + Number(mmyy.slice(2));
    var month = Number(mmyy.slice(0, 2));
    return year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1);
  }

  var CHECKS = {
    number: function (v) {
      var n = v.replace(/[\s-]/g, "");
      return /^[0-9]{12,19}$/.test(n) && luhn(n) ? null : "Enter a valid card number.";
    },
    expiration: function (v) {
      var mmyy = expiration(v);
      if (!mmyy) return "Enter the expiration date as MM/YY.";
      return expired(mmyy) ? "This card has expired." : null;
    },
    cvv: function (v) {
      return /^[0-9]{3,4}$/.test(v.trim()) ? null : "Enter the 3 or 4 digit security code.";
    },
    routing: function (v) {
      return aba(v.replace(/\s/g, "")) ? null : "Enter a valid 9-digit routing number.";
    },
    account: function (v) {
      return /^[0-9]{4,17}$/.test(v.replace(/\s/g, "")) ? null : "Enter the account number (4 to 17 digits).";
    },
    account_type: function () {
      return null;
    }
  };
  var REQUIRED = { card: ["number", "expiration"], bank: ["routing", "account"] };

  function result(ok, response) {
    post({ type: "payfields:result", ok: ok, response: response });
  }

  function failed(message) {
    return { data: [], errors: [{ code: 0, severity: 3, msg: message, errorCode: "payfields" }] };
  }

  function submit(config) {
    var frames = siblings();
    var values = {};
    var problems = [];
    for (var i = 0; i < frames.length; i++) {
      var type = frames[i].pfType;
      var value = String(frames[i].pfValue());
      var problem = CHECKS[type](value);
      frames[i].pfShowError(problem || "");
      if (problem) problems.push({ field: type, msg: problem });
      values[type] = value;
    }
    if (problems.length) {
      post({ type: "payfields:invalid", errors: problems });
      return;
    }
    var kind = "routing" in values || "account" in values ? "bank" : "card";
    var missing = REQUIRED[kind].filter(function (t) {
      return !(t in values);
    });
    if (missing.length) {
      result(false, failed("PayFields.fields has no " + missing.join(", ") + " field"));
      return;
    }
    var body = { merchant: config.merchant, customer: config.customer };
    if (kind === "card") {
      body.payment = { number: values.number.replace(/[\s-]/g, "") };
      if ("cvv" in values) body.payment.cvv = values.cvv.trim();
      body.expiration = expiration(values.expiration);
    } else {
      body.payment = {
        method: Number(values.account_type || "8"),
        number: values.account.replace(/\s/g, ""),
        routing: values.routing.replace(/\s/g, "")
      };
    }
    window
      .fetch("/payFields/tokenize", {
        method: "POST",
        headers: { "Content-Type": "application/json", APIKEY: config.apiKey, TXNSESSIONKEY: config.txnSessionKey },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store"
      })
      .then(function (answer) {
        return answer.json();
      })
      .then(function (envelope) {
        var response = envelope && envelope.response ? envelope.response : failed("Unreadable answer");
        var ok = !(response.errors || []).length && (response.data || []).length > 0;
        if (ok) frames.forEach(function (frame) {
          frame.pfClear();
        });
        result(ok, response);
      })
      .catch(function () {
        result(false, failed("The sandbox could not be reached"));
      });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== PARENT) return;
    var data = event.data;
    if (!data || data.type !== "payfields:submit" || data.group !== GROUP) return;
    submit(data.config || {});
  });
})();
