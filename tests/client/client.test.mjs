// Real-client test: the unchanged Nakama JavaScript SDK against a running Hearth.
//
// tests/client/run builds and starts the server and sets HEARTH_CLIENT_HOST / HEARTH_CLIENT_PORT.
// Every id is unique per run, so the tests can be rerun against the same database.
//
// The SDK refreshes the session before each call when the access token expires within five
// minutes, which with Hearth's default 60 s tokens is practically every call; it also logs
// warnings about the short token lifetime. Both are expected here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client, Session } from "@heroiclabs/nakama-js";

const host = process.env.HEARTH_CLIENT_HOST ?? "127.0.0.1";
const port = process.env.HEARTH_CLIENT_PORT ?? "7350";
const SERVER_KEY = "defaultkey";
const TOKEN_EXPIRY_SEC = 60; // session.token_expiry_sec default
const REFRESH_TOKEN_EXPIRY_SEC = 3600; // session.refresh_token_expiry_sec default

// The SDK's two warnings about the 60 s / 3600 s defaults (expected, see above) are dropped so the
// test output stays readable; any other warning is printed.
const warn = console.warn.bind(console);
console.warn = (message, ...rest) => {
  if (typeof message === "string" && /^Session (refresh )?lifetime too short/.test(message)) return;
  warn(message, ...rest);
};

const client = new Client(SERVER_KEY, host, port, false);
// Same server, no automatic refresh: shows what the server says about the access token itself.
const plainClient = new Client(SERVER_KEY, host, port, false, undefined, false);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const run = randomUUID().replaceAll("-", "").slice(0, 12);
let counter = 0;
/** A fresh identifier for this run: `<prefix>-<run>-<n>`. */
const unique = (prefix) => `${prefix}-${run}-${++counter}`;
/** A fresh username (Nakama usernames are at most 128 characters, no spaces). */
const uniqueName = (prefix) => `${prefix}_${run}_${++counter}`;

/** The payload of a compact JWT, decoded from base64url. */
function jwtPayload(token) {
  const parts = token.split(".");
  assert.equal(parts.length, 3, `a JWT has 3 parts: ${token}`);
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/**
 * Awaits a promise that must reject with the fetch Response the SDK throws on a non-2xx answer;
 * checks its HTTP status and returns its JSON body.
 */
async function rejectsWithStatus(promise, status) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, `expected a rejection with HTTP ${status}, but the call succeeded`);
  assert.ok(
    error && typeof error.status === "number" && typeof error.json === "function",
    `expected the SDK to throw a fetch Response, got: ${error}`,
  );
  assert.equal(error.status, status, `HTTP status of ${error.url}`);
  return await error.json();
}

test("authenticateDevice creates the account, then logs into it", async () => {
  const deviceId = unique("device");
  const username = uniqueName("dev");
  const vars = { platform: "node", build: "42" };

  const first = await client.authenticateDevice(deviceId, true, username, vars);
  assert.ok(first instanceof Session);
  assert.equal(first.created, true);
  assert.match(first.user_id, UUID_RE);
  assert.equal(first.username, username);
  assert.deepEqual(first.vars, vars);
  assert.equal(first.token.split(".").length, 3);
  assert.equal(first.refresh_token.split(".").length, 3);

  const second = await client.authenticateDevice(deviceId, true, username, vars);
  assert.equal(second.created, false);
  assert.equal(second.user_id, first.user_id);
  assert.equal(second.username, username);
  assert.deepEqual(second.vars, vars);
  assert.notEqual(second.token, first.token);

  // Without vars the token carries none.
  const third = await client.authenticateDevice(deviceId, false);
  assert.equal(third.created, false);
  assert.equal(third.user_id, first.user_id);
  assert.equal(third.vars, undefined);

  // create=false for an unknown device: Nakama answers 404 "User account not found."
  const body = await rejectsWithStatus(client.authenticateDevice(unique("device"), false), 404);
  assert.deepEqual(body, { code: 5, message: "User account not found." });
});

test("authenticateEmail creates the account, logs in, refuses a wrong password", async () => {
  const email = `${unique("alice")}@example.com`;
  const password = "correct horse battery";
  const username = uniqueName("mail");

  const created = await client.authenticateEmail(email, password, true, username);
  assert.equal(created.created, true);
  assert.match(created.user_id, UUID_RE);
  assert.equal(created.username, username);

  const login = await client.authenticateEmail(email, password, false);
  assert.equal(login.created, false);
  assert.equal(login.user_id, created.user_id);
  assert.equal(login.username, username);

  const body = await rejectsWithStatus(client.authenticateEmail(email, "wrong password!", false), 401);
  assert.deepEqual(body, { code: 16, message: "Invalid credentials." });

  // The right password still works after one failure.
  const again = await client.authenticateEmail(email, password, false);
  assert.equal(again.user_id, created.user_id);

  const account = await client.getAccount(again);
  assert.equal(account.user.id, created.user_id);
  assert.equal(account.email, email);
});

test("authenticateCustom creates the account, then logs into it", async () => {
  const customId = unique("custom");
  const username = uniqueName("cust");

  const first = await client.authenticateCustom(customId, true, username, { tier: "gold" });
  assert.equal(first.created, true);
  assert.match(first.user_id, UUID_RE);
  assert.equal(first.username, username);
  assert.deepEqual(first.vars, { tier: "gold" });

  const second = await client.authenticateCustom(customId, false);
  assert.equal(second.created, false);
  assert.equal(second.user_id, first.user_id);
  assert.equal(second.username, username);

  const account = await client.getAccount(second);
  assert.equal(account.user.id, first.user_id);
  assert.equal(account.custom_id, customId);
});

test("the session tokens decode to the claims Nakama issues", async () => {
  const username = uniqueName("jwt");
  const before = Math.floor(Date.now() / 1000);
  const session = await client.authenticateDevice(unique("device"), true, username, { k: "v" });
  const after = Math.floor(Date.now() / 1000);

  const access = jwtPayload(session.token);
  for (const claim of ["tid", "uid", "usn", "exp", "iat"]) {
    assert.ok(claim in access, `access token payload has ${claim}: ${JSON.stringify(access)}`);
  }
  assert.match(access.tid, UUID_RE);
  assert.equal(access.uid, session.user_id);
  assert.equal(access.usn, username);
  assert.deepEqual(access.vrs, { k: "v" });
  assert.ok(Number.isInteger(access.exp) && Number.isInteger(access.iat));
  assert.ok(access.iat >= before - 1 && access.iat <= after + 1, `iat ${access.iat} is now`);
  assert.equal(session.expires_at, access.exp);
  assert.equal(session.expires_at - access.iat, TOKEN_EXPIRY_SEC);

  const refresh = jwtPayload(session.refresh_token);
  assert.equal(refresh.tid, access.tid, "one login: the same tid in both tokens");
  assert.equal(refresh.uid, session.user_id);
  assert.equal(refresh.iat, access.iat);
  assert.ok(Number.isInteger(session.refresh_expires_at));
  assert.equal(session.refresh_expires_at, refresh.exp);
  assert.equal(session.refresh_expires_at - refresh.iat, REFRESH_TOKEN_EXPIRY_SEC);
});

test("sessionRefresh returns a new pair for the same user and keeps the vars", async () => {
  const username = uniqueName("refresh");
  const vars = { region: "eu", lang: "en" };
  const session = await client.authenticateDevice(unique("device"), true, username, vars);
  const oldToken = session.token;
  const oldRefresh = session.refresh_token;
  const oldClaims = jwtPayload(oldToken);

  // Tokens are issued with one-second resolution: make sure the new exp differs.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const refreshed = await client.sessionRefresh(session); // the SDK sends vars: {}
  assert.ok(refreshed instanceof Session);
  assert.equal(refreshed.user_id, session.user_id);
  assert.equal(refreshed.username, username);
  assert.deepEqual(refreshed.vars, vars);
  assert.notEqual(refreshed.token, oldToken);
  assert.notEqual(refreshed.refresh_token, oldRefresh);

  const claims = jwtPayload(refreshed.token);
  assert.equal(claims.tid, oldClaims.tid, "a refresh keeps the tid");
  assert.equal(claims.iat, oldClaims.iat, "a refresh keeps iat");
  assert.ok(claims.exp > oldClaims.exp, "a refresh issues a later exp");

  // The refreshed token works.
  const account = await plainClient.getAccount(refreshed);
  assert.equal(account.user.id, session.user_id);

  // Non-empty vars on refresh replace the old ones.
  const replaced = await client.sessionRefresh(refreshed, { region: "us" });
  assert.deepEqual(replaced.vars, { region: "us" });
});

test("after sessionLogout neither the access token nor the refresh token works", async () => {
  const session = await client.authenticateDevice(unique("device"), true, uniqueName("logout"));
  const userId = session.user_id;
  const token = session.token;
  const refreshToken = session.refresh_token;

  // Before the logout the tokens work.
  const account = await plainClient.getAccount(Session.restore(token, refreshToken));
  assert.equal(account.user.id, userId);

  assert.equal(await client.sessionLogout(session, token, refreshToken), true);

  // Through the SDK as an app uses it (it may refresh first: that is refused too).
  const body = await rejectsWithStatus(client.getAccount(session), 401);
  assert.equal(body.code, 16);

  // The logged-out access token itself is refused.
  await rejectsWithStatus(plainClient.getAccount(Session.restore(token, refreshToken)), 401);

  // The logged-out refresh token is refused.
  const refreshBody = await rejectsWithStatus(
    client.sessionRefresh(Session.restore(token, refreshToken)),
    401,
  );
  assert.deepEqual(refreshBody, { code: 16, message: "Refresh token invalid or expired." });
});

test("getAccount and updateAccount", async () => {
  const deviceId = unique("device");
  const username = uniqueName("acct");
  const session = await client.authenticateDevice(deviceId, true, username);

  // A 60 s token expires within the SDK's 5 minute margin, so getAccount refreshes first.
  const spied = new Client(SERVER_KEY, host, port, false);
  let refreshes = 0;
  const sessionRefresh = spied.sessionRefresh.bind(spied);
  spied.sessionRefresh = (...args) => {
    refreshes += 1;
    return sessionRefresh(...args);
  };
  const account = await spied.getAccount(session);
  assert.equal(refreshes, 1, "the SDK refreshed the session before getAccount");
  assert.equal(jwtPayload(session.token).uid, session.user_id);
  assert.equal(account.user.id, session.user_id);
  assert.equal(account.user.username, username);
  assert.ok(Array.isArray(account.devices), `devices is a list: ${JSON.stringify(account)}`);
  assert.deepEqual(
    account.devices.map((d) => d.id),
    [deviceId],
  );
  assert.equal(account.custom_id, undefined);
  assert.equal(account.email, undefined);

  assert.equal(await client.updateAccount(session, { display_name: "Alice", timezone: "UTC" }), true);

  const updated = await client.getAccount(session);
  assert.equal(updated.user.id, session.user_id);
  assert.equal(updated.user.display_name, "Alice");
  assert.equal(updated.user.timezone, "UTC");
  assert.equal(updated.user.username, username, "fields not sent are left alone");
});

test("linkCustom and unlinkCustom", async () => {
  const session = await client.authenticateDevice(unique("device"), true, uniqueName("link"));
  const customId = unique("custom");

  assert.equal(await client.linkCustom(session, { id: customId }), true);
  const linked = await client.getAccount(session);
  assert.equal(linked.user.id, session.user_id);
  assert.equal(linked.custom_id, customId);

  // The linked custom id now logs into the same account.
  const viaCustom = await client.authenticateCustom(customId, false);
  assert.equal(viaCustom.created, false);
  assert.equal(viaCustom.user_id, session.user_id);

  assert.equal(await client.unlinkCustom(session, { id: customId }), true);
  const unlinked = await client.getAccount(session);
  assert.equal(unlinked.user.id, session.user_id);
  assert.equal(unlinked.custom_id, undefined);
});
