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
    button.textContent = "Please wait…";
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
// rate the page shows. Display only; the server converts with the same signed rate.
document.addEventListener("input", function (event) {
  var form = event.target.form;
  if (!form || !form.dataset.rate || event.target.name !== "amount") return;
  var preview = form.querySelector("[data-quote-preview]");
  var text = event.target.value.trim();
  var pay = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(pay > 0)) {
    preview.innerHTML = "<strong>Enter an amount to see what will be credited.</strong>";
    return;
  }
  var rate = Number(form.dataset.rate);
  var fmt = function (value, places) {
    return value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  };
  // Round down like the server: the preview never promises more than will be credited.
  var down = function (value, places) {
    var scale = Math.pow(10, places);
    return Math.floor(value * scale + 1e-9) / scale;
  };
  var strong = document.createElement("strong");
  strong.textContent = "You pay " + fmt(pay, Number(form.dataset.payPlaces)) + " " + form.dataset.payCurrency +
    " · " + fmt(down(pay / rate, Number(form.dataset.billingPlaces)), Number(form.dataset.billingPlaces)) + " " + form.dataset.billingCurrency + " will be credited";
  preview.replaceChildren(strong);
});
