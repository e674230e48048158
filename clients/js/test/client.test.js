// The client against a live suggest-api (SUGGEST_TEST_URL): studies, the trial loop, errors.

import assert from "node:assert/strict";
import test from "node:test";

import {
  Client, Conflict, GridExhausted, NotFound, Study, SuggestError, Trial, ValidationError,
} from "../src/index.js";
import { liveUrl, SMALL_SPACE, uniqueName } from "../test-support/helpers.js";

const client = new Client({ url: liveUrl(), retries: 2 });

test("createStudy creates (201), then returns the identical study (200)", async () => {
  const name = uniqueName("create");
  const definition = { name, space: SMALL_SPACE, objective: { name: "loss", goal: "minimize" }, seed: 7 };
  const first = await client.createStudy(definition);
  assert.ok(first instanceof Study);
  assert.equal(first.created, true);
  assert.equal(first.name, name);
  assert.equal(first.info.seed, 7);
  assert.deepEqual(first.info.objective, { name: "loss", goal: "minimize" });
  assert.equal(first.info.suggester.name, "random");

  const again = await client.createStudy(definition);
  assert.equal(again.created, false);
  assert.deepEqual(again.info, first.info);
  // Leaving out the seed (a worker that does not know it) still finds the same study.
  const withoutSeed = await client.createStudy({ ...definition, seed: undefined });
  assert.equal(withoutSeed.created, false);
  assert.equal(withoutSeed.info.seed, 7);
  assert.deepEqual((await client.study(name)).info, first.info);
});

test("createStudy with another definition of an existing name throws Conflict", async () => {
  const name = uniqueName("conflict");
  await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  await assert.rejects(client.createStudy({ name, space: SMALL_SPACE, objective: "maximize" }), (error) => {
    assert.ok(error instanceof Conflict);
    assert.ok(!(error instanceof GridExhausted));
    assert.ok(error instanceof SuggestError);
    assert.equal(error.status, 409);
    assert.equal(error.type, "urn:suggest-api:problem:conflict");
    assert.equal(error.message, error.body.detail); // the service's own words
    assert.match(error.message, new RegExp(name));
    assert.deepEqual(error.body.differing_fields, ["objective.goal"]);
    assert.ok(error.requestId);
    return true;
  });
});

test("ask, tell, best and trials: the whole loop", async () => {
  const study = await client.createStudy({
    name: uniqueName("loop"), space: SMALL_SPACE, objective: "minimize", suggester: "random", seed: 1,
  });
  assert.equal(await study.best(), null); // no completed trial yet: null, not an error

  const values = [0.5, 0.25, 0.75];
  const asked = [];
  for (const value of values) {
    const [trial] = await study.ask({ clientId: "js-worker" });
    assert.ok(trial instanceof Trial);
    assert.equal(trial.state, "running");
    assert.equal(trial.clientId, "js-worker");
    assert.ok(trial.params.lr >= 1e-4 && trial.params.lr <= 0.1);
    assert.ok(["relu", "tanh"].includes(trial.params.act));
    asked.push(trial);
    const told = await study.tell(trial, { value, metadata: { epoch: 3 } });
    assert.equal(told.state, "completed");
    assert.equal(told.value, value);
    assert.deepEqual(told.metadata, { epoch: 3 });
    assert.ok(told.finishedAt);
  }
  assert.deepEqual(asked.map((t) => t.number), [0, 1, 2]);
  // Telling the same result again is a no-op; a different one is a Conflict.
  assert.equal((await study.tell(1, { value: 0.25 })).value, 0.25);
  await assert.rejects(study.tell(1, { value: 0.3 }), Conflict);

  const batch = await study.ask({ count: 2 });
  assert.deepEqual(batch.map((t) => t.number), [3, 4]);

  const best = await study.best();
  assert.equal(best.number, 1);
  assert.equal(best.value, 0.25);
  assert.deepEqual(best.params, asked[1].params);

  const all = await study.trials({ pageSize: 2 }); // three pages
  assert.deepEqual(all.map((t) => t.number), [0, 1, 2, 3, 4]);
  const running = await study.trials({ state: "running" });
  assert.deepEqual(running.map((t) => t.number), [3, 4]);
  assert.deepEqual((await study.trial(2)).params, asked[2].params);
  await assert.rejects(study.trial(99), NotFound);

  await study.refresh();
  assert.deepEqual(study.info.trial_counts, { running: 2, completed: 3, failed: 0, pruned: 0, total: 5 });
});

test("report answers false without a pruner and stores the values; heartbeat renews", async () => {
  const study = await client.createStudy({ name: uniqueName("report"), space: SMALL_SPACE, objective: "maximize" });
  const [trial] = await study.ask();
  assert.equal(await trial.report(0, 0.1), false);
  assert.equal(await trial.report(1, 0.4), false);
  assert.equal(await trial.report(1, 0.4), false); // the same step and value again: a no-op
  await assert.rejects(trial.report(1, 0.9), Conflict); // that step has another value
  await trial.refresh();
  // Without a pruner, prune and reason of each report are null.
  assert.deepEqual(trial.intermediate, [
    { step: 0, value: 0.1, prune: null, reason: null }, { step: 1, value: 0.4, prune: null, reason: null },
  ]);
  assert.equal(trial.shouldPrune, false);
  assert.equal(trial.pruneReason, null);
  assert.equal(trial.prunedStep, null);
  assert.deepEqual(await trial.reportDecision(1, 0.4), { prune: false, reason: null });

  const before = trial.heartbeatAt;
  await new Promise((resolve) => setTimeout(resolve, 20));
  const beat = await trial.heartbeat();
  assert.equal(beat, trial);
  assert.ok(trial.heartbeatAt > before, `${trial.heartbeatAt} should be after ${before}`);

  await trial.tell({ value: 0.4 });
  assert.equal(trial.state, "completed");
  await assert.rejects(trial.heartbeat(), Conflict); // a finished trial is not running
  await assert.rejects(trial.report(2, Number.NaN), RangeError);
});

test("createStudy takes a pruner as a name or {name, options}; another pruner is a Conflict", async () => {
  const name = uniqueName("pruner");
  const byName = await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize", pruner: "median" });
  assert.equal(byName.created, true);
  assert.equal(byName.info.pruner.name, "median");
  const again = await client.createStudy({
    name, space: SMALL_SPACE, objective: "minimize", pruner: { name: "median", options: {} },
  });
  assert.equal(again.created, false); // a name is {name, options: {}}: the same definition
  assert.deepEqual(again.info.pruner, byName.info.pruner);
  await assert.rejects(client.createStudy({
    name, space: SMALL_SPACE, objective: "minimize", pruner: { name: "median", options: { min_trials: 2 } },
  }), (error) => {
    assert.ok(error instanceof Conflict);
    assert.ok(error.body.differing_fields.some((field) => field.startsWith("pruner")), JSON.stringify(error.body));
    return true;
  });

  const withOptions = await client.createStudy({
    name: uniqueName("pruner-options"), space: SMALL_SPACE, objective: "maximize",
    pruner: { name: "successive_halving", options: { min_resource: 1, reduction_factor: 3 } },
  });
  assert.equal(withOptions.info.pruner.name, "successive_halving");
  assert.equal(withOptions.info.pruner.options.min_resource, 1);
  assert.equal(withOptions.info.pruner.options.reduction_factor, 3);

  const none = await client.createStudy({ name: uniqueName("no-pruner"), space: SMALL_SPACE, pruner: null });
  assert.equal(none.info.pruner, null);
  await assert.rejects(
    client.createStudy({ name: uniqueName("bad-pruner"), space: SMALL_SPACE, pruner: "no-such-pruner" }),
    ValidationError);
});

test("report answers prune with the pruner's reason; every later report repeats it", async () => {
  const study = await client.createStudy({
    name: uniqueName("prune"), space: SMALL_SPACE, objective: "maximize",
    pruner: { name: "threshold", options: { lower: 0.5 } },
  });
  const [trial] = await study.ask();
  assert.equal(await trial.report(1, 0.9), false); // above the threshold: go on
  assert.equal(trial.shouldPrune, false);
  assert.equal(trial.pruneReason, null);

  const decision = await trial.reportDecision(2, 0.1); // below it: stop
  assert.equal(decision.prune, true);
  assert.equal(typeof decision.reason, "string");
  assert.ok(decision.reason.length > 0);
  assert.equal(trial.shouldPrune, true);
  assert.equal(trial.pruneReason, decision.reason);
  assert.deepEqual(await trial.reportDecision(2, 0.1), decision); // a retry: the same answer
  assert.equal(await trial.report(3, 0.95), true); // once pruned, always pruned, for the same reason
  assert.equal(trial.pruneReason, decision.reason);

  await trial.refresh(); // the service's view keeps each report's decision
  assert.deepEqual(trial.intermediate.map((r) => [r.step, r.prune]), [[1, false], [2, true], [3, true]]);
  assert.equal(trial.intermediate[1].reason, decision.reason);
  assert.equal(trial.shouldPrune, true);
  assert.equal(trial.pruneReason, decision.reason);
  assert.equal(trial.prunedStep, 2);

  await trial.tell({ state: "pruned", value: 0.95 });
  assert.equal(trial.state, "pruned");
  assert.equal(trial.pruneReason, decision.reason);
  assert.deepEqual((await study.trials({ state: "pruned" })).map((t) => t.number), [trial.number]);
  await assert.rejects(trial.report(4, 0.5), Conflict); // a finished trial takes no more reports
});

test("tell a failed trial: no value, and no best", async () => {
  const study = await client.createStudy({ name: uniqueName("failed"), space: SMALL_SPACE, objective: "minimize" });
  const [trial] = await study.ask();
  const failed = await study.tell(trial.number, { state: "failed" });
  assert.equal(failed.state, "failed");
  assert.equal(failed.value, null);
  assert.equal(await study.best(), null);
  assert.deepEqual((await study.trials({ state: "failed" })).map((t) => t.number), [trial.number]);
  // NaN cannot travel in JSON: refused here rather than sent as null.
  await assert.rejects(study.tell(trial, { value: Number.POSITIVE_INFINITY }), RangeError);
});

test("a missing study throws NotFound, also from best()", async () => {
  const name = uniqueName("missing");
  await assert.rejects(client.study(name), (error) => {
    assert.ok(error instanceof NotFound);
    assert.equal(error.status, 404);
    assert.equal(error.type, "urn:suggest-api:problem:not-found");
    assert.match(error.message, /no study named/);
    return true;
  });
  const study = await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  await client.deleteStudy(name);
  await assert.rejects(study.best(), NotFound); // not null: the study itself is gone
  await assert.rejects(study.ask(), NotFound);
  await assert.rejects(client.deleteStudy(name), NotFound);
});

test("invalid input throws ValidationError naming the field", async () => {
  const study = await client.createStudy({ name: uniqueName("invalid"), space: SMALL_SPACE, objective: "minimize" });
  await assert.rejects(study.ask({ count: 0 }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.equal(error.status, 422);
    assert.ok(error.errors.count, JSON.stringify(error.body));
    return true;
  });
  const [trial] = await study.ask();
  await assert.rejects(study.tell(trial, { value: "abc" }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.ok(error.errors.value, JSON.stringify(error.body));
    return true;
  });
  await assert.rejects(
    client.createStudy({ name: uniqueName("badspace"), objective: "minimize",
      space: { params: [{ name: "x", type: "float", low: 1, high: 0 }] } }),
    (error) => error instanceof ValidationError && error.type === "urn:suggest-api:problem:invalid-space");
});

test("a used-up grid throws GridExhausted, a Conflict", async () => {
  const study = await client.createStudy({
    name: uniqueName("grid"), objective: "minimize", suggester: { name: "grid" },
    space: { params: [{ name: "color", type: "categorical", choices: ["red", "blue"] }] },
  });
  const trials = await study.ask({ count: 5 }); // more than are left: gets the two there are
  assert.deepEqual(trials.map((t) => t.params.color), ["red", "blue"]);
  await assert.rejects(study.ask(), (error) => {
    assert.ok(error instanceof GridExhausted);
    assert.ok(error instanceof Conflict);
    assert.equal(error.status, 409);
    assert.equal(error.type, "urn:suggest-api:problem:grid-exhausted");
    assert.equal(error.body.grid_size, 2);
    return true;
  });
});

test("studies() follows every page; deleteStudy removes a study", async () => {
  const names = [uniqueName("list"), uniqueName("list"), uniqueName("list")];
  for (const name of names) await client.createStudy({ name, space: SMALL_SPACE, objective: "minimize" });
  const listed = (await client.studies({ pageSize: 1 })).map((s) => s.name);
  for (const name of names) assert.ok(listed.includes(name), `${name} not in ${listed}`);
  assert.equal(new Set(listed).size, listed.length); // no page twice

  const study = await client.study(names[0]);
  await study.delete();
  await client.deleteStudy(names[1]);
  const after = (await client.studies()).map((s) => s.name);
  assert.ok(!after.includes(names[0]) && !after.includes(names[1]) && after.includes(names[2]));
  await assert.rejects(client.study(names[0]), NotFound);
});

test("addTrials enqueues parameter sets for the next ask and imports finished ones", async () => {
  const study = await client.createStudy({ name: uniqueName("enqueue"), space: SMALL_SPACE, objective: "minimize" });
  const wanted = { lr: 0.01, layers: 2, act: "tanh" };
  const added = await study.addTrials([{ params: wanted }, { params: { ...wanted, layers: 3 }, value: 0.125 }]);
  assert.equal(added.enqueued, 1);
  assert.equal(added.queueLength, 1);
  assert.equal(added.imported.length, 1);
  assert.equal(added.imported[0].value, 0.125);
  const [trial] = await study.ask();
  assert.deepEqual(trial.params, wanted);
  assert.equal((await study.best()).value, 0.125);
});
