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
