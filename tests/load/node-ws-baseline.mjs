// Yardstick for the relay load benchmark (issue 6): the least a Node.js participant client
// can do per session. It opens one participant WebSocket per chat with npm `ws`,
// subscribes to aws/chat, and sends ping + heartbeat every 10 s, as chatjs does. It
// forwards nothing, renders nothing, stores nothing.
//
// The participant WebSocket URLs come one per line on stdin (relay-load creates the chats,
// so this process holds only its sockets):
//
//   relay-load … | node tests/load/node-ws-baseline.mjs
//
// or, standalone, it starts the chats itself against connect-sim first:
//
//   node tests/load/node-ws-baseline.mjs --sim http://127.0.0.1:PORT --sessions 1000
//
// Prints `ready <n>` once every socket is subscribed, then idles until killed.

import { createInterface } from "node:readline";
import WebSocket from "ws";

const INSTANCE = "11111111-2222-3333-4444-555555555555";
const FLOW = "flow-1";
const SUBSCRIBE = JSON.stringify({ topic: "aws/subscribe", content: { topics: ["aws/chat"] } });
const PING = JSON.stringify({ topic: "aws/ping" });
const HEARTBEAT = JSON.stringify({ topic: "aws/heartbeat" });

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : fallback;
}

const sim = option("sim", undefined);
const sessions = Number(option("sessions", "100"));
const heartbeatMs = Number(option("heartbeat-ms", "10000"));
const concurrency = Number(option("concurrency", "32"));

async function call(method, path, body, bearer) {
  const headers = { "content-type": "application/json" };
  if (bearer) headers["x-amz-bearer"] = bearer;
  const response = await fetch(`${sim}${path}`, { method, headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function startChat(n) {
  const chat = await call("PUT", "/contact/chat", {
    InstanceId: INSTANCE,
    ContactFlowId: FLOW,
    ParticipantDetails: { DisplayName: `node ${n}` },
    ClientToken: `node-${process.pid}-${n}`,
  });
  const connection = await call(
    "POST",
    "/participant/connection",
    { Type: ["WEBSOCKET", "CONNECTION_CREDENTIALS"] },
    chat.ParticipantToken,
  );
  return connection.Websocket.Url;
}

async function readUrls() {
  const urls = [];
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) urls.push(line.trim());
  }
  return urls;
}

function subscribe(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on("open", () => socket.send(SUBSCRIBE));
    socket.on("error", reject);
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.topic === "aws/subscribe") {
        if (frame.content?.status === "success") resolve(socket);
        else reject(new Error("subscription refused"));
      }
    });
    // Like chatjs: ping and heartbeat every period, spread over the period.
    setTimeout(() => {
      setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(PING);
          socket.send(HEARTBEAT);
        }
      }, heartbeatMs);
    }, Math.random() * heartbeatMs);
  });
}

async function pool(count, task) {
  const results = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      const n = next++;
      results[n] = await task(n);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

const urls = sim ? await pool(sessions, startChat) : await readUrls();
const sockets = await pool(urls.length, (n) => subscribe(urls[n]));
console.log(`ready ${sockets.length}`);
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1 << 30);
