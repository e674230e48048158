// Retry rules: lost answers, 503 with Retry-After, timeouts, and how each answer becomes an error.

import assert from "node:assert/strict";
import http from "node:http";
import test from "node:test";

import {
  BadRequest, backoffDelay, Client, ConnectionFailed, Forbidden, IdempotencyKeyReused, NotFound,
  parseRetryAfter, PayloadTooLarge, RateLimited, ServerError, Study, SuggestError, Unauthorized, Unavailable,
  ValidationError,
} from "../src/index.js";
import {
  close, droppingProxy, headerOf, listen, liveUrl, problem, SMALL_SPACE, stubServer, uniqueName,
} from "../test-support/helpers.js";

const live = new Client({ url: liveUrl(), retries: 2 });

test("an ask whose answer is lost is retried with the same key and creates no second trial", async (t) => {
  const name = uniqueName("dropped");
  await live.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  const proxy = await droppingProxy(liveUrl(), (head) => head.startsWith("POST ") && /\/ask HTTP/.test(head));
  t.after(proxy.close);

  const viaProxy = new Client({ url: proxy.url, retries: 3 });
  const study = await viaProxy.study(name);
  const trials = await study.ask({ clientId: "flaky-network" });

  assert.equal(proxy.state.dropped, 1);
  const asks = proxy.state.heads.filter((head) => head.startsWith("POST ") && head.includes("/ask "));
  assert.equal(asks.length, 2, asks.join("\n---\n"));
  const keys = asks.map((head) => headerOf(head, "Idempotency-Key"));
  assert.ok(keys[0], "the ask carries an Idempotency-Key");
  assert.equal(keys[1], keys[0]);
  // The service answered the retry from its record of the first ask.
  assert.ok(proxy.state.relayed.some((answer) => /^Idempotent-Replayed: true$/im.test(answer)));

  assert.equal(trials.length, 1);
  assert.equal(trials[0].number, 0);
  const stored = await (await live.study(name)).trials();
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0].params, trials[0].params);
  assert.equal((await live.study(name)).info.trial_counts.total, 1);
});

test("a 503 with Retry-After: 0 is retried, with the same key and the token", async (t) => {
  const stub = await stubServer((req, res, index) => {
    if (index === 0) {
      problem(res, 503, { type: "urn:suggest-api:problem:database-unavailable", detail: "busy" }, { "Retry-After": "0" });
      return null;
    }
    return "proxy";
  }, liveUrl());
  t.after(stub.close);

  const client = new Client({ url: stub.url, token: "s3cret", retries: 2 });
  const name = uniqueName("busy");
  const study = await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  assert.equal(study.name, name);
  assert.equal(study.created, true);
  assert.equal(stub.requests.length, 2);
  const [first, second] = stub.requests;
  assert.equal(first.headers.authorization, "Bearer s3cret");
  assert.equal(second.headers.authorization, "Bearer s3cret");
  assert.ok(first.headers["idempotency-key"]);
  assert.equal(second.headers["idempotency-key"], first.headers["idempotency-key"]);
  assert.equal(second.body, first.body); // byte for byte, as the service fingerprints it
});

test("a 503 model-busy is a turn to wait for: it uses no retry", async (t) => {
  const stub = await stubServer((req, res, index) => {
    if (index < 5) {
      problem(res, 503, { type: "urn:suggest-api:problem:model-busy", detail: "fits busy" }, { "Retry-After": "0" });
      return null;
    }
    return "proxy";
  }, liveUrl());
  t.after(stub.close);

  const client = new Client({ url: stub.url, retries: 1 });
  const name = uniqueName("model-busy");
  const study = await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  assert.equal(study.created, true);
  assert.equal(stub.requests.length, 6); // five turns waited, then the create, with a single retry allowed
});

test("retries run out: Unavailable carries the service's detail", async (t) => {
  const stub = await stubServer((req, res) => {
    problem(res, 503, { title: "Service Unavailable", detail: "the database is unreachable or busy; retry shortly" },
      { "Retry-After": "0" });
  });
  t.after(stub.close);
  const client = new Client({ url: stub.url, retries: 2 });
  await assert.rejects(client.study("any"), (error) => {
    assert.ok(error instanceof Unavailable);
    assert.equal(error.status, 503);
    assert.equal(error.message, "the database is unreachable or busy; retry shortly");
    return true;
  });
  assert.equal(stub.requests.length, 3); // the first attempt and two retries
});

test("no server listening: ConnectionFailed after the retries", async () => {
  const server = http.createServer();
  const port = await listen(server);
  await close(server); // the port is now (almost certainly) closed
  const client = new Client({ url: `http://127.0.0.1:${port}`, retries: 1 });
  await assert.rejects(client.studies(), (error) => {
    assert.ok(error instanceof ConnectionFailed);
    assert.ok(error instanceof SuggestError);
    assert.equal(error.status, null);
    assert.match(error.message, /2 attempt/);
    assert.ok(error.cause);
    return true;
  });
});

test("a server that never answers times out: ConnectionFailed", async (t) => {
  const stub = await stubServer(() => new Promise(() => {})); // never answers
  t.after(stub.close);
  const client = new Client({ url: stub.url, timeout: 0.2, retries: 1 });
  const started = Date.now();
  await assert.rejects(client.study("slow"), (error) => {
    assert.ok(error instanceof ConnectionFailed);
    assert.match(error.message, /timed out/);
    return true;
  });
  assert.equal(stub.requests.length, 2);
  assert.ok(Date.now() - started < 5000);
});

test("a DELETE whose answer is lost: the 404 of its retry counts as done", async (t) => {
  const name = uniqueName("delete");
  await live.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  const proxy = await droppingProxy(liveUrl(), (head) => head.startsWith("DELETE "));
  t.after(proxy.close);
  const viaProxy = new Client({ url: proxy.url, retries: 3 });
  await viaProxy.deleteStudy(name); // no NotFound, although the retry was answered 404
  assert.equal(proxy.state.dropped, 1);
  assert.equal(proxy.state.heads.filter((head) => head.startsWith("DELETE ")).length, 2);
  assert.ok(proxy.state.relayed.some((answer) => answer.startsWith("HTTP/1.1 404")));
  await assert.rejects(live.study(name), NotFound);
  await assert.rejects(viaProxy.deleteStudy(name), NotFound); // without a lost answer, 404 is an error
});

test("each status becomes its error class", async (t) => {
  const cases = [
    [400, {}, BadRequest],
    [401, {}, Unauthorized],
    [403, {}, Forbidden],
    [404, { type: "urn:suggest-api:problem:not-found" }, NotFound],
    [413, {}, PayloadTooLarge],
    [422, { errors: { count: ["must be at least 1"] } }, ValidationError],
    [422, { type: "urn:suggest-api:problem:idempotency-key-reused" }, IdempotencyKeyReused],
    [429, {}, RateLimited],
    [500, { request_id: "abc123" }, ServerError],
    [504, {}, ServerError],
  ];
  let current = null;
  const stub = await stubServer((req, res) => {
    const [status, fields] = current;
    problem(res, status, fields, { "Retry-After": "0" });
  });
  t.after(stub.close);
  const client = new Client({ url: stub.url, retries: 0 });
  for (const testCase of cases) {
    current = testCase;
    const [status, fields, Class] = testCase;
    await assert.rejects(client.study("x"), (error) => {
      assert.ok(error instanceof Class, `${status} ${JSON.stringify(fields)} gave ${error.name}`);
      assert.equal(error.name, Class.name);
      assert.equal(error.status, status);
      assert.equal(error.detail, `stub ${status}`);
      assert.equal(error.message, `stub ${status}`);
      assert.deepEqual(error.errors, fields.errors ?? null);
      assert.equal(error.type, fields.type ?? "about:blank");
      return true;
    });
  }
  assert.ok(IdempotencyKeyReused.prototype instanceof ValidationError);
  assert.equal(stub.requests.length, cases.length); // retries: 0 means one attempt, even for 429/504

  // A body that is not problem+json (a proxy's page) still gives a typed error with its text.
  const html = await stubServer((req, res) => {
    res.writeHead(502, { "Content-Type": "text/html" });
    res.end("<h1>Bad Gateway</h1>");
  });
  t.after(html.close);
  await assert.rejects(new Client({ url: html.url, retries: 0 }).study("x"), (error) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 502);
    assert.equal(error.message, "<h1>Bad Gateway</h1>");
    return true;
  });
});

test("Retry-After and backoff delays", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("2", now), 2000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("600", now), 60_000); // capped at 60 s
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now), 0); // in the past: now
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter(null, now), null);

  assert.equal(backoffDelay(0, () => 1), 250);
  assert.equal(backoffDelay(3, () => 1), 2000);
  assert.equal(backoffDelay(10, () => 1), 20_000); // capped at 20 s
  assert.equal(backoffDelay(10, () => 0), 0); // full jitter starts at zero
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const delay = backoffDelay(attempt);
    assert.ok(delay >= 0 && delay <= Math.min(20, 0.25 * 2 ** attempt) * 1000);
  }
});

test("client options: defaults from the environment, and bad values refused", () => {
  const saved = { url: process.env.SUGGEST_URL, token: process.env.SUGGEST_TOKEN };
  try {
    process.env.SUGGEST_URL = "http://example.invalid:9/";
    process.env.SUGGEST_TOKEN = "from-env";
    const client = new Client();
    assert.equal(client.url, "http://example.invalid:9");
    assert.equal(client.transport.token, "from-env");
    assert.equal(client.transport.timeout, 30);
    assert.equal(client.transport.retries, 5);
    delete process.env.SUGGEST_URL;
    delete process.env.SUGGEST_TOKEN;
    assert.equal(new Client().url, "http://127.0.0.1:8000");
    assert.equal(new Client().transport.token, null);
  } finally {
    for (const [key, value] of [["SUGGEST_URL", saved.url], ["SUGGEST_TOKEN", saved.token]]) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  assert.throws(() => new Client({ timeout: 0 }), RangeError);
  assert.throws(() => new Client({ retries: -1 }), RangeError);
});

test("best() is null on the no-completed-trial 404, also from a service that says only not-found", async (t) => {
  const study = { name: "s", space: SMALL_SPACE, best_trial: null, trial_counts: { total: 0 } };
  const typed = await stubServer((req, res) => {
    problem(res, 404, { type: "urn:suggest-api:problem:no-completed-trial", detail: "no completed trial yet" });
  });
  t.after(typed.close);
  const client = new Client({ url: typed.url, retries: 0 });
  const untyped = await stubServer((req, res) => {
    if (req.url.endsWith("/best")) {
      problem(res, 404, { type: "urn:suggest-api:problem:not-found" });
    } else {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(study));
    }
  });
  t.after(untyped.close);
  assert.equal(await new Study(client, study).best(), null);
  assert.deepEqual(typed.requests.map((r) => r.url), ["/v1/studies/s/best"]); // no extra request

  const older = new Client({ url: untyped.url, retries: 0 });
  assert.equal(await new Study(older, study).best(), null);
  assert.deepEqual(untyped.requests.map((r) => r.url), ["/v1/studies/s/best", "/v1/studies/s"]);
});
