// The client against a live suggest-api that requires API keys (SUGGEST_AUTH=required): the token
// option and the SUGGEST_TOKEN default reach the service, and a 401 becomes Unauthorized at once,
// since retrying cannot make a missing or wrong key valid. tests/js/test_js_auth.py starts such a
// server and passes SUGGEST_TEST_URL and the keys; without SUGGEST_TEST_KEY (the suite's plain run
// against an open server) these tests are skipped.

import assert from "node:assert/strict";
import test from "node:test";

import { Client, Forbidden, NotFound, Study, SuggestError, Unauthorized } from "../src/index.js";
import { SMALL_SPACE, stubServer, uniqueName } from "../test-support/helpers.js";

const KEY = process.env.SUGGEST_TEST_KEY; // a member of one team
const READ_KEY = process.env.SUGGEST_TEST_READ_KEY; // a read key of the same team
const OTHER_KEY = process.env.SUGGEST_TEST_OTHER_KEY; // a member of another team
const UNKNOWN_KEY = `sapi_0123456789ab_${"Zz9".repeat(13)}Q`; // well-formed, made by nobody
const skip = KEY ? false : "SUGGEST_TEST_KEY is not set: run through tests/js/test_js_auth.py";
const url = () => process.env.SUGGEST_TEST_URL.replace(/\/+$/, "");
const PROBLEM = "urn:suggest-api:problem:";

/** Run `body` with SUGGEST_TOKEN set to `value` (deleted when undefined), then restore it. */
async function withSuggestToken(value, body) {
  const saved = process.env.SUGGEST_TOKEN;
  if (value === undefined) delete process.env.SUGGEST_TOKEN;
  else process.env.SUGGEST_TOKEN = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.SUGGEST_TOKEN;
    else process.env.SUGGEST_TOKEN = saved;
  }
}

/** A pass-through proxy to the live server that records every request (to count them). */
async function recorder(t) {
  const stub = await stubServer(() => "proxy", url());
  t.after(stub.close);
  return stub;
}

function assertUnauthorized(error) {
  assert.ok(error instanceof Unauthorized, `${error?.name}: ${error?.message}`);
  assert.ok(error instanceof SuggestError);
  assert.equal(error.status, 401);
  assert.equal(error.type, `${PROBLEM}unauthorized`);
  assert.equal(error.title, "Unauthorized");
  assert.equal(error.message, error.body.detail);
  assert.match(error.message, /key/);
  return true;
}

test("the token option authenticates the whole trial loop", { skip }, async (t) => {
  const stub = await recorder(t);
  const client = await withSuggestToken(undefined, () => new Client({ url: stub.url, token: KEY, retries: 1 }));
  const name = uniqueName("auth-token");
  const study = await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize", seed: 3 });
  const [first, second] = await study.ask({ count: 2 });
  await first.tell({ value: 0.5 });
  await study.tell(second, { value: 0.25 });
  const best = await study.best();
  assert.equal(best.number, 1);
  assert.equal(best.value, 0.25);
  assert.ok((await client.studies({ pageSize: 1000 })).some((s) => s.name === name));
  assert.ok(stub.requests.length >= 6);
  for (const request of stub.requests) assert.equal(request.headers.authorization, `Bearer ${KEY}`);
});

test("SUGGEST_TOKEN is the default token", { skip }, async () => {
  const client = await withSuggestToken(KEY, () => new Client({ url: url(), retries: 1 }));
  const study = await client.createStudy({ name: uniqueName("auth-env"), space: SMALL_SPACE, objective: "maximize" });
  const [trial] = await study.ask();
  await trial.tell({ value: 2 });
  assert.equal((await study.best()).value, 2);
});

test("a token option wins over SUGGEST_TOKEN", { skip }, async (t) => {
  const stub = await recorder(t);
  const client = await withSuggestToken(UNKNOWN_KEY, () => new Client({ url: stub.url, token: KEY, retries: 0 }));
  const study = await client.createStudy({ name: uniqueName("auth-wins"), space: SMALL_SPACE });
  assert.equal(study.created, true);
  assert.deepEqual(stub.requests.map((r) => r.headers.authorization), [`Bearer ${KEY}`]);
});

test("without a token: Unauthorized (401) at once, not retried", { skip }, async (t) => {
  const stub = await recorder(t);
  const client = await withSuggestToken(undefined, () => new Client({ url: stub.url, retries: 3 }));
  const started = Date.now();
  await assert.rejects(client.createStudy({ name: uniqueName("auth-none"), space: SMALL_SPACE }), assertUnauthorized);
  assert.equal(stub.requests.length, 1);
  await assert.rejects(client.studies(), assertUnauthorized);
  assert.equal(stub.requests.length, 2);
  assert.ok(Date.now() - started < 5000, "no backoff before giving up");
  for (const request of stub.requests) assert.equal(request.headers.authorization, undefined);
});

test("an unknown key: Unauthorized, not retried, and the key is not in the error", { skip }, async (t) => {
  const stub = await recorder(t);
  const client = new Client({ url: stub.url, token: UNKNOWN_KEY, retries: 3 });
  let caught;
  await assert.rejects(client.createStudy({ name: uniqueName("auth-unknown"), space: SMALL_SPACE }), (error) => {
    caught = error;
    return assertUnauthorized(error);
  });
  assert.equal(stub.requests.length, 1);
  const shown = [caught.message, caught.stack, String(caught), JSON.stringify(caught), JSON.stringify(caught.body)];
  for (const text of shown) assert.ok(!text.includes(UNKNOWN_KEY.slice(18)), text);
});

test("a read key reads, and createStudy throws Forbidden (403)", { skip: skip || (READ_KEY ? false : "no SUGGEST_TEST_READ_KEY") }, async () => {
  const member = new Client({ url: url(), token: KEY, retries: 1 });
  const name = uniqueName("auth-read");
  await member.createStudy({ name, space: SMALL_SPACE });
  const reader = new Client({ url: url(), token: READ_KEY, retries: 3 });
  assert.equal((await reader.study(name)).name, name);
  assert.ok((await reader.studies({ pageSize: 1000 })).some((s) => s.name === name));
  await assert.rejects(reader.createStudy({ name: uniqueName("auth-read-2"), space: SMALL_SPACE }), (error) => {
    assert.ok(error instanceof Forbidden, `${error?.name}: ${error?.message}`);
    assert.equal(error.status, 403);
    assert.equal(error.type, `${PROBLEM}forbidden`);
    return true;
  });
});

test("another team's study is NotFound, like a missing one", { skip: skip || (OTHER_KEY ? false : "no SUGGEST_TEST_OTHER_KEY") }, async () => {
  const mine = await new Client({ url: url(), token: KEY, retries: 1 })
    .createStudy({ name: uniqueName("auth-team"), space: SMALL_SPACE });
  const other = new Client({ url: url(), token: OTHER_KEY, retries: 1 });
  const missing = `${mine.name}-missing`;
  const notFound = async (promise) => {
    let caught;
    await assert.rejects(promise, (error) => {
      caught = error;
      return error instanceof NotFound;
    });
    return caught;
  };
  const theirs = await notFound(other.study(mine.name));
  const nobodys = await notFound(other.study(missing));
  assert.equal(theirs.constructor, nobodys.constructor);
  assert.deepEqual([theirs.status, theirs.type, theirs.title], [nobodys.status, nobodys.type, nobodys.title]);
  assert.equal(theirs.message, nobodys.message.replace(missing, mine.name));
  const foreign = new Study(other, mine.info);
  await notFound(foreign.best()); // not null: for this team the study does not exist
  await notFound(foreign.ask());
});
