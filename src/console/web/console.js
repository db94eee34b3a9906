// Hearth's live console: log in, watch the node once a second, find and act on accounts,
// read the audit trail. Player-supplied text is only ever set as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
// Minutes the charts show; the server keeps an hour.
const RANGES = [1, 15, 60];
const METHODS = ["device", "email", "custom"];
const OUTCOMES = ["created", "login", "wrong_credentials", "throttled", "banned", "not_found", "invalid", "error"];

let token = sessionStorage.getItem("hearth-console-token") || "";
let feed = null; // AbortController of the live stream
let charts = null;
let series = null;
let searchCursor = "";
let auditCursor = "";
let current = null; // the account shown
let rangeMinutes = 15;

// ---- requests ----------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (res.status === 401) { logout(false); }
  if (!res.ok) { throw new Error((json && json.message) || res.statusText); }
  return json;
}

function toast(text) {
  $("toast").textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { $("toast").textContent = ""; }, 4000);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// ---- login ---------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const body = { username: $("login-username").value, password: $("login-password").value };
  const res = await fetch("/v2/console/authenticate", { method: "POST", body: JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    $("login-error").textContent = json.message || "Login failed.";
    return;
  }
  token = json.token;
  sessionStorage.setItem("hearth-console-token", token);
  $("login-password").value = "";
  start();
});

$("logout").addEventListener("click", () => logout(true));

function logout(tellServer) {
  if (tellServer && token) {
    fetch("/v2/console/authenticate/logout", {
      method: "POST", headers: { Authorization: "Bearer " + token }, body: "{}",
    }).catch(() => {});
  }
  token = "";
  sessionStorage.removeItem("hearth-console-token");
  if (feed) { feed.abort(); feed = null; }
  $("app").hidden = true;
  $("login-view").hidden = false;
}

function start() {
  $("login-view").hidden = true;
  $("app").hidden = false;
  if (!charts) charts = makeCharts();
  connect();
}

// ---- tabs ----------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => showTab(tab.dataset.tab));
}

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const view of document.querySelectorAll(".tab-view")) view.hidden = view.id !== name;
  if (name === "audit") loadAudit(true);
  // The accounts tab opens on the newest accounts (or the search kept from before).
  if (name === "accounts" && !$("results").tBodies[0].rows.length) search(true);
  if (name === "live" && charts) resizeCharts();
}

// ---- live view -----------------------------------------------------------------------------

function chart(target, labels, colors) {
  const width = Math.max(320, $(target).clientWidth || 420);
  const opts = {
    width, height: 200,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: "#8a97a8", grid: { stroke: "#2a3544" }, ticks: { stroke: "#2a3544" } },
      { stroke: "#8a97a8", grid: { stroke: "#2a3544" }, ticks: { stroke: "#2a3544" } },
    ],
    series: [{}].concat(labels.map((label, i) => ({ label, stroke: colors[i], width: 2 }))),
    legend: { live: false },
  };
  return new uPlot(opts, [[]].concat(labels.map(() => [])), $(target));
}

function makeCharts() {
  series = { t: [], sessions: [], presences: [], device: [], email: [], custom: [], p50: [], p99: [], rest: [], grpc: [], in: [], out: [] };
  return {
    sessions: chart("chart-sessions", ["sessions", "presences"], ["#f29d38", "#6cb6ff"]),
    logins: chart("chart-logins", METHODS, ["#f29d38", "#6cb6ff", "#57ab5a"]),
    transports: chart("chart-transports", ["rest", "grpc"], ["#f29d38", "#6cb6ff"]),
    latency: chart("chart-latency", ["p50", "p99"], ["#57ab5a", "#e5534b"]),
    messages: chart("chart-messages", ["in", "out"], ["#6cb6ff", "#f29d38"]),
  };
}

function resizeCharts() {
  for (const [name, c] of Object.entries(charts)) {
    const width = $("chart-" + name).clientWidth;
    if (width > 0) c.setSize({ width, height: 200 });
  }
}
window.addEventListener("resize", () => charts && resizeCharts());

// The range buttons: the charts show the last 1, 15 or 60 minutes; a wider range than the
// page holds asks the server for its history again.
for (const button of document.querySelectorAll("#range button")) {
  button.addEventListener("click", () => {
    const minutes = Number(button.dataset.minutes);
    if (!RANGES.includes(minutes) || minutes === rangeMinutes) return;
    rangeMinutes = minutes;
    for (const b of document.querySelectorAll("#range button")) b.classList.toggle("active", b === button);
    connect();
  });
}

function push(sample) {
  const perMethod = (m) => OUTCOMES.reduce((sum, o) => sum + (sample.logins[m][o] || 0), 0);
  const add = (key, value) => series[key].push(value);
  add("t", sample.time / 1000);
  add("sessions", sample.sessions);
  add("presences", sample.presences);
  for (const m of METHODS) add(m, perMethod(m));
  add("p50", sample.latency_p50_ms);
  add("p99", sample.latency_p99_ms);
  const calls = sample.requests_per_sec || {};
  add("rest", calls.rest || 0);
  add("grpc", calls.grpc || 0);
  add("in", sample.messages_in_per_sec);
  add("out", sample.messages_out_per_sec);
  // Drop what fell out of the range.
  const oldest = series.t[series.t.length - 1] - rangeMinutes * 60;
  let drop = 0;
  while (drop < series.t.length && series.t[drop] < oldest) drop++;
  if (drop) for (const key of Object.keys(series)) series[key].splice(0, drop);
}

function draw(sample) {
  charts.sessions.setData([series.t, series.sessions, series.presences]);
  charts.logins.setData([series.t, series.device, series.email, series.custom]);
  charts.transports.setData([series.t, series.rest, series.grpc]);
  charts.latency.setData([series.t, series.p50, series.p99]);
  charts.messages.setData([series.t, series.in, series.out]);
  // What the sessions chart plots, for tests and for anyone inspecting the page.
  const plotted = $("chart-sessions");
  plotted.dataset.points = series.t.length;
  plotted.dataset.range = rangeMinutes;
  plotted.dataset.lastSessions = series.sessions.length ? series.sessions[series.sessions.length - 1] : "";
  plotted.dataset.maxSessions = series.sessions.length ? Math.max(...series.sessions) : "";
  if (!sample || !sample.status) return;
  const s = sample.status;
  $("node-name").textContent = s.name;
  $("stat-sessions").textContent = sample.sessions;
  $("stat-presences").textContent = sample.presences;
  $("stat-logins").textContent = sample.logins_per_sec;
  const calls = sample.requests_per_sec || {};
  $("stat-transports").textContent = (calls.rest || 0) + " / " + (calls.grpc || 0);
  $("stat-p50").textContent = sample.latency_p50_ms + " ms";
  $("stat-p99").textContent = sample.latency_p99_ms + " ms";
  $("stat-messages").textContent = sample.messages_in_per_sec + " / " + sample.messages_out_per_sec;
  $("stat-argon2").textContent = sample.argon2_queue;
  $("stat-slow").textContent = sample.slow_disconnects + sample.queue_overflows;
  $("stat-rate").textContent = s.avg_rate_sec;
  $("stat-threads").textContent = s.goroutine_count;
  drawOutcomes(sample.logins);
}

function drawOutcomes(logins) {
  const table = $("outcomes");
  if (!table.tHead.rows.length) {
    const head = table.tHead.insertRow();
    head.appendChild(el("th", "method"));
    for (const o of OUTCOMES) head.appendChild(el("th", o.replace("_", " ")));
  }
  const body = table.tBodies[0];
  body.textContent = "";
  for (const m of METHODS) {
    const row = body.insertRow();
    row.appendChild(el("td", m));
    for (const o of OUTCOMES) row.appendChild(el("td", logins[m][o]));
  }
}

// Server-sent events over fetch, so the token travels in a header, never in a URL.
async function connect() {
  if (feed) feed.abort();
  const controller = new AbortController();
  feed = controller;
  $("feed-state").textContent = "connecting…";
  try {
    const since = Date.now() - rangeMinutes * 60 * 1000;
    const res = await fetch("/v2/console/live?since=" + since, {
      headers: { Authorization: "Bearer " + token }, signal: controller.signal,
    });
    if (res.status === 401) { logout(false); return; }
    if (!res.ok || !res.body) throw new Error(res.statusText);
    $("feed-state").textContent = "live";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (feed === controller && token) {
    $("feed-state").textContent = "reconnecting…";
    setTimeout(() => { if (feed === controller && token) connect(); }, 2000);
  }
}

function handleEvent(block) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const parsed = JSON.parse(data);
  if (name === "history") {
    for (const key of Object.keys(series)) series[key].length = 0;
    for (const sample of parsed) push(sample);
    draw(parsed[parsed.length - 1]);
  } else {
    push(parsed);
    draw(parsed);
  }
}

// ---- accounts ------------------------------------------------------------------------------

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  search(true);
});
$("search-more").addEventListener("click", () => search(false));

// The search is kept for the browser tab, across reloads.
$("search").value = sessionStorage.getItem("hearth-console-filter") || "";

async function search(fresh) {
  if (fresh) searchCursor = "";
  const filter = $("search").value.trim();
  sessionStorage.setItem("hearth-console-filter", filter);
  try {
    const page = await api("GET", "/v2/console/account?filter=" + encodeURIComponent(filter) +
      "&cursor=" + encodeURIComponent(searchCursor));
    const body = $("results").tBodies[0];
    if (fresh) body.textContent = "";
    for (const user of page.users) {
      const row = body.insertRow();
      row.dataset.id = user.id;
      row.appendChild(el("td", user.username));
      row.appendChild(el("td", user.id));
      row.appendChild(el("td", user.online ? "yes" : "no"));
      row.appendChild(el("td", user.create_time));
      row.addEventListener("click", () => showAccount(user.id));
    }
    searchCursor = page.next_cursor;
    $("search-more").hidden = !searchCursor;
    $("search-summary").textContent = body.rows.length + " shown of about " + page.total_count;
    if (fresh && page.users.length === 1) showAccount(page.users[0].id);
  } catch (err) {
    toast(err.message);
  }
}

async function showAccount(id) {
  let reply;
  try {
    reply = await api("GET", "/v2/console/account/" + encodeURIComponent(id));
  } catch (err) {
    toast(err.message);
    $("account").hidden = true;
    return;
  }
  current = reply;
  const account = reply.account;
  const user = account.user;
  for (const row of $("results").tBodies[0].rows) row.classList.toggle("selected", row.dataset.id === id);
  $("account").hidden = false;
  $("account-title").textContent = user.username;
  const fields = $("account-fields");
  fields.textContent = "";
  const field = (name, value, badge) => {
    fields.appendChild(el("dt", name));
    const dd = el("dd");
    dd.dataset.field = name;
    if (badge) dd.appendChild(el("span", value, "badge " + badge)); else dd.textContent = value;
    fields.appendChild(dd);
  };
  field("id", user.id);
  field("display name", user.display_name || "—");
  field("online", user.online ? "online" : "offline", user.online ? "on" : "");
  field("sessions", reply.live.sessions);
  field("sockets", reply.live.sockets);
  field("created", user.create_time);
  field("banned since", reply.disable_time || "not banned", reply.disable_time ? "banned" : "");
  $("action-ban").hidden = !!reply.disable_time;
  $("action-unban").hidden = !reply.disable_time;

  const logins = $("account-logins");
  logins.textContent = "";
  const method = (label, value, kind, body) => {
    const li = el("li");
    li.appendChild(el("span", label + ": " + value));
    const button = el("button", "Unlink", "secondary");
    button.dataset.unlink = kind;
    button.addEventListener("click", () => act("unlink " + label + " " + value + " from " + user.username,
      "/unlink/" + kind, body, "unlink_" + kind));
    li.appendChild(button);
    logins.appendChild(li);
  };
  for (const device of account.devices) method("device", device.id, "device", { device_id: device.id });
  if (account.custom_id) method("custom id", account.custom_id, "custom");
  if (account.email) method("email", account.email, "email");
  const social = { apple_id: "apple", facebook_id: "facebook", facebook_instant_game_id: "facebookinstantgame",
    gamecenter_id: "gamecenter", google_id: "google", steam_id: "steam" };
  for (const [key, kind] of Object.entries(social)) if (user[key]) method(kind, user[key], kind);
  showAccountAudit(user.id);
}

// What staff did to this account, newest first (the first page).
async function showAccountAudit(id) {
  const body = $("account-audit").tBodies[0];
  body.textContent = "";
  try {
    const page = await api("GET", "/v2/console/audit?target=" + encodeURIComponent(id));
    if (current?.account.user.id !== id) return;
    for (const entry of page.entries) {
      const row = body.insertRow();
      row.dataset.action = entry.action;
      for (const text of [entry.create_time, entry.username, entry.action, entry.result]) row.appendChild(el("td", text));
    }
  } catch (err) {
    toast(err.message);
  }
}

function confirmAction(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = "Really " + text + "?";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}

async function act(text, suffix, body, label) {
  if (!current) return;
  const id = current.account.user.id;
  if (!(await confirmAction(text))) return;
  const method = suffix === "" ? "DELETE" : "POST";
  try {
    await api(method, "/v2/console/account/" + encodeURIComponent(id) + suffix, body || {});
    toast(label + ": done");
  } catch (err) {
    toast(label + ": " + err.message);
  }
  if (suffix === "") {
    $("account").hidden = true;
    current = null;
  } else {
    showAccount(id);
  }
}

$("action-ban").addEventListener("click", () =>
  act("ban " + current.account.user.username + " (closes every socket)", "/ban", undefined, "ban"));
$("action-unban").addEventListener("click", () =>
  act("unban " + current.account.user.username, "/unban", undefined, "unban"));
$("action-delete").addEventListener("click", () =>
  act("delete " + current.account.user.username + " for good", "", undefined, "delete"));

// ---- audit ---------------------------------------------------------------------------------

$("audit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadAudit(true);
});
$("audit-more").addEventListener("click", () => loadAudit(false));

// The filters as query parameters; times from the local datetime inputs, in Unix seconds.
function auditQuery() {
  const params = new URLSearchParams({ cursor: auditCursor });
  const staff = $("audit-staff").value.trim();
  if (staff) params.set("username", staff);
  if ($("audit-action").value) params.set("action", $("audit-action").value);
  for (const [id, name] of [["audit-since", "since"], ["audit-until", "until"]]) {
    const value = $(id).value;
    if (value) params.set(name, String(Math.floor(new Date(value).getTime() / 1000)));
  }
  return params.toString();
}

async function loadAudit(fresh) {
  if (fresh) auditCursor = "";
  try {
    const page = await api("GET", "/v2/console/audit?" + auditQuery());
    const body = $("audit-table").tBodies[0];
    if (fresh) body.textContent = "";
    for (const entry of page.entries) {
      const row = body.insertRow();
      row.dataset.action = entry.action;
      row.dataset.target = entry.target;
      const target = entry.target_username ? entry.target_username + " (" + entry.target + ")" : entry.target;
      for (const text of [entry.create_time, entry.username, entry.action, target, entry.result, entry.client_address]) {
        row.appendChild(el("td", text));
      }
    }
    auditCursor = page.next_cursor;
    $("audit-more").hidden = !auditCursor;
  } catch (err) {
    toast(err.message);
  }
}

if (token) start();
