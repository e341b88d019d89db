// orc dashboard: the small live parts on top of server-rendered pages.
// Loaded in <head> so the chosen theme applies before the page paints.
"use strict";

(function () {
  const saved = localStorage.getItem("orc-theme");
  if (saved === "dark" || saved === "light") {
    document.documentElement.dataset.theme = saved;
  }
})();

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : null;
}

// Call the API as the logged-in session: the cookie goes along by itself, the
// CSRF token in its header. Answers {ok, status, body}.
async function api(method, url, body) {
  const headers = { "X-CSRF-Token": csrfToken() || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch (_) { /* plain text */ }
  return { ok: response.ok, status: response.status, body: parsed };
}

function flash(message, bad) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.classList.toggle("bad", !!bad);
}

function errorText(result) {
  return (result.body && result.body.error) || String(result.body || result.status);
}

// ---- theme -----------------------------------------------------------------

function effectiveTheme() {
  const set = document.documentElement.dataset.theme;
  if (set) return set;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function showTheme(button) {
  const dark = effectiveTheme() === "dark";
  button.setAttribute("aria-pressed", String(dark));
  button.textContent = dark ? "Light mode" : "Dark mode";
}

function setUpTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  showTheme(button);
  button.addEventListener("click", () => {
    const next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("orc-theme", next);
    showTheme(button);
  });
}

// ---- task grid filters -------------------------------------------------------

function applyFilters() {
  const search = document.getElementById("search");
  const state = document.getElementById("status-filter");
  const rows = document.querySelectorAll("#task-rows tr[data-name]");
  if (!search || !state) return;
  const q = search.value.trim().toLowerCase();
  let shown = 0;
  rows.forEach((row) => {
    const match = (!state.value || row.dataset.status === state.value) &&
      (!q || row.dataset.search.includes(q));
    row.hidden = !match;
    if (match) shown += 1;
  });
  const count = document.getElementById("task-count");
  if (count) count.textContent = `${shown} of ${rows.length} tasks`;
  const url = new URL(location.href);
  q ? url.searchParams.set("q", q) : url.searchParams.delete("q");
  state.value ? url.searchParams.set("status", state.value) : url.searchParams.delete("status");
  history.replaceState(null, "", url);
}

function setUpFilters() {
  const search = document.getElementById("search");
  const state = document.getElementById("status-filter");
  if (!search || !state) return;
  search.addEventListener("input", applyFilters);
  state.addEventListener("change", applyFilters);
  search.closest("form").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
  applyFilters();
}

// ---- buttons -------------------------------------------------------------------

const ACTIONS = {
  run: (task) => ["POST", `/api/tasks/${encodeURIComponent(task)}/run`, `Started ${task}.`],
  "run-params": (task) => {
    // The fields filled in; an empty one keeps its default.
    const params = {};
    document.querySelectorAll("#run-params input[data-param]").forEach((input) => {
      if (input.value !== "") params[input.dataset.param] = input.value;
    });
    return ["POST", `/api/tasks/${encodeURIComponent(task)}/run`, `Started ${task} with ${Object.keys(params).length} parameter(s) given.`, { params }];
  },
  "run-pool": (task) => ["POST", "/api/fleet/requests", `Asked the pool to run ${task}: the first host to look takes it.`, { task }],
  enable: (task) => ["POST", `/api/tasks/${encodeURIComponent(task)}/enable`, `Resumed ${task}: enabled = true written and applied.`],
  disable: (task) => ["POST", `/api/tasks/${encodeURIComponent(task)}/disable`, `Paused ${task}: enabled = false written and applied.`],
  delete: (task) => ["DELETE", `/api/tasks/${encodeURIComponent(task)}`, `Deleted ${task} from its file and applied.`],
  apply: () => ["POST", "/api/apply", "Applied."],
};

async function onAction(button) {
  const action = button.dataset.action;
  const task = button.dataset.task;
  if (action === "delete" && !confirm(`Delete ${task} from tasks.toml and the scheduler?`)) return;
  const [method, url, done, body] = ACTIONS[action](task);
  button.disabled = true;
  flash(action === "apply" ? "Applying…" : `${button.textContent} ${task}…`);
  try {
    const result = await api(method, url, body);
    if (!result.ok) {
      flash(`${button.textContent} failed: ${errorText(result)}`, true);
      return;
    }
    flash(done);
    if (action === "apply") {
      const out = document.getElementById("apply-output");
      if (out) { out.hidden = false; out.textContent = result.body.output || ""; }
      button.remove();
    } else if (action === "delete" && location.pathname !== "/") {
      location.assign("/");
      return;
    }
    await refresh();
  } catch (e) {
    flash(`${button.textContent} failed: ${e}`, true);
  } finally {
    button.disabled = false;
  }
}

function setUpActions() {
  // Delegated: rows replaced by a refresh keep working.
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) onAction(button);
  });
  // Enter in a parameter's field runs, rather than sending the form anywhere.
  document.addEventListener("submit", (e) => {
    if (e.target.id !== "run-params") return;
    e.preventDefault();
    const button = e.target.querySelector("button[data-action]");
    if (button) onAction(button);
  });
}

// ---- live refresh ---------------------------------------------------------------

let refreshing = false;
let refreshAgain = false;

// Fetch this page again and swap in its live parts ([data-live] with an id). A
// change announced while a refresh is under way gets one more refresh after it.
async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      await refreshOnce();
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

async function refreshOnce() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelectorAll("[data-live][id]").forEach((part) => {
    const next = fresh.getElementById(part.id);
    if (!next || next.innerHTML === part.innerHTML) return;
    // The same run's log stays as it is (text, scroll position); only whether
    // the run is still going is taken over.
    const log = part.querySelector("#log");
    const nextLog = next.querySelector("#log");
    if (log && nextLog && log.dataset.run === nextLog.dataset.run) {
      log.dataset.running = nextLog.dataset.running;
      return;
    }
    part.innerHTML = next.innerHTML;
  });
  applyFilters();
  startLog();
}

function setUpLive() {
  if (!window.EventSource || !document.querySelector("[data-live]")) return;
  let timer = null;
  const events = new EventSource("/events");
  // A burst of writes (a run starting and finishing) gives one refresh.
  events.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  });
}

// ---- log viewer with live tail ------------------------------------------------------

let logTimer = null;
let logLoading = false;
// The log shown: its run and its lines.
let shown = { run: null, lines: [] };

// Fetch what is new in the log (from its last line on, which may have been half
// written) and show it; while the run goes on, again every second.
async function loadLog() {
  const log = document.getElementById("log");
  if (!log || logLoading) return;
  logLoading = true;
  clearTimeout(logTimer);
  try {
    if (shown.run !== log.dataset.run) shown = { run: log.dataset.run, lines: [] };
    const from = Math.max(shown.lines.length, 1);
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    const response = await fetch(`/api/runs/${log.dataset.run}/log?from=${from}`, { credentials: "same-origin" });
    if (response.ok) {
      const fresh = (await response.text()).split("\n");
      fresh.pop(); // after the last line break
      shown.lines = shown.lines.slice(0, from - 1).concat(fresh);
      const text = shown.lines.length ? shown.lines.join("\n") + "\n" : "(empty so far)";
      if (log.textContent !== text) {
        log.textContent = text;
        if (atBottom) log.scrollTop = log.scrollHeight;
      }
    } else if (!shown.lines.length) {
      log.textContent = "(no log)";
    }
  } finally {
    logLoading = false;
  }
  if (log.dataset.running === "true") logTimer = setTimeout(loadLog, 1000);
}

function startLog() {
  if (document.getElementById("log")) loadLog();
}

// ---- task form -------------------------------------------------------------------

const LISTS = ["dependencies", "notify"];

function formValue(input) {
  if (input.type === "checkbox") return input.checked;
  const text = input.value.trim();
  if (LISTS.includes(input.name)) {
    return text ? text.split(",").map((s) => s.trim()).filter(Boolean) : "";
  }
  if (input.name === "retry_count") return text === "" ? "" : Number(text);
  return text;
}

async function previewSchedule(input, box, timezone) {
  const expr = input.value.trim();
  if (!expr) {
    box.textContent = "On demand only (no schedule).";
    input.removeAttribute("aria-invalid");
    return;
  }
  const url = `/api/schedule?expr=${encodeURIComponent(expr)}&timezone=${encodeURIComponent(timezone)}`;
  const response = await fetch(url);
  const body = await response.json();
  if (input.value.trim() !== expr) return; // typed on meanwhile
  box.replaceChildren();
  if (!response.ok) {
    input.setAttribute("aria-invalid", "true");
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = body.error;
    box.append(p);
    return;
  }
  input.removeAttribute("aria-invalid");
  const words = document.createElement("p");
  words.textContent = `${body.words} (${body.timezone}). Next:`;
  const list = document.createElement("ol");
  body.next.forEach((t) => {
    const li = document.createElement("li");
    li.textContent = t;
    list.append(li);
  });
  box.append(words, list);
}

function setUpForm() {
  const form = document.getElementById("task-form");
  if (!form) return;
  const schedule = form.elements.schedule;
  const box = document.getElementById("schedule-preview");
  let timer = null;
  const preview = () => previewSchedule(schedule, box, form.dataset.timezone);
  schedule.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 200); });
  preview();
  const name = form.elements.name;
  if (name && name.type !== "hidden") {
    name.addEventListener("input", () => {
      name.setAttribute("aria-invalid", String(!name.checkValidity()));
    });
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("form-error");
    error.hidden = true;
    const creating = form.dataset.mode === "create";
    const body = {};
    for (const input of form.querySelectorAll("input[name], select[name]")) {
      if (input.name === "name" && !creating) continue;
      const value = formValue(input);
      if (creating) {
        if (value !== "" && !(input.type === "checkbox" && value === true)) body[input.name] = value;
      } else {
        const initial = input.dataset.initial;
        const now = input.type === "checkbox" ? String(value) : input.value.trim();
        const before = input.type === "checkbox" ? String(initial !== "false") : initial;
        // Only what changed is sent; an emptied field removes the key.
        if (now !== before) body[input.name] = value === "" ? null : value;
      }
    }
    const task = creating ? body.name : form.elements.name.value;
    const url = creating ? "/api/tasks" : `/api/tasks/${encodeURIComponent(task)}`;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    flash("Saving and applying…");
    try {
      const result = await api(creating ? "POST" : "PUT", url, body);
      if (!result.ok) {
        flash("");
        error.textContent = errorText(result);
        error.hidden = false;
        error.focus();
        return;
      }
      location.assign(`/tasks/${encodeURIComponent(task)}`);
    } finally {
      submit.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpTheme();
  setUpFilters();
  setUpActions();
  setUpLive();
  startLog();
  setUpForm();
});
