// Reasoning Gate admin: progressive enhancement only; every page works without it.
// - The overview's counters refresh every few seconds from the app's JSON.
// - fetch() writes (none yet beyond refreshes) send the session's CSRF token in X-CSRF-Token.
"use strict";

(function () {
  const REFRESH_MS = 5000;

  function csrfToken() {
    const field = document.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  // For scripts that write: the same token the forms carry, as a header.
  window.rgAdminPost = function (url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data || {}),
    });
  };

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

  document.addEventListener("DOMContentLoaded", function () {
    const totals = document.getElementById("totals");
    if (totals && totals.dataset.refresh) {
      const url = totals.dataset.refresh;
      window.setInterval(() => refresh(url), REFRESH_MS);
    }
  });
})();
