/**
 * Typed errors mirroring the service's `application/problem+json` answers (RFC 9457).
 *
 * Code branches on the class (`err instanceof NotFound`) or on `err.type`, never on the message:
 * the message is the service's `detail`, written for people ("what to change").
 */

const PROBLEM_PREFIX = "urn:suggest-api:problem:";
export const GRID_EXHAUSTED = `${PROBLEM_PREFIX}grid-exhausted`;
export const IDEMPOTENCY_KEY_REUSED = `${PROBLEM_PREFIX}idempotency-key-reused`;
/** The 409 of `GET …/best` on a study with several objectives: it has a Pareto front (`study.pareto()`) instead. */
export const MULTI_OBJECTIVE = `${PROBLEM_PREFIX}multi-objective`;
/** The 404 of `GET …/best` while the study has no completed trial (the client answers null instead). */
export const NO_COMPLETED_TRIAL = `${PROBLEM_PREFIX}no-completed-trial`;

/**
 * Base of every error this client throws for an answer of the service (or for no answer at all).
 */
export class SuggestError extends Error {
  /**
   * @param {string} message the service's `detail` (or a description of what failed)
   * @param {object} [fields]
   * @param {number|null} [fields.status] HTTP status, null when no answer came
   * @param {string|null} [fields.type] problem type, e.g. `urn:suggest-api:problem:not-found`
   * @param {string|null} [fields.title] problem title
   * @param {string|null} [fields.detail] problem detail: what went wrong and what to change
   * @param {object|null} [fields.errors] field name -> list of problems, when the service names fields
   * @param {any} [fields.body] the whole parsed body (extra members such as `differing_fields`, `grid_size`)
   * @param {string|null} [fields.requestId] the service's request id, to find its log line
   * @param {unknown} [fields.cause] the underlying error (network errors)
   */
  constructor(message, { status = null, type = null, title = null, detail = null, errors = null, body = null,
    requestId = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.title = title;
    this.detail = detail ?? message;
    this.errors = errors;
    this.body = body;
    this.requestId = requestId;
  }
}

/** 400: malformed JSON or a non-finite number. */
export class BadRequest extends SuggestError {}
/** 401: no or wrong token. */
export class Unauthorized extends SuggestError {}
/** 403: the token may not do this. */
export class Forbidden extends SuggestError {}
/** 404: no such study or trial (or, for `best`, handled by the client: no completed trial). */
export class NotFound extends SuggestError {}
/** 409: a study of that name with another definition, a trial told another result, a trial not running. */
export class Conflict extends SuggestError {}
/** 409 with type `urn:suggest-api:problem:grid-exhausted`: every grid point has been handed out. */
export class GridExhausted extends Conflict {}
/** 409 with type `urn:suggest-api:problem:multi-objective`: `best()` of a study with several objectives. */
export class MultiObjectiveStudy extends Conflict {}
/** 413: the request body is over the service's limit. */
export class PayloadTooLarge extends SuggestError {}
/** 422: valid JSON with wrong content; `.errors` maps each wrong field to its problems. */
export class ValidationError extends SuggestError {}
/** 422 with type `urn:suggest-api:problem:idempotency-key-reused`: same key, different request body. */
export class IdempotencyKeyReused extends ValidationError {}
/** 429: too many requests (retried first; thrown once retries are exhausted). */
export class RateLimited extends SuggestError {}
/** 503: database unreachable or busy (retried first; thrown once retries are exhausted). */
export class Unavailable extends SuggestError {}
/** Any other 5xx. */
export class ServerError extends SuggestError {}
/** No answer at all (connection refused or dropped, timeout) after every retry; `.cause` says why. */
export class ConnectionFailed extends SuggestError {}

const BY_STATUS = new Map([
  [400, BadRequest], [401, Unauthorized], [403, Forbidden], [404, NotFound], [409, Conflict],
  [413, PayloadTooLarge], [422, ValidationError], [429, RateLimited], [503, Unavailable],
]);
const BY_TYPE = new Map([
  [GRID_EXHAUSTED, GridExhausted], [IDEMPOTENCY_KEY_REUSED, IdempotencyKeyReused],
  [MULTI_OBJECTIVE, MultiObjectiveStudy],
]);

/**
 * The error for an HTTP error answer.
 *
 * @param {number} status
 * @param {any} body the parsed JSON body, or the raw text when it was not JSON (a proxy's HTML page)
 * @param {string} [statusText]
 * @returns {SuggestError}
 */
export function errorFromResponse(status, body, statusText = "") {
  const problem = body !== null && typeof body === "object" && !Array.isArray(body) ? body : null;
  let Class = (problem && BY_TYPE.get(problem.type)) || BY_STATUS.get(status);
  if (!Class) Class = status >= 500 ? ServerError : SuggestError;
  const title = problem?.title ?? (statusText || null);
  // A body that is not problem+json (e.g. from a proxy in between) still says something useful.
  const text = typeof body === "string" ? body.trim().slice(0, 500) : "";
  const detail = problem?.detail ?? (text || `HTTP ${status}${statusText ? ` ${statusText}` : ""}`);
  return new Class(detail, {
    status,
    type: problem?.type ?? null,
    title,
    detail,
    errors: problem?.errors ?? null,
    body,
    requestId: problem?.request_id ?? null,
  });
}
