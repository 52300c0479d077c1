// Keeps the status page's figures current: fetches /status/live (same origin, session cookie) every few seconds
// and writes each value into the element whose data-field names its path in the summary.
"use strict";

(function () {
  const root = document.getElementById("status");
  if (!root) return;
  const url = root.dataset.liveUrl;
  const every = Math.max(1, Number(root.dataset.refreshSeconds) || 2) * 1000;

  function lookup(summary, path) {
    return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), summary);
  }

  function show(path, value) {
    if (value === null || value === undefined) return path.endsWith("lastSuccessAt") ? "never" : "–";
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }

  function renderFailures(failures) {
    const body = document.querySelector("#failures-by-code tbody");
    if (!body) return;
    const rows = Object.entries(failures || {});
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 2;
      td.textContent = "No failures.";
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const [code, count] of rows) {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      const codeEl = document.createElement("code");
      codeEl.textContent = code;
      name.append(codeEl);
      const figure = document.createElement("td");
      figure.dataset.field = "failures24h." + code;
      figure.textContent = String(count);
      tr.append(name, figure);
      body.append(tr);
    }
  }

  function render(summary) {
    renderFailures(summary.failures24h);
    for (const el of document.querySelectorAll("[data-field]")) {
      const path = el.dataset.field;
      if (path.startsWith("failures24h.")) continue;
      const value = lookup(summary, path);
      el.textContent = show(path, value);
      if (path === "platform.reachable") el.className = value ? "ok" : "bad";
    }
    const updated = document.getElementById("updated-at");
    if (updated) updated.textContent = summary.generatedAt;
    document.body.dataset.lastRefresh = summary.generatedAt;
  }

  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (response.ok) render(await response.json());
    } catch (error) {
      document.body.dataset.refreshError = String(error);
    } finally {
      window.setTimeout(refresh, every);
    }
  }

  window.setTimeout(refresh, every);
})();
