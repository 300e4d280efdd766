// The sign-in form offers the browser's time zone (an IANA name such as "Asia/Shanghai"); the
// server keeps it for a user who has none yet (accounts.language.SignInView).
document.addEventListener("DOMContentLoaded", function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (error) { zone = ""; }
  document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) { input.value = zone; });
});
