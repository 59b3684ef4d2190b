// The console works without this file. With it, copy buttons appear next to the signing
// secret and the Apps Script; the console's Content-Security-Policy allows no inline script,
// so this is the only script a page runs.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) {
      return;
    }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "✓ " + label;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
});
