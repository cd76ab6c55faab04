#!/usr/bin/env node
// Drives the official Amazon Connect chat client (amazon-connect-chatjs, pinned in
// package.json) against connect-sim, in Node with minimal browser globals stubbed.
//
// Usage:
//   node tests/chatjs/run.mjs --sim-bin target/debug/connect-sim   # starts the sim on port 0
//   node tests/chatjs/run.mjs --endpoint http://127.0.0.1:8787     # uses a running sim
// Options: --timeout-ms N (per step, default 15000), --verbose (chatjs and sim logs).
//
// Steps: StartChatContact (REST) → ChatSession.create + connect (CreateParticipantConnection,
// WebSocket, subscribe) → receive an agent message → sendMessage, seen on the agent side →
// read receipt from the agent → getTranscript with StartPosition {} → agent ends the chat →
// chat.ended. Exit 0 only if every step happened in time; otherwise exit 1 naming the step.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const args = parseArgs(process.argv.slice(2));
const STEP_TIMEOUT_MS = Number(args["timeout-ms"] ?? 15000);
const VERBOSE = Boolean(args.verbose);
let simProcess = null;
let simLog = "";

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "");
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith("--")) {
      out[key] = next;
      i++;
    } else {
      out[key] = true;
    }
  }
  return out;
}

function fail(message) {
  console.error(`chatjs check FAILED: ${message}`);
  if (simLog && VERBOSE) console.error(`--- connect-sim log ---\n${simLog}`);
  stopSim();
  process.exit(1);
}

function stopSim() {
  if (simProcess && simProcess.exitCode === null) simProcess.kill("SIGTERM");
}

/** Resolves with the promise's value, or fails the run naming `step` after the timeout. */
async function step(name, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    const value = await Promise.race([promise, timeout]);
    console.log(`ok   ${name}`);
    return value;
  } catch (error) {
    fail(`step "${name}": ${error?.message ?? JSON.stringify(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise resolved by the first event matching `predicate`. */
function waitFor(subscribe, predicate) {
  return new Promise((resolve) => {
    subscribe((event) => {
      if (predicate(event)) resolve(event);
    });
  });
}

async function startSim(binary) {
  simProcess = spawn(binary, ["--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  simProcess.stderr.on("data", (chunk) => {
    simLog += chunk;
  });
  simProcess.on("exit", (code, signal) => {
    if (code !== null && code !== 0) fail(`connect-sim exited with ${code ?? signal}:\n${simLog}`);
  });
  const lines = createInterface({ input: simProcess.stdout });
  for await (const line of lines) {
    const match = /connect-sim listening on (http:\/\/\S+)/.exec(line);
    if (match) return match[1];
  }
  throw new Error(`connect-sim printed no address:\n${simLog}`);
}

async function http(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} → ${response.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

function installBrowserGlobals() {
  const g = globalThis;
  g.window = g;
  g.self = g;
  g.WebSocket = WebSocket;
  Object.defineProperty(g, "navigator", {
    value: { userAgent: "node-chatjs-check", onLine: true },
    configurable: true,
    writable: true,
  });
  g.document = {
    addEventListener() {},
    removeEventListener() {},
    visibilityState: "visible",
    referrer: "",
    location: { href: "http://127.0.0.1/" },
    createElement: () => ({ setAttribute() {}, style: {} }),
    head: { appendChild() {} },
  };
  g.location = { href: "http://127.0.0.1/", hostname: "127.0.0.1", protocol: "http:" };
  g.addEventListener = () => {};
  g.removeEventListener = () => {};
  if (!VERBOSE) {
    // chatjs logs every step at info level through console; keep the output to our steps.
    for (const level of ["log", "info", "debug", "warn"]) {
      const original = console[level].bind(console);
      console[level] = (...parts) => {
        if (typeof parts[0] === "string" && /^(ok|ChatJS|\[)/.test(parts[0]) && !parts[0].startsWith("ok ")) return;
        original(...parts);
      };
    }
  }
}

async function main() {
  const endpoint = args.endpoint ?? (args["sim-bin"] ? await startSim(args["sim-bin"]) : null);
  if (!endpoint) fail("give --sim-bin PATH or --endpoint URL");
  if (!endpoint.startsWith("http://127.0.0.1:")) {
    fail(`chatjs only accepts WebSocket URLs under ws://127.0.0.1: — use 127.0.0.1, not ${endpoint}`);
  }
  console.log(`connect-sim at ${endpoint}`);
  installBrowserGlobals();
  await import("amazon-connect-chatjs");
  const connect = globalThis.connect;
  if (!connect?.ChatSession) fail("amazon-connect-chatjs did not define window.connect.ChatSession");

  const started = await step(
    "StartChatContact",
    http("PUT", `${endpoint}/contact/chat`, {
      InstanceId: "chatjs-instance",
      ContactFlowId: "chatjs-flow",
      ParticipantDetails: { DisplayName: "chatjs customer" },
      SupportedMessagingContentTypes: ["text/plain", "text/markdown"],
    }),
  );
  const contactId = started.ContactId;

  connect.ChatSession.setGlobalConfig({
    endpoint,
    region: "us-east-1",
    loggerConfig: { useDefaultLogger: VERBOSE, level: VERBOSE ? "INFO" : "ERROR" },
  });
  const session = connect.ChatSession.create({
    chatDetails: {
      ContactId: started.ContactId,
      ParticipantId: started.ParticipantId,
      ParticipantToken: started.ParticipantToken,
    },
    options: { region: "us-east-1" },
    type: connect.ChatSession.SessionTypes.CUSTOMER,
    disableCSM: true,
  });
  const onMessage = (cb) => session.onMessage((event) => cb(event.data));
  const ended = waitFor((cb) => session.onEnded(cb), () => true);

  const connected = await step("ChatSession.connect", session.connect());
  if (!connected?.connectSuccess) fail(`connect() answered ${JSON.stringify(connected)}`);
  await step(
    "WebSocket subscribed",
    http("GET", `${endpoint}/sim/contacts/${contactId}?WaitForSubscribers=1&TimeoutMs=${STEP_TIMEOUT_MS}`),
  );

  const agentText = "Hello from the agent";
  const agentMessage = waitFor(onMessage, (m) => m.Type === "MESSAGE" && m.Content === agentText);
  await http("POST", `${endpoint}/sim/contacts/${contactId}/agent/messages`, {
    Content: agentText,
    ContentType: "text/plain",
  });
  const received = await step("agent message received over the WebSocket", agentMessage);
  if (received.ParticipantRole !== "AGENT") fail(`agent message has role ${received.ParticipantRole}`);

  const customerText = "Hello from chatjs";
  const echo = waitFor(onMessage, (m) => m.Type === "MESSAGE" && m.Content === customerText);
  const sent = await step(
    "sendMessage",
    session.sendMessage({ contentType: "text/plain", message: customerText }),
  );
  const messageId = sent?.data?.Id;
  if (!messageId) fail(`sendMessage answered ${JSON.stringify(sent)}`);
  const echoed = await step("own message echoed over the WebSocket", echo);
  if (echoed.Id !== messageId) fail(`echo Id ${echoed.Id} != SendMessage Id ${messageId}`);
  const agentSide = await step("agent side sees the message", http("GET", `${endpoint}/sim/contacts/${contactId}/transcript`));
  const seen = agentSide.Transcript.find((i) => i.Id === messageId);
  if (!seen || seen.Content !== customerText || seen.ParticipantRole !== "CUSTOMER") {
    fail(`agent transcript lacks the customer message: ${JSON.stringify(agentSide.Transcript)}`);
  }

  const readReceipt = waitFor((cb) => session.onReadReceipt(cb), (e) => e?.data?.MessageMetadata?.MessageId === messageId);
  await http("POST", `${endpoint}/sim/contacts/${contactId}/agent/events`, {
    ContentType: "application/vnd.amazonaws.connect.event.message.read",
    Content: JSON.stringify({ messageId }),
  });
  await step("agent read receipt reaches chatjs", readReceipt);

  const transcript = await step(
    "getTranscript (StartPosition {})",
    session.getTranscript({ scanDirection: "BACKWARD", sortOrder: "ASCENDING", maxResults: 15 }),
  );
  const contents = (transcript?.data?.Transcript ?? []).map((i) => i.Content).filter(Boolean);
  if (!contents.includes(agentText) || !contents.includes(customerText)) {
    fail(`getTranscript lacks the messages: ${JSON.stringify(contents)}`);
  }

  await http("POST", `${endpoint}/sim/contacts/${contactId}/end`);
  await step("chat.ended received (onEnded)", ended);

  console.log("chatjs check passed");
  stopSim();
  process.exit(0);
}

process.on("unhandledRejection", (error) => fail(`unhandled rejection: ${error?.stack ?? JSON.stringify(error)}`));
main().catch((error) => fail(error?.stack ?? String(error)));
