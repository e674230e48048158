/**
 * HTTP with the client's retry rules: one place decides what is retried, how long to wait, and
 * which error an answer becomes.
 */

import { randomUUID } from "node:crypto";

import { ConnectionFailed, errorFromResponse } from "./errors.js";

export const BACKOFF_BASE_S = 0.25;
export const BACKOFF_CAP_S = 20;
export const RETRY_AFTER_CAP_S = 60;
/** Statuses that say "try again later": the request did nothing (or, with a key, replays). */
export const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** A 503 of this type is waited out (its Retry-After plus jitter) for up to MODEL_BUSY_WAIT_MS, using no retry. */
export const MODEL_BUSY = "urn:suggest-api:problem:model-busy";
export const MODEL_BUSY_WAIT_MS = 300_000;

/**
 * Milliseconds to wait before retry number `attempt + 1`: full jitter, uniform in
 * [0, min(20 s, 0.25 s * 2**attempt)], so many workers that failed together do not retry together.
 *
 * @param {number} attempt 0 for the first retry
 * @param {() => number} [random]
 * @returns {number}
 */
export function backoffDelay(attempt, random = Math.random) {
  return random() * Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt) * 1000;
}

/**
 * Milliseconds a `Retry-After` header asks for (delta-seconds or an HTTP date), capped at 60 s;
 * null when the header is absent or unreadable (the caller then backs off as usual).
 *
 * @param {string|null|undefined} value
 * @param {number} [now] epoch milliseconds, for HTTP dates
 * @returns {number|null}
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null) return null;
  const text = String(value).trim();
  let ms;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const date = Date.parse(text);
    if (Number.isNaN(date)) return null;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_S * 1000);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function describe(error) {
  // undici wraps the real reason ("other side closed", ECONNREFUSED) in a generic "fetch failed".
  const cause = error?.cause;
  const reason = cause ? (cause.code ? `${cause.code}: ${cause.message}` : cause.message) : null;
  if (error?.name === "TimeoutError") return "timed out";
  return reason ? `${error.message} (${reason})` : String(error?.message ?? error);
}

function parseBody(text, contentType) {
  if (text === "") return null;
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text; // a broken body still reaches the error as text
    }
  }
  return text;
}

/**
 * Sends requests to one service and applies the retry rules.
 */
export class Transport {
  /**
   * @param {object} options
   * @param {string} options.url base URL of the service
   * @param {string|null} options.token bearer token, or null
   * @param {number} options.timeout seconds per attempt
   * @param {number} options.retries retries after the first attempt
   * @param {typeof fetch} options.fetch
   */
  constructor({ url, token, timeout, retries, fetch }) {
    this.url = url.replace(/\/+$/, "");
    this.token = token;
    this.timeout = timeout;
    this.retries = retries;
    this.fetch = fetch;
  }

  /**
   * One call: the first attempt and its retries.
   *
   * Every call is retried on a network error, a timeout and 429/502/503/504. That is safe because
   * GET, heartbeat and report are idempotent on the service, and the other POSTs carry an
   * Idempotency-Key made once here and sent on every attempt, so the service replays its first
   * answer instead of acting twice.
   *
   * @param {string} method
   * @param {string} path starting with "/"
   * @param {object} [options]
   * @param {Record<string, string|number|null|undefined>} [options.query]
   * @param {any} [options.body] JSON-serializable body
   * @param {boolean} [options.idempotencyKey] send an Idempotency-Key (non-idempotent POSTs)
   * @param {boolean} [options.missingIsDone] a 404 after a lost answer means an earlier attempt did it (DELETE)
   * @returns {Promise<{status: number, body: any, headers: Headers}>}
   */
  async request(method, path, { query, body, idempotencyKey = false, missingIsDone = false } = {}) {
    const url = new URL(this.url + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers = { Accept: "application/json, application/problem+json" };
    // Serialized once: the service fingerprints the raw body, so every retry must send the same bytes.
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (idempotencyKey) headers["Idempotency-Key"] = randomUUID();

    let answerLost = false;
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      let response;
      let text;
      try {
        // The signal also covers reading the body, so a server that stalls mid-answer times out too.
        const signal = AbortSignal.timeout(this.timeout * 1000);
        response = await this.fetch(url, { method, headers, body: payload, signal });
        text = await response.text();
      } catch (error) {
        if (attempt >= this.retries) {
          throw new ConnectionFailed(
            `${method} ${url.pathname} got no answer after ${attempt + 1} attempt(s): ${describe(error)}`,
            { cause: error });
        }
        // A refused connection never reached the service; anything else may have been done there.
        if (error?.cause?.code !== "ECONNREFUSED") answerLost = true;
        await sleep(backoffDelay(attempt));
        continue;
      }
      const status = response.status;
      const parsed = parseBody(text, response.headers.get("content-type"));
      if (status >= 200 && status < 300) return { status, body: parsed, headers: response.headers };
      if (status === 404 && missingIsDone && answerLost) {
        return { status, body: null, headers: response.headers };
      }
      if (status === 503 && parsed?.type === MODEL_BUSY && Date.now() - started < MODEL_BUSY_WAIT_MS) {
        // A turn to wait for (every model-fit slot is taken), not a fault: it uses no retry.
        const told = parseRetryAfter(response.headers.get("retry-after")) ?? 1000;
        await sleep(told * (1 + Math.random() / 2));
        attempt -= 1;
        continue;
      }
      if (RETRY_STATUSES.has(status) && attempt < this.retries) {
        await sleep(parseRetryAfter(response.headers.get("retry-after")) ?? backoffDelay(attempt));
        continue;
      }
      throw errorFromResponse(status, parsed, response.statusText);
    }
  }
}
