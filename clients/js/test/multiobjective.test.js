// Multi-objective studies and constraints against a live suggest-api (SUGGEST_TEST_URL): create with
// `objectives`, tell `{values}`, read `pareto()` over every page; `best()` refuses.

import assert from "node:assert/strict";
import test from "node:test";

import { Client, Conflict, MultiObjectiveStudy, Trial, ValidationError } from "../src/index.js";
import { liveUrl, uniqueName } from "../test-support/helpers.js";

const client = new Client({ url: liveUrl(), retries: 2 });
const SPACE = [{ name: "x", type: "float", low: 0, high: 1 }];
const OBJECTIVES = [["accuracy", "maximize"], { name: "size", goal: "minimize" }];
const CONSTRAINTS = [["latency", "<=", 10]];
const REFERENCE = [0.5, 200];
// [accuracy, size, latency] per trial: 3 breaks the latency bound, 2 is dominated by 0.
const TOLD = [[0.9, 100, 5], [0.8, 50, 5], [0.85, 120, 5], [0.95, 10, 20], [0.7, 20, 9]];
const FRONT = [0, 1, 4];
// Accuracy negated: (0.9-0.5)·(200-100) + (0.8-0.5)·(100-50) + (0.7-0.5)·(50-20).
const HYPERVOLUME = 40 + 15 + 6;

const metrics = ([accuracy, size, latency]) => ({ accuracy, size, latency });
const close = (actual, expected) => Math.abs(actual - expected) < 1e-9 * Math.max(1, Math.abs(expected));

function create(name, extra = {}) {
  return client.createStudy({ name, space: SPACE, objectives: OBJECTIVES, constraints: CONSTRAINTS, ...extra });
}

test("createStudy takes objectives, constraints and a reference point, and gets the same study back", async () => {
  const name = uniqueName("mo-create");
  const study = await create(name, { referencePoint: REFERENCE, seed: 2 });
  assert.equal(study.created, true);
  assert.deepEqual(study.objectives, [{ name: "accuracy", goal: "maximize" }, { name: "size", goal: "minimize" }]);
  assert.deepEqual(study.constraints, [{ name: "latency", op: "<=", bound: 10 }]);
  assert.equal(study.multiObjective, true);
  assert.deepEqual(study.info.reference_point, REFERENCE);
  assert.equal(study.info.best_trial, null);
  assert.equal(study.info.pareto.size, 0);

  const again = await client.createStudy({
    name, space: SPACE, seed: 2, referencePoint: REFERENCE,
    objectives: [{ name: "accuracy", goal: "maximize" }, ["size", "minimize"]],
    constraints: [{ name: "latency", op: "<=", bound: 10 }],
  });
  assert.equal(again.created, false);
  assert.deepEqual(again.info, study.info);
  await assert.rejects(create(name, { referencePoint: [0.4, 200], seed: 2 }), Conflict);
  await assert.rejects(client.createStudy({ name: uniqueName("mo-both"), space: SPACE, objective: "minimize",
    objectives: OBJECTIVES }), TypeError);
  await assert.rejects(create(uniqueName("mo-pruner"), { pruner: "median" }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.ok("pruner" in error.errors, JSON.stringify(error.errors));
    return true;
  });
});

test("tell {values}, then pareto() follows every page; best() throws MultiObjectiveStudy", async () => {
  const study = await create(uniqueName("mo-front"), { referencePoint: REFERENCE, seed: 1 });
  const trials = await study.ask({ count: TOLD.length });
  for (const trial of trials) {
    const told = await study.tell(trial, { values: metrics(TOLD[trial.number]) });
    assert.equal(told.state, "completed");
    assert.equal(told.value, null);
    assert.deepEqual(told.values, metrics(TOLD[trial.number]));
    assert.equal(told.feasible, trial.number !== 3);
  }
  const front = await study.pareto({ pageSize: 2 });
  assert.deepEqual(front.trials.map((t) => t.number), FRONT);
  assert.ok(front.trials.every((t) => t instanceof Trial && t.feasible === true));
  assert.equal(front.size, 3);
  assert.ok(close(front.hypervolume, HYPERVOLUME), String(front.hypervolume));
  assert.deepEqual(front.referencePoint, REFERENCE);
  assert.equal(front.referencePointDerived, false);

  await assert.rejects(study.best(), (error) => {
    assert.ok(error instanceof MultiObjectiveStudy);
    assert.ok(error instanceof Conflict);
    assert.equal(error.status, 409);
    assert.equal(error.type, "urn:suggest-api:problem:multi-objective");
    assert.match(error.message, /\/pareto/);
    return true;
  });
  await study.refresh();
  assert.equal(study.info.pareto.size, 3);
});

test("refused values: non-finite before sending, missing or extra metrics by the service", async () => {
  const study = await create(uniqueName("mo-refuse"));
  const [trial] = await study.ask();
  await assert.rejects(study.tell(trial, { values: { accuracy: NaN, size: 1, latency: 1 } }), RangeError);
  await assert.rejects(study.tell(trial, { value: 1, values: metrics([1, 1, 1]) }), TypeError);
  await assert.rejects(study.tell(trial, { values: { accuracy: 0.5, size: 1 } }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.ok("values.latency" in error.errors, JSON.stringify(error.errors));
    return true;
  });
  await assert.rejects(study.tell(trial, { values: { ...metrics([0.5, 1, 1]), bogus: 2 } }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.ok("values.bogus" in error.errors, JSON.stringify(error.errors));
    return true;
  });
  assert.equal((await study.trial(trial.number)).state, "running");
  await trial.tell({ values: metrics([0.6, 30, 12]) });
  assert.deepEqual([trial.state, trial.feasible], ["completed", false]);
  assert.deepEqual(trial.values, metrics([0.6, 30, 12]));
});

test("addTrials imports trials with values, and a derived reference point", async () => {
  const study = await create(uniqueName("mo-import"));
  const { imported } = await study.addTrials([
    { params: { x: 0.1 }, values: metrics([0.9, 100, 1]) },
    { params: { x: 0.2 }, values: metrics([0.8, 50, 1]) },
  ]);
  assert.deepEqual(imported.map((t) => [t.state, t.feasible]), [["completed", true], ["completed", true]]);
  await assert.rejects(study.addTrials([{ params: { x: 0.3 }, values: metrics([Infinity, 1, 1]) }]), RangeError);
  const front = await study.pareto();
  assert.deepEqual(front.trials.map((t) => t.number), imported.map((t) => t.number));
  assert.equal(front.referencePointDerived, true);
  // The nadir (0.8, 100) moved away by a tenth of each range (0.1, 50), in each objective's own units.
  assert.ok(close(front.referencePoint[0], 0.79) && close(front.referencePoint[1], 105), String(front.referencePoint));
  assert.ok(close(front.hypervolume, (0.9 - 0.79) * 5 + (0.8 - 0.79) * 50), String(front.hypervolume));
});
