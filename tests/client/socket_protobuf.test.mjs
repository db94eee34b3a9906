// Real-client test of the protobuf socket (/ws?format=protobuf): the unchanged Nakama JavaScript
// SDK with its protobuf adapter, @heroiclabs/nakama-js-protobuf (WebSocketAdapterPb), against a
// running Hearth: connect with status, follow, a status update event, the leave on disconnect.
//
// tests/client/run builds and starts the server and sets HEARTH_CLIENT_HOST / HEARTH_CLIENT_PORT.
// Node 20 has no global WebSocket, which the adapter constructs (`new WebSocket(url)` with
// binaryType "arraybuffer"), so the `ws` package stands in for it, as in socket.test.mjs.
// The adapter decodes frames with its own generated code (ts-proto): scalars come back
// default-initialised (`persistence: false`, empty lists), so presences are compared by field.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { Client } from "@heroiclabs/nakama-js";
import { WebSocketAdapterPb } from "@heroiclabs/nakama-js-protobuf";

globalThis.WebSocket = WebSocket;
// The SDK's heartbeat failure path reads `window.console` unguarded (see socket.test.mjs).
globalThis.window ??= globalThis;

const host = process.env.HEARTH_CLIENT_HOST ?? "127.0.0.1";
const port = process.env.HEARTH_CLIENT_PORT ?? "7350";
const WAIT_MS = 3000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const warn = console.warn.bind(console);
console.warn = (message, ...rest) => {
  if (typeof message === "string" && /^Session (refresh )?lifetime too short/.test(message)) return;
  warn(message, ...rest);
};

const client = new Client("defaultkey", host, port, false);
const run = randomUUID().replaceAll("-", "").slice(0, 12);
let counter = 0;

function newUser(prefix) {
  counter += 1;
  return client.authenticateDevice(`pbdevice-${run}-${counter}`, true, `${prefix}_${run}_${counter}`);
}

/** Resolves or rejects like `promise`, but rejects after `ms` naming `what`. */
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The status_presence_event pushes of one socket, taken in arrival order. */
class StatusEvents {
  constructor(socket) {
    this.events = [];
    this.waiters = [];
    socket.onstatuspresence = (event) => {
      this.events.push(event);
      this.waiters.splice(0).forEach((wake) => wake());
    };
  }

  async next(what) {
    const deadline = Date.now() + WAIT_MS;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no status_presence_event within ${WAIT_MS} ms (waiting for ${what})`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events.shift();
  }
}

/** The fields of a presence that say who and what, as Hearth sends them. */
function who(presence) {
  return {
    user_id: presence.user_id,
    session_id: presence.session_id,
    username: presence.username,
    status: presence.status,
  };
}

test("protobuf socket: connect with status, follow, status update event, leave on disconnect", { timeout: 30_000 }, async (t) => {
  const watcherSession = await newUser("pbwatch");
  const walkerSession = await newUser("pbwalk");
  const watcher = client.createSocket(false, false, new WebSocketAdapterPb());
  const walker = client.createSocket(false, false, new WebSocketAdapterPb());
  t.after(() => {
    watcher.disconnect(false);
    walker.disconnect(false);
  });
  const watcherEvents = new StatusEvents(watcher);
  const walkerEvents = new StatusEvents(walker);

  await within(watcher.connect(watcherSession, false, WAIT_MS), "the watcher to connect");
  // Nobody online yet: the follow answers an empty status.
  const followed = await within(watcher.followUsers([walkerSession.user_id]), "the follow answer");
  assert.deepEqual(followed.presences ?? [], []);

  // The walker connects with createStatus true: its own join, and the watcher hears it.
  await within(walker.connect(walkerSession, true, WAIT_MS), "the walker to connect");
  const own = await walkerEvents.next("the walker's own join");
  assert.equal(own.joins.length, 1, JSON.stringify(own));
  const sessionId = own.joins[0].session_id;
  assert.match(sessionId, UUID_RE);
  const online = { user_id: walkerSession.user_id, session_id: sessionId, username: walkerSession.username, status: "" };
  assert.deepEqual(who(own.joins[0]), online);
  const join = await watcherEvents.next("the walker's join");
  assert.deepEqual(join.joins.map(who), [online]);
  assert.deepEqual(join.leaves ?? [], []);

  // A status update: the new status joins, the old one leaves.
  await within(walker.updateStatus("walking"), "the status update answer");
  const change = await watcherEvents.next("the status change");
  assert.deepEqual(change.joins.map(who), [{ ...online, status: "walking" }]);
  assert.deepEqual(change.leaves.map(who), [online]);

  // Following again lists the walker's current presence.
  const listed = await within(watcher.followUsers([walkerSession.user_id]), "the second follow answer");
  assert.deepEqual(listed.presences.map(who), [{ ...online, status: "walking" }]);

  // The walker disconnects: the watcher hears the leave with the last status.
  walker.disconnect(false);
  const leave = await watcherEvents.next("the walker's leave");
  assert.deepEqual(leave.joins ?? [], []);
  assert.deepEqual(leave.leaves.map(who), [{ ...online, status: "walking" }]);
});
