// Real-client test of the realtime socket (/ws): the unchanged Nakama JavaScript SDK against a
// running Hearth, status presence (follow, update, unfollow, leave on disconnect), the `online`
// flag, auth of the upgrade, the SDK's app-level heartbeat and the error envelope.
//
// tests/client/run builds and starts the server and sets HEARTH_CLIENT_HOST / HEARTH_CLIENT_PORT.
// Every id is unique per run, so the tests can be rerun against the same database.
//
// Node 20 has no global WebSocket, which the SDK's default adapter (WebSocketAdapterText) uses, so
// the `ws` package stands in for it. Every wait is bounded: a missing event fails the test.
//
// The SDK leaves its own timers running after a socket is closed (the connect timeout, a 10 s
// timeout per request, the next heartbeat), so node may take up to ~10 s to exit after the last
// test; that is the SDK, not a hang.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import { Client, Session } from "@heroiclabs/nakama-js";

globalThis.WebSocket = WebSocket;
// The SDK's heartbeat failure path reads `window.console` unguarded (nakama-js 2.8.0); without a
// `window` a missed pong would throw a ReferenceError instead of calling onheartbeattimeout.
globalThis.window ??= globalThis;

const host = process.env.HEARTH_CLIENT_HOST ?? "127.0.0.1";
const port = process.env.HEARTH_CLIENT_PORT ?? "7350";
const SERVER_KEY = "defaultkey";

/** Longest wait for an event, an answer or a connect before the test fails. */
const WAIT_MS = 3000;
/** How long "nothing arrives" is watched. */
const QUIET_MS = 500;
/** Backstop for each whole test. */
const TEST_OPTIONS = { timeout: 30_000 };

// The SDK's two warnings about the 60 s / 3600 s token defaults are expected (see
// client.test.mjs); any other warning is printed.
const warn = console.warn.bind(console);
console.warn = (message, ...rest) => {
  if (typeof message === "string" && /^Session (refresh )?lifetime too short/.test(message)) return;
  warn(message, ...rest);
};

const client = new Client(SERVER_KEY, host, port, false);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const run = randomUUID().replaceAll("-", "").slice(0, 12);
let counter = 0;
/** A fresh identifier for this run: `<prefix>-<run>-<n>`. */
const unique = (prefix) => `${prefix}-${run}-${++counter}`;
/** A fresh username. */
const uniqueName = (prefix) => `${prefix}_${run}_${++counter}`;

/** A new account (device login) with a fresh username. */
function newUser(prefix) {
  return client.authenticateDevice(unique("device"), true, uniqueName(prefix));
}

/** Resolves or rejects like `promise`, but rejects after `ms` with a message naming `what`. */
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Awaits a promise that must reject (within WAIT_MS) and returns the rejection value. */
async function rejection(promise, what) {
  let outcome;
  try {
    const value = await within(promise, what);
    outcome = { value };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("timed out after")) throw error;
    return error;
  }
  const shown = JSON.stringify(outcome.value) ?? String(outcome.value);
  assert.fail(`${what}: expected a rejection, but it resolved with ${shown.slice(0, 200)}`);
}

/**
 * The status_presence_event pushes one socket receives, in arrival order. `next()` takes the next
 * one (strictly: an unexpected extra event fails the assertion that follows), `none()` checks that
 * nothing more arrives.
 */
class StatusEvents {
  constructor(socket, label) {
    this.label = label;
    this.events = [];
    this.taken = 0;
    this.wake = null;
    socket.onstatuspresence = (event) => {
      this.events.push(event);
      this.wake?.();
    };
  }

  async next(what = "a status_presence_event", ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    while (this.taken >= this.events.length) {
      const left = deadline - Date.now();
      if (left <= 0) {
        assert.fail(`${this.label}: no status_presence_event within ${ms} ms (waiting for ${what})`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.events[this.taken++];
  }

  async none(why, ms = QUIET_MS) {
    await sleep(ms);
    const extra = this.events.slice(this.taken);
    assert.deepEqual(extra, [], `${this.label}: expected no status_presence_event (${why})`);
  }
}

/** Sockets opened by one test; all are disconnected when the test ends, pass or fail. */
class Sockets {
  constructor(t) {
    this.all = [];
    t.after(() => {
      for (const socket of this.all) socket.disconnect(false);
    });
  }

  /** A new SDK socket with its event recorder (not connected yet). */
  create(label) {
    const socket = client.createSocket(false, false);
    this.all.push(socket);
    return { socket, events: new StatusEvents(socket, label) };
  }

  /** A connected socket for `session`; `status` is the SDK's createStatus. */
  async open(session, status, label) {
    const opened = this.create(label);
    await within(opened.socket.connect(session, status, WAIT_MS), `${label} to connect`);
    return opened;
  }
}

/** The presence Hearth reports for a status session of `session`'s user. */
function presence(session, sessionId, status) {
  return { user_id: session.user_id, session_id: sessionId, username: session.username, status };
}

/**
 * Connects `session` with createStatus true and returns the socket, its events and its session id,
 * read from the socket's own join (it follows its own user).
 */
async function openOnline(sockets, session, label) {
  const opened = await sockets.open(session, true, label);
  const own = await opened.events.next(`${label}'s own join`);
  assert.equal(own.joins?.length, 1, `${label}'s own join: ${JSON.stringify(own)}`);
  const sessionId = own.joins[0].session_id;
  assert.match(sessionId, UUID_RE);
  assert.deepEqual(own, { joins: [presence(session, sessionId, "")] });
  return { ...opened, sessionId };
}

/** Whether `client.getUsers` reports `target` online (seen by `viewer`). */
async function isOnline(viewer, target) {
  const result = await client.getUsers(viewer, [target.user_id]);
  assert.equal(result.users?.length, 1, `getUsers(${target.user_id}): ${JSON.stringify(result)}`);
  assert.equal(result.users[0].id, target.user_id);
  return result.users[0].online === true;
}

/** Polls `isOnline` until it equals `want` (the flag follows status events asynchronously). */
async function waitOnline(viewer, target, want) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const online = await isOnline(viewer, target);
    if (online === want) return;
    if (Date.now() >= deadline) {
      assert.fail(`getUsers still reports online=${online} for ${target.username} after ${WAIT_MS} ms`);
    }
    await sleep(100);
  }
}

test("connecting with createStatus true delivers the socket's own status join", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const session = await newUser("self");
  const { socket, events } = sockets.create("own socket");

  const connected = await within(socket.connect(session, true, WAIT_MS), "the socket to connect");
  assert.equal(connected, session, "connect resolves with the session");

  const event = await events.next("its own join");
  assert.ok(Array.isArray(event.joins), `joins is a list: ${JSON.stringify(event)}`);
  assert.equal(event.joins.length, 1);
  const join = event.joins[0];
  assert.equal(join.user_id, session.user_id);
  assert.equal(join.username, session.username);
  assert.equal(join.status, "", "a fresh status presence has the empty status");
  assert.match(join.session_id, UUID_RE);
  assert.equal(event.leaves, undefined, "a connect has no leaves");
  assert.deepEqual(event, { joins: [presence(session, join.session_id, "")] });

  await events.none("only one join per connect");
});

test("followUsers: an offline user's join, status update and snapshot", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const a = await newUser("followerA");
  const b = await newUser("followedB");

  const A = await sockets.open(a, false, "A");
  const offline = await within(A.socket.followUsers([b.user_id]), "A's follow answer");
  assert.ok(offline && typeof offline === "object", `followUsers returns the status: ${offline}`);
  assert.ok(
    offline.presences === undefined || offline.presences.length === 0,
    `B is offline, so no presences: ${JSON.stringify(offline)}`,
  );

  const B = await openOnline(sockets, b, "B");
  assert.deepEqual(await A.events.next("B's join"), { joins: [presence(b, B.sessionId, "")] });

  await within(B.socket.updateStatus("in lobby"), "B's status_update answer");
  const change = await A.events.next("B's status change");
  assert.equal(change.joins?.[0]?.status, "in lobby", JSON.stringify(change));
  assert.equal(change.leaves?.[0]?.status, "", JSON.stringify(change));
  assert.equal(change.joins[0].session_id, B.sessionId);
  assert.equal(change.leaves[0].session_id, B.sessionId);
  assert.deepEqual(change, {
    joins: [presence(b, B.sessionId, "in lobby")],
    leaves: [presence(b, B.sessionId, "")],
  });
  // B follows itself: it sees its own change too.
  assert.deepEqual(await B.events.next("B's own change"), change);

  const online = await within(A.socket.followUsers([b.user_id]), "A's second follow answer");
  assert.deepEqual(online, { presences: [presence(b, B.sessionId, "in lobby")] });

  await A.events.none("following again adds no event");
});

test("getUsers reports online only while the user's status socket is open", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const a = await newUser("viewerA");
  const b = await newUser("onlineB");

  assert.equal(await isOnline(a, b), false, "no socket: not online");

  // A socket without a status does not make the user online.
  const quiet = await sockets.open(b, false, "B without status");
  await sleep(200);
  assert.equal(await isOnline(a, b), false, "socket without status: not online");
  quiet.socket.disconnect(false);

  const B = await openOnline(sockets, b, "B");
  await waitOnline(a, b, true);

  B.socket.disconnect(false);
  await waitOnline(a, b, false);
});

test("a follower gets a leave with the last status when the user disconnects", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const a = await newUser("watcherA");
  const b = await newUser("leaverB");

  const A = await sockets.open(a, false, "A");
  const B = await openOnline(sockets, b, "B");
  await within(B.socket.updateStatus("leaving soon"), "B's status_update answer");
  assert.deepEqual(await B.events.next("B's own change"), {
    joins: [presence(b, B.sessionId, "leaving soon")],
    leaves: [presence(b, B.sessionId, "")],
  });

  const snapshot = await within(A.socket.followUsers([b.user_id]), "A's follow answer");
  assert.deepEqual(snapshot, { presences: [presence(b, B.sessionId, "leaving soon")] });

  B.socket.disconnect(false);
  assert.deepEqual(await A.events.next("B's leave"), {
    leaves: [presence(b, B.sessionId, "leaving soon")],
  });
  await A.events.none("one leave per closed socket");
});

test("after unfollowUsers no more events arrive for that user", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const a = await newUser("quitterA");
  const b = await newUser("ignoredB");

  const A = await sockets.open(a, false, "A");
  const B = await openOnline(sockets, b, "B");
  const snapshot = await within(A.socket.followUsers([b.user_id]), "A's follow answer");
  assert.deepEqual(snapshot, { presences: [presence(b, B.sessionId, "")] });

  // Followed: A sees B's change.
  await within(B.socket.updateStatus("before unfollow"), "B's first status_update answer");
  const seen = await A.events.next("B's change while followed");
  assert.deepEqual(seen.joins, [presence(b, B.sessionId, "before unfollow")]);
  await B.events.next("B's own first change");

  const answer = await within(A.socket.unfollowUsers([b.user_id]), "A's unfollow answer");
  assert.deepEqual(Object.keys(answer ?? {}), ["cid"], `unfollow answers {cid}: ${JSON.stringify(answer)}`);

  await within(B.socket.updateStatus("after unfollow"), "B's second status_update answer");
  // The event was emitted (B follows itself and gets it) ...
  assert.deepEqual(await B.events.next("B's own second change"), {
    joins: [presence(b, B.sessionId, "after unfollow")],
    leaves: [presence(b, B.sessionId, "before unfollow")],
  });
  // ... but not to A any more.
  await A.events.none("A unfollowed B");
});

test("a logged-out token cannot open a socket", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const session = await newUser("loggedout");
  const token = session.token;
  const refreshToken = session.refresh_token;

  // Before the logout the token opens a socket.
  const before = await sockets.open(Session.restore(token, refreshToken), false, "before logout");
  assert.equal(before.socket.adapter.isOpen(), true);
  before.socket.disconnect(false);

  assert.equal(await client.sessionLogout(session, session.token, session.refresh_token), true);

  // The SDK's session object (which the client may have refreshed before logging out) and the
  // exact token that was logged out: the server answers the upgrade with 401.
  for (const [what, s] of [
    ["the SDK session", session],
    ["the logged-out token", Session.restore(token, refreshToken)],
  ]) {
    const { socket } = sockets.create(what);
    const error = await rejection(socket.connect(s, false, WAIT_MS), `connect with ${what}`);
    const message = String(error?.message ?? error);
    assert.match(message, /Unexpected server response: 401/, `connect with ${what} failed: ${message}`);
    assert.equal(socket.adapter.isOpen(), false);
  }
});

test("the SDK's app-level heartbeat is answered; status_update answers {cid}", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const session = await newUser("beat");
  const { socket, events } = sockets.create("heartbeat socket");

  // Every 250 ms a ping that must be answered within 250 ms (the SDK default is 10 s for both,
  // which a 1 s window could not see fail).
  socket.setHeartbeatTimeoutMs(250);
  let heartbeatTimeouts = 0;
  socket.onheartbeattimeout = () => {
    heartbeatTimeouts += 1;
  };
  const sent = [];
  const adapterSend = socket.adapter.send.bind(socket.adapter);
  socket.adapter.send = (message) => {
    sent.push(JSON.parse(JSON.stringify(message)));
    adapterSend(message);
  };

  await within(socket.connect(session, false, WAIT_MS), "the socket to connect");
  await sleep(1200);

  const pings = sent.filter((m) => m.ping !== undefined);
  assert.ok(pings.length >= 3, `the SDK kept pinging (each ping waits for the previous pong): ${pings.length} pings`);
  for (const ping of pings) assert.deepEqual(ping, { ping: {}, cid: ping.cid });
  assert.equal(heartbeatTimeouts, 0, "onheartbeattimeout was not called");
  assert.equal(socket.adapter.isOpen(), true, "the SDK did not close the socket");

  // A ping of our own: the answer is {cid, pong: {}}.
  const ping = { ping: {} };
  const pong = await within(socket.send(ping), "the pong");
  assert.match(ping.cid, /^\d+$/);
  assert.deepEqual(pong, { cid: ping.cid, pong: {} });

  // status_update answers with the cid only.
  const answer = await within(socket.updateStatus("x"), "the status_update answer");
  const update = sent.findLast((m) => m.status_update !== undefined);
  assert.deepEqual(update, { status_update: { status: "x" }, cid: update.cid });
  assert.deepEqual(answer, { cid: update.cid });
  // The socket had no status: the update is a join only, seen through the self-follow.
  const own = await events.next("its own join");
  assert.equal(own.leaves, undefined);
  assert.equal(own.joins?.length, 1, JSON.stringify(own));
  assert.deepEqual(own.joins[0], presence(session, own.joins[0].session_id, "x"));
  assert.match(own.joins[0].session_id, UUID_RE);

  assert.equal(heartbeatTimeouts, 0, "still no heartbeat timeout");
});

test("followUsers with an invalid user id rejects with code 3", TEST_OPTIONS, async (t) => {
  const sockets = new Sockets(t);
  const session = await newUser("badfollow");
  const { socket } = await sockets.open(session, false, "socket");

  const error = await rejection(socket.followUsers(["not-a-uuid"]), "followUsers([not-a-uuid])");
  assert.ok(error && typeof error === "object", `rejects with the error object: ${error}`);
  assert.equal(error.code, 3);
  assert.equal(error.message, "Invalid user identifier");
  assert.deepEqual(error, { code: 3, message: "Invalid user identifier" });

  // Code 3 leaves the socket open: the next request is answered.
  const ping = { ping: {} };
  assert.deepEqual(await within(socket.send(ping), "a ping after the error"), { cid: ping.cid, pong: {} });
});
