// Words come from the page language's catalogue (/jsi18n/, loaded by base.html first).
var gettext = window.gettext || function (message) { return message; };
var interpolate = window.interpolate || function (format, values) {
  return format.replace(/%\(\w+\)s/g, function (match) { return values[match.slice(2, -2)]; });
};

// A form marked data-submit-once disables its submit button after the first submit, so
// a double click sends one request. The server does not rely on this: the form's
// request_key makes a second submission find the first top-up anyway.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-submit-once")) return;
  if (form.dataset.submitted === "yes") { event.preventDefault(); return; }
  form.dataset.submitted = "yes";
  form.querySelectorAll("button[type=submit]").forEach(function (button) {
    button.dataset.label = button.textContent;
    button.disabled = true;
    button.textContent = gettext("Please wait…");
  });
});
// A page shown from the back/forward cache must be usable again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
    form.dataset.submitted = "";
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = false;
      if (button.dataset.label) button.textContent = button.dataset.label;
    });
  });
});

// The Pay page's live quote: what an amount in the payment currency credits at the
// rate the page shows. Display only; the server converts with the same signed rate and
// rounds the same way (down), and it alone decides.
function updateQuotePreview(input) {
  var form = input.form;
  if (!form || !form.dataset.rate) return;
  var preview = form.querySelector("[data-quote-preview]");
  var text = input.value.trim();
  var payPlaces = Number(form.dataset.payPlaces), billingPlaces = Number(form.dataset.billingPlaces);
  var say = function (message, strong) {
    var node = document.createElement(strong ? "strong" : "span");
    node.textContent = message;
    preview.replaceChildren(node);
  };
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(Number(text) > 0)) {
    say(gettext("Enter an amount to see what will be credited."), true);
    return;
  }
  var decimals = (text.split(".")[1] || "").length;
  if (decimals > payPlaces) {
    say(payPlaces === 0
      ? interpolate(gettext("%(currency)s has no minor unit: enter a whole number."), { currency: form.dataset.payCurrency }, true)
      : interpolate(gettext("Enter at most %(places)s decimals."), { places: payPlaces }, true), false);
    return;
  }
  // Rounded down in minor units like the server; the epsilon absorbs binary floating-point error.
  var credit = Math.floor((Number(text) / Number(form.dataset.rate)) * Math.pow(10, billingPlaces) + 1e-9) /
    Math.pow(10, billingPlaces);
  // Grouped for the page's language and written as the server writes money in it ("%s USD", "US$%s").
  var locale = document.documentElement.lang || "en";
  var fmt = function (value, places, pattern) {
    return pattern.replace("%s", value.toLocaleString(locale, { minimumFractionDigits: places, maximumFractionDigits: places }));
  };
  var values = {
    paid: fmt(Number(text), payPlaces, form.dataset.payPattern),
    credited: fmt(credit, billingPlaces, form.dataset.billingPattern),
    minimum: fmt(Number(form.dataset.min), billingPlaces, form.dataset.billingPattern),
    maximum: fmt(Number(form.dataset.max), billingPlaces, form.dataset.billingPattern)
  };
  var line = interpolate(gettext("You pay %(paid)s · %(credited)s will be credited"), values, true);
  if (credit < Number(form.dataset.min)) {
    line += interpolate(gettext(" — below the minimum of %(minimum)s"), values, true);
  } else if (credit > Number(form.dataset.max)) {
    line += interpolate(gettext(" — above the maximum of %(maximum)s"), values, true);
  }
  say(line, true);
}
document.addEventListener("input", function (event) {
  if (event.target.name === "amount") updateQuotePreview(event.target);
});
// After a refused submission the amount is still there: show its quote at once.
document.addEventListener("DOMContentLoaded", function () {
  var input = document.querySelector("form[data-rate] input[name=amount]");
  if (input && input.value) updateQuotePreview(input);
});

// After a refused submission, put the cursor in the first field that needs fixing.
document.addEventListener("DOMContentLoaded", function () {
  var invalid = document.querySelector("form [aria-invalid=true]");
  if (invalid) invalid.focus();
});

// A form with data-confirm asks before it is sent (e.g. removing an alert recipient).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);

// After a refused change, open the page where the error is (e.g. the alert card).
document.addEventListener("DOMContentLoaded", function () {
  var target = document.querySelector("[data-scroll-into-view]");
  if (target) target.scrollIntoView();
});
