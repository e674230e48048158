// The trials table: filter by state, sort by any column, 100 rows a page, and CSV/JSON downloads of every
// matching row in the shown order with the shown columns (column keys: number, state, value or
// values.<metric>, params.<name>, metadata.<key>, created_at, finished_at, duration in seconds).
import { h, clear, labelled, select } from "./dom.js";
import * as fmt from "./format.js";
import { isMulti, metricNames } from "./model.js";

export const PAGE_ROWS = 100;
export const MAX_METADATA_COLUMNS = 100;
const STATES = ["all", "running", "completed", "pruned", "failed"];

/** The columns for a study and its trials: [{key, label, kind, get(trial)}]. */
export function columns(study, trials) {
  const cols = [
    { key: "number", label: "#", kind: "number", get: (t) => t.number },
    { key: "state", label: "state", kind: "text", get: (t) => t.state },
  ];
  if (!isMulti(study) && !(study.constraints || []).length) {
    cols.push({ key: "value", label: "value", kind: "number", get: (t) => t.value ?? null });
  } else {
    for (const m of metricNames(study)) {
      cols.push({ key: `values.${m}`, label: m, kind: "number", get: (t) => (t.values ? t.values[m] ?? null : null) });
    }
  }
  for (const p of study.space.params) {
    cols.push({ key: `params.${p.name}`, label: p.name, kind: "param", get: (t) => t.params[p.name] ?? null });
  }
  const seen = new Set();
  for (const t of trials) {
    if (!t.metadata) continue;
    for (const k of Object.keys(t.metadata)) {
      if (seen.size >= MAX_METADATA_COLUMNS) break;
      seen.add(k);
    }
  }
  for (const k of [...seen].sort()) {
    cols.push({ key: `metadata.${k}`, label: k, kind: "metadata", get: (t) => (t.metadata && k in t.metadata ? t.metadata[k] : null) });
  }
  cols.push(
    { key: "created_at", label: "created", kind: "time", get: (t) => t.created_at ?? null },
    { key: "finished_at", label: "finished", kind: "time", get: (t) => t.finished_at ?? null },
    { key: "duration", label: "duration", kind: "duration", get: duration },
  );
  return cols;
}

function duration(t) {
  if (!t.finished_at || !t.created_at) return null;
  const seconds = (Date.parse(t.finished_at) - Date.parse(t.created_at)) / 1000;
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) / 1000 : null;
}

function compare(a, b) {
  const am = a === null || a === undefined;
  const bm = b === null || b === undefined;
  if (am || bm) return am && bm ? 0 : am ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const as = typeof a === "string" ? a : JSON.stringify(a);
  const bs = typeof b === "string" ? b : JSON.stringify(b);
  return as < bs ? -1 : as > bs ? 1 : 0;
}

function cellText(col, value) {
  if (value === null || value === undefined) return "";
  if (col.kind === "time") return fmt.time(value);
  if (col.kind === "duration") return fmt.duration(value);
  if (typeof value === "number") return col.key === "number" ? String(value) : fmt.number(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function csvCell(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export class TrialsTable {
  constructor(root, studyName) {
    this.studyName = studyName;
    this.filter = "all";
    this.sortKey = "number";
    this.sortDir = "asc";
    this.sorted = false; // no header marked until the user sorts
    this.page = 0;
    this.trials = [];
    this.cols = [];
    this.table = h("table", { id: "trials-table", class: "data" });
    this.info = h("span", { id: "table-info", class: "muted" });
    this.prev = h("button", { id: "table-prev", type: "button", class: "ghost", onclick: () => this.go(-1) }, "← Previous");
    this.next = h("button", { id: "table-next", type: "button", class: "ghost", onclick: () => this.go(1) }, "Next →");
    const stateSelect = select("state-filter", STATES, "all", (v) => { this.filter = v; this.page = 0; this.render(); });
    root.append(
      h("div", { class: "toolbar" },
        labelled("State", stateSelect),
        h("span", { class: "spacer" }),
        h("button", { id: "download-csv", type: "button", class: "ghost", onclick: () => this.download("csv") }, "Download CSV"),
        h("button", { id: "download-json", type: "button", class: "ghost", onclick: () => this.download("json") }, "Download JSON")),
      h("div", { class: "table-scroll" }, this.table),
      h("div", { class: "pager" }, this.prev, this.info, this.next),
    );
  }

  update(study, trials) {
    this.trials = trials;
    this.cols = columns(study, trials);
    if (!this.cols.some((c) => c.key === this.sortKey)) { this.sortKey = "number"; this.sortDir = "asc"; this.sorted = false; }
    this.render();
  }

  /** The matching trials in the shown order. */
  rows() {
    const matching = this.filter === "all" ? this.trials : this.trials.filter((t) => t.state === this.filter);
    const col = this.cols.find((c) => c.key === this.sortKey);
    const sign = this.sortDir === "desc" ? -1 : 1;
    return matching
      .map((t) => ({ t, v: col.get(t) }))
      .sort((a, b) => {
        const am = a.v === null || a.v === undefined;
        const bm = b.v === null || b.v === undefined;
        if (am || bm) return (am && bm ? 0 : am ? 1 : -1) || a.t.number - b.t.number; // missing last either way
        return sign * compare(a.v, b.v) || a.t.number - b.t.number;
      })
      .map((r) => r.t);
  }

  sortBy(key) {
    if (this.sorted && this.sortKey === key) this.sortDir = this.sortDir === "asc" ? "desc" : "asc";
    else { this.sortKey = key; this.sortDir = "asc"; }
    this.sorted = true;
    this.page = 0;
    this.render();
  }

  go(delta) {
    this.page += delta;
    this.render();
  }

  render() {
    const rows = this.rows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const first = this.page * PAGE_ROWS;
    const shown = rows.slice(first, first + PAGE_ROWS);
    const head = h("tr", {}, this.cols.map((c) => h("th", {
      dataset: { column: c.key, ...(this.sorted && c.key === this.sortKey ? { sort: this.sortDir } : {}) },
      class: `col-${c.kind}`, title: `${c.key} (click to sort)`, scope: "col", onclick: () => this.sortBy(c.key),
    }, c.kind === "param" || c.kind === "metadata" ? h("span", { class: "col-group" }, c.kind === "param" ? "param " : "meta ") : null,
    c.label)));
    const body = h("tbody", {}, shown.map((t) => h("tr", { dataset: { number: String(t.number) } },
      this.cols.map((c) => {
        const v = c.get(t);
        if (c.key === "state") return h("td", {}, h("span", { class: `badge state-${t.state}` }, t.state));
        return h("td", { class: `col-${c.kind}`, title: c.kind === "time" && v ? v : null }, cellText(c, v));
      }))));
    clear(this.table).append(h("thead", {}, head), body);
    this.info.textContent = rows.length ? `${fmt.count(first + 1)}–${fmt.count(first + shown.length)} of ${fmt.count(rows.length)}`
      : "0 of 0";
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }

  download(kind) {
    const rows = this.rows();
    let text;
    let type;
    if (kind === "csv") {
      const lines = [this.cols.map((c) => csvCell(c.key)).join(",")];
      for (const t of rows) lines.push(this.cols.map((c) => csvCell(c.get(t))).join(","));
      text = lines.join("\r\n") + "\r\n";
      type = "text/csv";
    } else {
      text = JSON.stringify(rows.map((t) => Object.fromEntries(this.cols.map((c) => [c.key, c.get(t)]))), null, 1);
      type = "application/json";
    }
    const blobUrl = URL.createObjectURL(new Blob([text], { type }));
    const link = h("a", { href: blobUrl, download: `${this.studyName}-trials.${kind}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
  }
}
