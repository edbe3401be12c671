// dealer-risk pages: small enhancements only; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // After a what-if, move focus to the result so keyboard and screen-reader users hear it.
  const result = document.querySelector("[data-focus-on-load]");
  if (result) {
    result.focus();
  }

  // Mark the what-if fields that differ from the licensee's values and count them.
  for (const form of document.querySelectorAll("form[data-what-if]")) {
    const counter = form.querySelector("[data-changed-count]");
    const inputs = Array.from(form.querySelectorAll("input[data-original]"));
    const update = () => {
      let changed = 0;
      for (const input of inputs) {
        const differs = input.value.trim() !== input.dataset.original;
        input.classList.toggle("changed", differs);
        input.closest(".field")?.classList.toggle("changed-field", differs);
        // Empty means "unknown"; anything else must be a finite number.
        const text = input.value.trim();
        const valid = text === "" || Number.isFinite(Number(text));
        if (valid) {
          input.removeAttribute("aria-invalid");
        } else {
          input.setAttribute("aria-invalid", "true");
        }
        if (differs) {
          changed += 1;
        }
      }
      if (counter) {
        counter.textContent = changed === 0 ? "" :
          `${changed} value${changed === 1 ? "" : "s"} changed`;
      }
    };
    form.addEventListener("input", update);
    // A reset restores the values after the event; update once they are back.
    form.addEventListener("reset", () => window.setTimeout(update, 0));
    update();
  }
});
