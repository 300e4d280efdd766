// Copy buttons: copy data-copy-value, or the text of the nearest [data-copy-source].
// Words come from the page language's catalogue (/jsi18n/, loaded by base.html).
var gettext = window.gettext || function (message) { return message; };
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const holder = button.closest("dd, div");
  const source = holder && holder.querySelector("[data-copy-source]");
  const text = button.dataset.copyValue || (source ? source.textContent.trim() : "");
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = gettext("Copied");
  } catch (error) {
    button.textContent = gettext("Select and copy");
  }
  setTimeout(() => { button.textContent = label; }, 1500);
});
