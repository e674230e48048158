// Helpers for the tests in ../test (kept outside it: node --test runs every .js file under test/).

import { randomUUID } from "node:crypto";
import http from "node:http";
import net from "node:net";

/** The live server the tests talk to; tests/js/test_js_client.py starts one per backend. */
export function liveUrl() {
  const url = process.env.SUGGEST_TEST_URL;
  if (!url) {
    throw new Error("SUGGEST_TEST_URL is not set: point it at a running suggest-api "
      + "(tests/js/test_js_client.py starts one and sets it)");
  }
  return url.replace(/\/+$/, "");
}

/** A study name no other test (or earlier run on the same database) uses. */
export function uniqueName(prefix) {
  return `js-${prefix}-${randomUUID().slice(0, 8)}`;
}

export const SMALL_SPACE = {
  params: [
    { name: "lr", type: "float", low: 1e-4, high: 0.1, log: true },
    { name: "layers", type: "int", low: 1, high: 4 },
    { name: "act", type: "categorical", choices: ["relu", "tanh"] },
  ],
};

/** Listen on a free loopback port; resolves to the port. */
export function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/** Close a server, cutting any connection still open (keep-alive sockets would hold it up). */
export function close(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * A TCP proxy to `target` that, for the first request matching `drop` (a function of the request
 * line and headers), forwards the request, waits for the server to start answering, and then cuts
 * the client's connection without relaying the answer: the request took effect, the client never
 * learns so. Records every request's head in `heads`, and the response heads it relayed.
 */
export async function droppingProxy(target, drop) {
  const upstream = new URL(target);
  const state = { heads: [], relayed: [], dropped: 0, sockets: new Set() };
  const server = net.createServer((client) => {
    state.sockets.add(client);
    const origin = net.connect(Number(upstream.port), upstream.hostname);
    state.sockets.add(origin);
    let cutting = false;
    client.on("data", (chunk) => {
      const text = chunk.toString("latin1");
      // A chunk that starts a request holds its head (undici writes the head in one piece).
      if (/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(text)) {
        const head = text.split("\r\n\r\n")[0];
        state.heads.push(head);
        if (state.dropped === 0 && drop(head)) {
          state.dropped += 1;
          cutting = true;
        }
      }
      origin.write(chunk);
    });
    origin.on("data", (chunk) => {
      if (cutting) {
        // The server has answered, so it has committed; the client must never see it.
        client.destroy();
        origin.destroy();
        return;
      }
      state.relayed.push(chunk.toString("latin1"));
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      origin.destroy();
    };
    client.on("error", end).on("close", end);
    origin.on("error", end).on("close", end);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: async () => {
      for (const socket of state.sockets) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Header value from a raw request head. */
export function headerOf(head, name) {
  const match = head.match(new RegExp(`^${name}:\\s*(.*)$`, "im"));
  return match ? match[1].trim() : null;
}

/**
 * An HTTP stub: `handler(req, body, index)` answers, or returns "proxy" to forward the request to
 * `target` unchanged. Records each request's method, url, headers and body in `requests`.
 */
export async function stubServer(handler, target = null) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const index = requests.length;
    requests.push({ method: req.method, url: req.url, headers: req.headers, body: body.toString("utf8") });
    const action = await handler(req, res, index);
    if (action !== "proxy") return;
    const upstream = new URL(target);
    const forward = http.request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: upstream.host },
    }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => res.destroy());
    forward.end(body);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, requests, close: () => close(server) };
}

/** Answer a problem+json body. */
export function problem(res, status, fields = {}, headers = {}) {
  const body = JSON.stringify({ type: "about:blank", title: `HTTP ${status}`, status, detail: `stub ${status}`, ...fields });
  res.writeHead(status, { "Content-Type": "application/problem+json", ...headers });
  res.end(body);
}
