/**
 * JavaScript client for suggest_api: create studies, ask for trials, tell results.
 *
 * Dependency-free ES module for Node >= 18 (global `fetch`). Objects returned by the service keep
 * its JSON in `.info` (studies) and `.raw` (trials); trial fields are also exposed in camelCase
 * (`createdAt`, `finishedAt`, `heartbeatAt`, `failReason`, `clientId`, `shouldPrune`, `pruneReason`).
 * A multi-objective study is created with `objectives`, told `{values}` and read with `pareto()`.
 */

import { NO_COMPLETED_TRIAL, NotFound } from "./errors.js";
import { Transport } from "./transport.js";

export * from "./errors.js";
export { backoffDelay, parseRetryAfter } from "./transport.js";

export const DEFAULT_URL = "http://127.0.0.1:8000";
export const DEFAULT_TIMEOUT_S = 30;
export const DEFAULT_RETRIES = 5;

const env = (name) => (typeof process !== "undefined" ? process.env[name] : undefined) || undefined;
const segment = (name) => encodeURIComponent(name);

function studyPath(name, rest = "") {
  if (typeof name !== "string" || name === "") throw new TypeError("a study name must be a non-empty string");
  return `/v1/studies/${segment(name)}${rest}`;
}

function trialNumber(trialOrNumber) {
  const number = trialOrNumber instanceof Trial ? trialOrNumber.number : trialOrNumber;
  if (!Number.isInteger(number) || number < 0) {
    throw new TypeError(`a trial number must be a non-negative integer, not ${String(number)}`);
  }
  return number;
}

function requireFinite(value, what) {
  // JSON.stringify would silently turn NaN and Infinity into null, which means something else.
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError(`${what} must be a finite number, not ${value}; tell a diverged run as state "failed"`);
  }
}

/** Every metric of a tell's `values` finite, checked before sending (see requireFinite). */
function requireFiniteValues(values) {
  if (values === undefined || values === null) return;
  if (typeof values !== "object" || Array.isArray(values)) {
    throw new TypeError("values must be an object of metric name -> number");
  }
  for (const [name, value] of Object.entries(values)) requireFinite(value, `values.${name}`);
}

/** One objective as the service takes it: `{name, goal}`, or the pair `[name, goal]`. */
function objectiveSpec(objective) {
  if (Array.isArray(objective)) {
    if (objective.length !== 2) throw new TypeError("an objective pair must be [name, goal]");
    return { name: objective[0], goal: objective[1] };
  }
  return objective;
}

/** One constraint as the service takes it: `{name, op, bound}`, or the triple `[name, op, bound]`. */
function constraintSpec(constraint) {
  if (Array.isArray(constraint)) {
    if (constraint.length !== 3) throw new TypeError("a constraint triple must be [name, op, bound]");
    return { name: constraint[0], op: constraint[1], bound: constraint[2] };
  }
  return constraint;
}

/** Drop undefined members, so the service applies its own defaults. */
function compact(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

/**
 * A suggester or pruner as the service takes it: a name is `{name, options: {}}`; null and undefined
 * pass through (a null pruner: never prune).
 */
function plugin(value) {
  return typeof value === "string" ? { name: value, options: {} } : value;
}

/** The first report the service answered with prune (every later one repeats it), or undefined. */
function firstPrune(intermediate) {
  return (intermediate ?? []).find((entry) => entry.prune === true);
}

/**
 * @typedef {object} PruneDecision the service's answer to a report
 * @property {boolean} prune true: stop training this trial (tell it "pruned")
 * @property {string|null} reason the pruner's sentence, e.g. "value 0.41 at step 3 is worse than the
 *   median 0.22 of 9 completed trials"; null when the study has no pruner
 */

/**
 * A connection to one suggest_api service.
 */
export class Client {
  /**
   * @param {object} [options]
   * @param {string} [options.url] base URL; default `SUGGEST_URL`, else http://127.0.0.1:8000
   * @param {string|null} [options.token] sent as `Authorization: Bearer <token>`; default `SUGGEST_TOKEN`
   * @param {number} [options.timeout] seconds per attempt (default 30)
   * @param {number} [options.retries] retries after the first attempt (default 5)
   * @param {typeof fetch} [options.fetch] fetch implementation (default the global one), e.g. for tests
   */
  constructor({ url, token, timeout = DEFAULT_TIMEOUT_S, retries = DEFAULT_RETRIES, fetch } = {}) {
    if (!(typeof timeout === "number" && timeout > 0)) throw new RangeError("timeout must be a positive number of seconds");
    if (!(Number.isInteger(retries) && retries >= 0)) throw new RangeError("retries must be a non-negative integer");
    const fetchImpl = fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") throw new TypeError("no fetch available: use Node >= 18 or pass options.fetch");
    this.url = (url ?? env("SUGGEST_URL") ?? DEFAULT_URL).replace(/\/+$/, "");
    this.transport = new Transport({
      url: this.url,
      token: token === undefined ? (env("SUGGEST_TOKEN") ?? null) : token,
      timeout,
      retries,
      fetch: fetchImpl,
    });
  }

  /**
   * Get or create a study: 201 creates it, an identical existing study is returned as is (200);
   * a study of that name with another definition throws `Conflict` (`.body.differing_fields`).
   *
   * @param {object} definition
   * @param {string} definition.name
   * @param {object|object[]} definition.space `{params: [...]}`, or just the params list
   * @param {"minimize"|"maximize"|{name?: string, goal: "minimize"|"maximize"}} [definition.objective] default
   *   "minimize"; leave it out when giving `objectives`
   * @param {({name: string, goal: "minimize"|"maximize"}|[string, string])[]} [definition.objectives] 2 to 4
   *   objectives: a multi-objective study, told `values` and read through `pareto()`
   * @param {({name: string, op: "<="|">=", bound: number}|[string, string, number])[]} [definition.constraints]
   *   metrics a feasible trial must keep within their bounds (told in `values` too)
   * @param {number[]} [definition.referencePoint] one number per objective, in its own units, for the
   *   hypervolume (derived from the front when omitted)
   * @param {string|{name: string, options?: object}} [definition.suggester] default the service's ("random")
   * @param {string|{name: string, options?: object}|null} [definition.pruner] stops unpromising trials
   *   early, e.g. "median" or `{name: "successive_halving", options: {min_resource: 1}}`; null or
   *   omitted: never prune
   * @param {number} [definition.seed] drawn by the service when omitted
   * @param {number} [definition.heartbeatTimeout] seconds
   * @param {object} [definition.metadata]
   * @returns {Promise<Study>} with `.created` true when this call created it
   */
  async createStudy({
    name, space, objective, objectives, constraints, referencePoint, suggester, pruner, seed, heartbeatTimeout,
    metadata,
  }) {
    if (objective !== undefined && objectives !== undefined) {
      throw new TypeError("give `objective` (one) or `objectives` (several), not both");
    }
    const single = objective ?? (objectives === undefined ? "minimize" : undefined);
    const body = compact({
      name,
      space: Array.isArray(space) ? { params: space } : space,
      objective: typeof single === "string" ? { goal: single } : single,
      objectives: objectives?.map(objectiveSpec),
      constraints: constraints?.map(constraintSpec),
      reference_point: referencePoint,
      suggester: plugin(suggester),
      pruner: plugin(pruner),
      seed,
      heartbeat_timeout: heartbeatTimeout,
      metadata,
    });
    const { status, body: info } = await this.transport.request("POST", "/v1/studies", { body, idempotencyKey: true });
    return new Study(this, info, { created: status === 201 });
  }

  /**
   * An existing study; throws `NotFound` when there is none of that name.
   *
   * @param {string} name
   * @returns {Promise<Study>}
   */
  async study(name) {
    const { body } = await this.transport.request("GET", studyPath(name));
    return new Study(this, body);
  }

  /**
   * Every study, oldest first (follows `next_cursor` over all pages).
   *
   * @param {object} [options]
   * @param {number} [options.pageSize] studies per request (1 … 1000; default the service's 50)
   * @returns {Promise<Study[]>}
   */
  async studies({ pageSize } = {}) {
    const pages = await this._pages("/v1/studies", "studies", { limit: pageSize });
    return pages.map((info) => new Study(this, info));
  }

  /**
   * Delete a study and all its trials; throws `NotFound` when there is none of that name.
   *
   * @param {string} name
   * @returns {Promise<void>}
   */
  async deleteStudy(name) {
    // A 404 on a retry whose earlier attempt lost its answer means that attempt deleted it.
    await this.transport.request("DELETE", studyPath(name), { missingIsDone: true });
  }

  /** @private */
  async _pages(path, key, query) {
    const items = [];
    let cursor = null;
    do {
      const { body } = await this.transport.request("GET", path, { query: { ...query, cursor } });
      items.push(...body[key]);
      cursor = body.next_cursor;
    } while (cursor);
    return items;
  }
}

/**
 * A study: its definition and counts as the service last answered them (`.info`), and its trials.
 */
export class Study {
  /**
   * @param {Client} client
   * @param {object} info the study's JSON as the service answers it (snake_case)
   * @param {{created?: boolean}} [options]
   */
  constructor(client, info, { created = false } = {}) {
    Object.defineProperty(this, "client", { value: client, enumerable: false });
    /** The study's JSON: space, objective, suggester, seed, trial_counts, best_trial, … */
    this.info = info;
    /** True when the `createStudy` call that returned this object created the study. */
    this.created = created;
  }

  /** @returns {string} */
  get name() {
    return this.info.name;
  }

  /** @returns {{name: string, goal: "minimize"|"maximize"}[]} every objective (one for a single-objective study) */
  get objectives() {
    return this.info.objectives ?? [this.info.objective];
  }

  /** @returns {{name: string, op: "<="|">=", bound: number}[]} the constraints; empty when there are none */
  get constraints() {
    return this.info.constraints ?? [];
  }

  /** @returns {boolean} true with 2 or more objectives: trials are told `values`, `pareto()` replaces `best()` */
  get multiObjective() {
    return this.objectives.length > 1;
  }

  /**
   * Reload `.info` (counts, best trial) from the service.
   *
   * @returns {Promise<Study>} this study
   */
  async refresh() {
    const { body } = await this.client.transport.request("GET", studyPath(this.name));
    this.info = body;
    return this;
  }

  /**
   * New running trials to train. A grid study near its end answers fewer than `count`; once every
   * point is handed out it throws `GridExhausted`.
   *
   * @param {object} [options]
   * @param {number} [options.count] trials to create (default 1)
   * @param {string} [options.clientId] stored on the trials to tell workers apart
   * @returns {Promise<Trial[]>}
   */
  async ask({ count = 1, clientId } = {}) {
    const body = compact({ count, client_id: clientId });
    const answer = await this.client.transport.request("POST", studyPath(this.name, "/ask"),
      { body, idempotencyKey: true });
    return answer.body.trials.map((raw) => new Trial(this, raw));
  }

  /**
   * Finish a trial: give `value` (completed), or `state` "failed" / "pruned" / "completed".
   * A study with several objectives or with constraints is told `values` instead: every objective
   * and constraint metric by name, no others. The same tell again is a no-op; a different result
   * for a finished trial throws `Conflict`.
   *
   * @param {Trial|number} trialOrNumber
   * @param {object} [result]
   * @param {number} [result.value]
   * @param {Record<string, number>} [result.values] metric name -> number
   * @param {"completed"|"failed"|"pruned"} [result.state]
   * @param {object} [result.metadata] merged into the trial's metadata
   * @returns {Promise<Trial>} the finished trial
   */
  async tell(trialOrNumber, { value, values, state, metadata } = {}) {
    if (value !== undefined && values !== undefined) throw new TypeError("tell `value` or `values`, not both");
    requireFinite(value, "value");
    requireFiniteValues(values);
    const body = compact({ number: trialNumber(trialOrNumber), value, values, state, metadata });
    const answer = await this.client.transport.request("POST", studyPath(this.name, "/tell"),
      { body, idempotencyKey: true });
    return new Trial(this, answer.body);
  }

  /**
   * The best completed trial, or null while none has completed. A study with several objectives
   * has none: it throws `MultiObjectiveStudy` (a `Conflict`); read `pareto()` instead.
   *
   * @returns {Promise<Trial|null>}
   */
  async best() {
    try {
      const { body } = await this.client.transport.request("GET", studyPath(this.name, "/best"));
      return new Trial(this, body);
    } catch (error) {
      if (!(error instanceof NotFound)) throw error;
      if (error.type === NO_COMPLETED_TRIAL) return null;
      // Services that answer both "no such study" and "no completed trial yet" with the plain
      // not-found problem: reading the study tells them apart (and throws if it is gone).
      await this.refresh();
      return this.info.best_trial ? new Trial(this, this.info.best_trial) : null;
    }
  }

  /**
   * The Pareto front: the non-dominated feasible completed trials by number (follows `next_cursor`
   * over all pages), with what the service says of the front: its `size`, `hypervolume` (null with
   * 4 objectives or an empty front), the `referencePoint` it was measured from, and whether that
   * point was derived from the front (`referencePointDerived`) rather than given at creation.
   *
   * @param {object} [options]
   * @param {number} [options.pageSize] trials per request (1 … 1000; default the service's)
   * @returns {Promise<{trials: Trial[], size: number, hypervolume: number|null, referencePoint: number[]|null,
   *   referencePointDerived: boolean}>}
   */
  async pareto({ pageSize } = {}) {
    const trials = [];
    let cursor = null;
    let page;
    do {
      ({ body: page } = await this.client.transport.request("GET", studyPath(this.name, "/pareto"),
        { query: { limit: pageSize, cursor } }));
      trials.push(...page.trials.map((raw) => new Trial(this, raw)));
      cursor = page.next_cursor;
    } while (cursor);
    return {
      trials,
      size: page.size,
      hypervolume: page.hypervolume ?? null,
      referencePoint: page.reference_point ?? null,
      referencePointDerived: page.reference_point_derived === true,
    };
  }

  /**
   * Every trial, by number (follows `next_cursor` over all pages).
   *
   * @param {object} [options]
   * @param {"running"|"completed"|"failed"|"pruned"} [options.state] only trials in this state
   * @param {number} [options.pageSize] trials per request (1 … 1000; default the service's 50)
   * @returns {Promise<Trial[]>}
   */
  async trials({ state, pageSize } = {}) {
    const items = await this.client._pages(studyPath(this.name, "/trials"), "trials", { state, limit: pageSize });
    return items.map((raw) => new Trial(this, raw));
  }

  /**
   * One trial; throws `NotFound` when the study has no trial of that number.
   *
   * @param {number} number
   * @returns {Promise<Trial>}
   */
  async trial(number) {
    const { body } = await this.client.transport.request("GET", studyPath(this.name, `/trials/${trialNumber(number)}`));
    return new Trial(this, body);
  }

  /**
   * Enqueue parameter sets (items without `value` and `state`: handed out by the next asks) and/or
   * import finished trials (items with them: warm start).
   *
   * @param {{params: object, value?: number, values?: Record<string, number>, state?: string,
   *   metadata?: object}[]} items
   * @returns {Promise<{imported: Trial[], enqueued: number, queueLength: number}>}
   */
  async addTrials(items) {
    for (const item of items) {
      requireFinite(item?.value, "value");
      requireFiniteValues(item?.values);
    }
    const answer = await this.client.transport.request("POST", studyPath(this.name, "/trials"),
      { body: { trials: items }, idempotencyKey: true });
    const { imported, enqueued, queue_length: queueLength } = answer.body;
    return { imported: imported.map((raw) => new Trial(this, raw)), enqueued, queueLength };
  }

  /**
   * Delete this study and all its trials.
   *
   * @returns {Promise<void>}
   */
  async delete() {
    await this.client.deleteStudy(this.name);
  }
}

/**
 * One trial as the service last answered it. `.raw` holds the service's JSON; the same fields are
 * properties in camelCase. Timestamps stay RFC 3339 strings (a Date would drop the microseconds).
 */
export class Trial {
  /**
   * @param {Study} study
   * @param {object} raw the trial's JSON as the service answers it
   */
  constructor(study, raw) {
    Object.defineProperty(this, "study", { value: study, enumerable: false });
    this._update(raw);
  }

  /** @private */
  _update(raw) {
    Object.defineProperty(this, "raw", { value: raw, enumerable: false, configurable: true, writable: true });
    /** @type {number} */
    this.number = raw.number;
    /** @type {"running"|"completed"|"failed"|"pruned"} */
    this.state = raw.state;
    /** @type {Record<string, any>} only the active parameters */
    this.params = raw.params;
    /** @type {number|null} null in a multi-objective study, whose results are in `values` */
    this.value = raw.value;
    /** @type {Record<string, number>|null} every objective and constraint metric, for a study told `values` */
    this.values = raw.values ?? null;
    /** @type {boolean|null} whether a completed trial met the constraints; null when the study has none */
    this.feasible = raw.feasible ?? null;
    /** @type {{step: number, value: number, prune: boolean|null, reason: string|null}[]} (null: no pruner) */
    this.intermediate = raw.intermediate;
    /** @type {object|null} */
    this.metadata = raw.metadata;
    /** @type {string} */
    this.createdAt = raw.created_at;
    /** @type {string|null} */
    this.finishedAt = raw.finished_at;
    /** @type {string|null} */
    this.heartbeatAt = raw.heartbeat_at;
    /** @type {string|null} e.g. "stale" for a trial whose worker stopped sending heartbeats */
    this.failReason = raw.fail_reason;
    /** @type {string|null} */
    this.clientId = raw.client_id;
    const saidPrune = firstPrune(raw.intermediate);
    /** @type {boolean} true once the service answered a report of this trial with prune */
    this.shouldPrune = saidPrune !== undefined;
    /** @type {string|null} why the service said to stop (the pruner's sentence); null before, or without a pruner */
    this.pruneReason = saidPrune?.reason ?? null;
    return this;
  }

  /**
   * The step of the first report the service answered with prune, or null if none did.
   *
   * @returns {number|null}
   */
  get prunedStep() {
    return firstPrune(this.intermediate)?.step ?? null;
  }

  /**
   * Report an intermediate value (also renews the heartbeat). When the answer is to stop, the
   * service's reason is in `trial.pruneReason`.
   *
   * @param {number} step a non-negative integer
   * @param {number} value
   * @returns {Promise<boolean>} true when training should stop (pruned)
   */
  async report(step, value) {
    return (await this.reportDecision(step, value)).prune;
  }

  /**
   * `report`, answering the whole decision: whether to stop, and the pruner's reason.
   *
   * @param {number} step a non-negative integer
   * @param {number} value
   * @returns {Promise<PruneDecision>}
   */
  async reportDecision(step, value) {
    requireFinite(value, "value");
    const { body } = await this.study.client.transport.request("POST",
      studyPath(this.study.name, `/trials/${this.number}/report`), { body: { step, value } });
    const decision = { prune: body.prune === true, reason: body.reason ?? null };
    this.shouldPrune = decision.prune;
    if (decision.prune) this.pruneReason = decision.reason;
    return decision;
  }

  /**
   * Tell the service this trial is still being trained, so it is not failed as stale.
   *
   * @returns {Promise<Trial>} this trial, updated
   */
  async heartbeat() {
    const { body } = await this.study.client.transport.request("POST",
      studyPath(this.study.name, `/trials/${this.number}/heartbeat`));
    return this._update(body);
  }

  /**
   * Finish this trial (see `Study.tell`).
   *
   * @param {{value?: number, values?: Record<string, number>, state?: "completed"|"failed"|"pruned",
   *   metadata?: object}} [result]
   * @returns {Promise<Trial>} this trial, updated
   */
  async tell(result = {}) {
    const told = await this.study.tell(this.number, result);
    return this._update(told.raw);
  }

  /**
   * Reload this trial from the service.
   *
   * @returns {Promise<Trial>} this trial, updated
   */
  async refresh() {
    const fresh = await this.study.trial(this.number);
    return this._update(fresh.raw);
  }
}
