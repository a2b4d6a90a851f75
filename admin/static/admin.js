// Reasoning Gate admin: progressive enhancement only; every page works without it.
// The overview's counters refresh every few seconds from the app's JSON.  (A script that writes
// sends the page's CSRF token, the value of any input[name=csrf], in the X-CSRF-Token header.)
"use strict";

(function () {
  const DEFAULT_REFRESH_MS = 5000;

  function show(field, value) {
    const node = document.querySelector('#totals [data-field="' + field + '"]');
    if (!node) return;
    if (value === null || value === undefined) {
      node.textContent = "–";
    } else if (field === "pass_rate") {
      node.textContent = Math.round(value * 100) + "%";
    } else {
      node.textContent = String(value);
    }
  }

  async function refresh(url) {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) return;
      const numbers = await response.json();
      Object.entries(numbers.totals || {}).forEach(([field, value]) => show(field, value));
      show("requests_per_minute", numbers.requests_per_minute);
    } catch (error) {
      // A missed refresh is harmless; the next one tries again.
    }
  }

  // A form with several sections (the policy page: Preview, then Save) submits, on Enter in a
  // text field, with its first button: Enter in the audit note would run Preview.  Here Enter
  // submits with the button of the field's own section (data-enter / data-enter-for).  Without
  // this script Enter still runs Preview, which saves nothing.
  document.addEventListener("keydown", function (event) {
    const field = event.target;
    if (event.key !== "Enter" || !(field instanceof HTMLInputElement) || !field.form) return;
    const section = field.closest("[data-enter]");
    if (!section) return;
    const button = field.form.querySelector('[data-enter-for="' + section.dataset.enter + '"]');
    if (!button) return;
    event.preventDefault();
    field.form.requestSubmit(button);
  });

  document.addEventListener("DOMContentLoaded", function () {
    const totals = document.getElementById("totals");
    if (totals && totals.dataset.refresh) {
      const url = totals.dataset.refresh;
      const every = parseInt(totals.dataset.refreshMs, 10) || DEFAULT_REFRESH_MS;
      window.setInterval(() => refresh(url), every);
    }
  });
})();
