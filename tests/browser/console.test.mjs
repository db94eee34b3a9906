// The live console in a real browser (Debian's chromium driven by playwright-core): log in
// through the form, watch sessions rise as sockets open, find an account by device id, ban
// it and see its socket closed, find the ban in the audit list. Asserts on the DOM.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import WebSocket from "ws";

const api = process.env.HEARTH_BROWSER_API; // http://127.0.0.1:<client API port>
const consoleUrl = process.env.HEARTH_BROWSER_CONSOLE; // http://127.0.0.1:<console port>
const shots = process.env.HEARTH_BROWSER_SHOTS || "target/browser-test";
const executablePath = process.env.HEARTH_CHROMIUM || "/usr/bin/chromium";
const serverKey = "Basic " + Buffer.from("defaultkey:").toString("base64");

let browser;
let page;
const sockets = [];

async function device(id) {
  const res = await fetch(`${api}/v2/account/authenticate/device?create=true`, {
    method: "POST",
    headers: { Authorization: serverKey },
    body: JSON.stringify({ id }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { token } = await res.json();
  const uid = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).uid;
  return { token, uid };
}

/** Opens a socket; resolves once open, records what the server says and how it closed. */
function socket(token, status) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${api.replace("http", "ws")}/ws?lang=en&status=${status}&token=${token}`);
    const seen = { ws, messages: [], closed: null };
    ws.on("message", (data) => seen.messages.push(JSON.parse(data.toString())));
    ws.on("close", (code, reason) => { seen.closed = { code, reason: reason.toString() }; });
    ws.on("open", () => { sockets.push(ws); resolve(seen); });
    ws.on("error", reject);
  });
}

async function until(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    // A closed network: without these Chromium waits on lookups it can never finish.
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

after(async () => {
  for (const ws of sockets) ws.terminate();
  await browser?.close();
});

test("staff log in, watch sockets, ban a player and find the ban in the audit", async () => {
  await page.goto(consoleUrl + "/");
  assert.ok(await page.isVisible("#login-form"));

  // A wrong password is refused with the spec's text.
  await page.fill("#login-username", "admin");
  await page.fill("#login-password", "not-the-password");
  await page.click("#login-submit");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  assert.equal(await page.textContent("#login-error"), "Invalid credentials.");

  await page.fill("#login-password", "password");
  await page.click("#login-submit");
  await page.waitForSelector("#app", { state: "visible" });
  await page.waitForFunction(() => document.querySelector("#stat-sessions").textContent === "0");
  assert.equal(await page.textContent("#feed-state"), "live");
  assert.equal(await page.isVisible("#results"), false, "one tab at a time");

  // Sessions rise as the test opens sockets: the number and the chart.
  const players = [];
  for (let i = 0; i < 3; i++) players.push(await device(`browser-device-${Date.now()}-${i}`));
  const target = players[1];
  const opened = [];
  for (const [i, p] of players.entries()) opened.push(await socket(p.token, i === 0));
  await page.waitForFunction(() => document.querySelector("#stat-sessions").textContent === "3");
  assert.equal(await page.textContent("#stat-presences"), "4");
  await page.waitForFunction(() => document.querySelector("#chart-sessions").dataset.lastSessions === "3");
  const chart = await page.$eval("#chart-sessions", (e) => ({ ...e.dataset, canvas: !!e.querySelector("canvas") }));
  assert.ok(chart.canvas, "the chart draws on a canvas");
  assert.equal(chart.maxSessions, "3");
  const logins = await page.textContent("#outcomes");
  assert.match(logins, /device/);
  await page.screenshot({ path: `${shots}/console-live.png`, fullPage: true });

  // The accounts tab opens on the newest accounts: the three players made above (in the
  // same second, so in any order between them).
  await page.click("#tab-accounts");
  await page.waitForSelector(`#results tbody tr[data-id="${players[2].uid}"]`);
  const listed = await page.$$eval("#results tbody tr", (rows) => rows.map((tr) => tr.dataset.id));
  assert.deepEqual([...listed].sort(), players.map((p) => p.uid).sort());
  assert.equal(await page.textContent("#search-summary"), "3 shown of about 3");

  // Find the player by device id.
  const targetAccount = await (await fetch(`${api}/v2/account`, { headers: { Authorization: "Bearer " + target.token } }))
    .json();
  const deviceId = targetAccount.devices[0].id;
  await page.fill("#search", deviceId);
  await page.click("#search-submit");
  await page.waitForSelector(`#results tr[data-id="${target.uid}"]`);
  await page.waitForFunction(() => !document.querySelector("#account").hidden);
  assert.equal(await page.textContent('#account-fields dd[data-field="id"]'), target.uid);
  assert.equal(await page.textContent('#account-fields dd[data-field="sockets"]'), "1");
  assert.equal(await page.textContent('#account-fields dd[data-field="banned since"]'), "not banned");
  // The search is kept across tabs and reloads.
  await page.click("#tab-live");
  await page.click("#tab-accounts");
  assert.equal(await page.inputValue("#search"), deviceId);
  assert.equal(await page.$$eval("#results tbody tr", (rows) => rows.length), 1);
  await page.reload();
  await page.waitForSelector("#app", { state: "visible" });
  assert.equal(await page.inputValue("#search"), deviceId);
  await page.click("#tab-accounts");
  await page.waitForSelector(`#results tr[data-id="${target.uid}"]`);
  await page.waitForFunction(() => !document.querySelector("#account").hidden);

  // Ban it, through the confirmation.
  await page.click("#action-ban");
  await page.waitForSelector("#confirm[open]");
  assert.match(await page.textContent("#confirm-text"), /ban/);
  await page.click("#confirm-yes");
  const banned = opened[1];
  await until("the banned socket to close", () => banned.closed);
  assert.deepEqual(banned.closed, { code: 1000, reason: "server-side session disconnect" });
  const note = banned.messages.find((m) => m.notifications)?.notifications.notifications[0];
  assert.equal(note?.subject, "banned");
  assert.equal(note?.code, -8);
  assert.equal(opened[0].closed, null, "other players stay connected");
  await page.waitForFunction(() => document.querySelector("#stat-sessions").textContent === "2");
  await page.waitForFunction(
    () => document.querySelector('#account-fields dd[data-field="banned since"]')?.textContent.endsWith("Z"),
  );
  assert.equal(await page.textContent('#account-fields dd[data-field="sockets"]'), "0");
  assert.ok(await page.isVisible("#action-unban"));
  // The account's own audit history shows the ban.
  await page.waitForSelector('#account-audit tbody tr[data-action="ban"]');
  assert.match(await page.textContent('#account-audit tbody tr[data-action="ban"]'), /admin.*ban.*ok/s);

  // The ban is in the audit list.
  await page.click("#tab-audit");
  await page.waitForSelector(`#audit-table tr[data-action="ban"][data-target="${target.uid}"]`);
  const row = await page.textContent(`#audit-table tr[data-action="ban"][data-target="${target.uid}"]`);
  assert.match(row, /admin/);
  assert.match(row, /ok/);
  assert.ok(row.includes(`${targetAccount.user.username} (${target.uid})`), `the target's username beside its id: ${row}`);
  // Filter by action: only bans remain.
  await page.selectOption("#audit-action", "ban");
  await page.click("#audit-refresh");
  await page.waitForFunction(() => [...document.querySelectorAll("#audit-table tbody tr")]
    .every((tr) => tr.dataset.action === "ban"));
  assert.equal(await page.$$eval("#audit-table tbody tr", (rows) => rows.length), 1);
  await page.screenshot({ path: `${shots}/console-audit.png`, fullPage: true });

  // And the client API refuses the banned player.
  const again = await fetch(`${api}/v2/account/authenticate/device`, {
    method: "POST", headers: { Authorization: serverKey }, body: JSON.stringify({ id: deviceId }),
  });
  assert.equal(again.status, 403);
});

test("a page opened later shows the recent history at once, and the range can change", async () => {
  // The server has sampled once a second since it started (the test above took seconds).
  const later = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await later.goto(consoleUrl + "/");
    await later.fill("#login-username", "admin");
    await later.fill("#login-password", "password");
    await later.click("#login-submit");
    await later.waitForFunction(() => document.querySelector("#feed-state").textContent === "live");
    // History arrives with the stream's first event: the three sessions of the test above
    // are in it, though one of them has been closed since (live samples show two).
    await later.waitForFunction(() => Number(document.querySelector("#chart-sessions").dataset.maxSessions) >= 3,
      null, { timeout: 900 });
    const opened = await later.$eval("#chart-sessions", (e) => ({ ...e.dataset }));
    assert.equal(opened.range, "15");
    assert.ok(Number(opened.points) >= 2, `history of ${opened.points} samples`);
    await later.click('#range button[data-minutes="1"]');
    await later.waitForFunction(() => document.querySelector("#chart-sessions").dataset.range === "1");
    await later.waitForFunction(() => document.querySelector("#feed-state").textContent === "live");
    const minute = Number(await later.$eval("#chart-sessions", (e) => e.dataset.points));
    assert.ok(minute >= 1 && minute <= 62, `one minute holds at most 61 samples, not ${minute}`);
    assert.equal(await later.getAttribute('#range button[data-minutes="1"]', "class"), "active");
    await later.screenshot({ path: `${shots}/console-history.png`, fullPage: true });
  } finally {
    await later.close();
  }
});
