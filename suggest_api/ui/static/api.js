// The dashboard's only way to the service: GET /v1/... with the key from this tab's sessionStorage,
// conditional requests (If-None-Match) against a small ETag cache, and paging through next_cursor.

export const KEY_STORAGE = "suggest-api-key";
const BASE = "/v1";
const PAGE = 1000;
const PARALLEL_PAGES = 4;
const CACHE_ENTRIES = 64;

/** A refusal from the service, carrying its problem+json (or a stand-in for a network failure). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function key() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setKey(value) {
  sessionStorage.setItem(KEY_STORAGE, value);
  cache.clear();
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  cache.clear();
}

// url -> {etag, body}; a Map keeps insertion order, so re-inserting on use makes it an LRU.
const cache = new Map();

function url(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return BASE + path + (text ? `?${text}` : "");
}

/** GET a /v1 path: {body, changed}; changed is false when the service answered 304 to our ETag. */
export async function get(path, query = {}) {
  const target = url(path, query);
  const headers = { Accept: "application/json" };
  const held = key();
  if (held) headers.Authorization = `Bearer ${held}`;
  const cached = cache.get(target);
  if (cached) headers["If-None-Match"] = cached.etag;
  let response;
  try {
    response = await fetch(target, { headers, cache: "no-store", credentials: "omit", redirect: "error" });
  } catch (error) {
    throw new ApiError(0, { title: "Service unreachable", detail: `could not reach the service: ${error.message}` });
  }
  if (response.status === 304 && cached) {
    cache.delete(target);
    cache.set(target, cached);
    return { body: cached.body, changed: false };
  }
  if (!response.ok) throw new ApiError(response.status, await problem(response));
  const body = await response.json();
  const etag = response.headers.get("ETag");
  cache.delete(target);
  if (etag) {
    cache.set(target, { etag, body });
    while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value);
  }
  return { body, changed: true };
}

async function problem(response) {
  try {
    const body = await response.json();
    if (body && typeof body === "object") return body;
  } catch {
    // not JSON: fall through to the status line
  }
  return { title: response.statusText || `HTTP ${response.status}`, status: response.status };
}

/** Every item of a listing, following next_cursor; `field` names the list in each page. */
export async function all(path, field, query = {}) {
  const items = [];
  let cursor = null;
  let changed = false;
  do {
    const page = await get(path, { ...query, limit: PAGE, cursor });
    changed = changed || page.changed;
    items.push(...page.body[field]);
    cursor = page.body.next_cursor;
  } while (cursor);
  return { items, changed };
}

export function studyPath(name) {
  return `/studies/${encodeURIComponent(name)}`;
}

export async function studies() {
  return (await all("/studies", "studies")).items;
}

/**
 * Every trial numbered at least `from`, in pages of 1000. With the study's trial count known, blocks of
 * 1000 numbers are fetched in parallel (`min_number`); a block whose page stopped short (the page byte
 * cap) follows its cursor until it reaches the next block, and the last block follows it to the end.
 * Only the newest REPORT_WINDOW trials come with their reports (`intermediate`, for the learning curves);
 * older ones are asked `reports=false` (null `intermediate`), which makes their pages several times lighter.
 */
export const REPORT_WINDOW = 1000;

export async function trials(name, total, from = 0) {
  const path = `${studyPath(name)}/trials`;
  const reportsFrom = Math.max(from, total - REPORT_WINDOW);
  const blocks = [];
  for (let start = from; start < reportsFrom; start += PAGE) blocks.push([start, Math.min(start + PAGE, reportsFrom), false]);
  blocks.push([reportsFrom, Infinity, true]);
  const results = new Array(blocks.length);
  let next = 0;
  async function worker() {
    while (next < blocks.length) {
      const index = next++;
      const [start, end, reports] = blocks[index];
      results[index] = await block(path, start, end, reports);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_PAGES, blocks.length) }, worker));
  return results.flat();
}

async function block(path, start, end, reports) {
  const found = [];
  let cursor = null;
  for (;;) {
    const query = { min_number: start, limit: PAGE, cursor };
    if (!reports) query.reports = "false";
    const page = (await get(path, query)).body;
    for (const trial of page.trials) {
      if (trial.number >= end) return found;
      found.push(trial);
    }
    cursor = page.next_cursor;
    // Numbers are unique integers: once the block's last number is in, the next page belongs to the next block.
    if (!cursor || (found.length && found[found.length - 1].number >= end - 1)) return found;
  }
}

/** Every trial of the front (GET /pareto, all pages), with the front's summary from the first page. */
export async function pareto(name) {
  const path = `${studyPath(name)}/pareto`;
  const first = (await get(path, { limit: PAGE })).body;
  const front = [...first.trials];
  let cursor = first.next_cursor;
  while (cursor) {
    const page = (await get(path, { limit: PAGE, cursor })).body;
    front.push(...page.trials);
    cursor = page.next_cursor;
  }
  return { ...first, trials: front, next_cursor: null };
}

export async function importance(name, objective) {
  return (await get(`${studyPath(name)}/importance`, { objective })).body;
}
