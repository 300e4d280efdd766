// Copy buttons: copy data-copy-value, or the text of the nearest [data-copy-source].
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const holder = button.closest("dd, div");
  const source = holder && holder.querySelector("[data-copy-source]");
  const text = button.dataset.copyValue || (source ? source.textContent.trim() : "");
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = label; }, 1500);
});
