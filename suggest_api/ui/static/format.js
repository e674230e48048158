// Numbers and times as people read them; the raw values stay in the data (CSV/JSON downloads).

export function number(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-3)) return Number(value.toPrecision(4)).toExponential();
  return String(Number(value.toPrecision(6)));
}

export function count(n) {
  return n.toLocaleString("en-US");
}

const pad = (n) => String(n).padStart(2, "0");

/** An RFC 3339 time as local "YYYY-MM-DD HH:MM:SS". */
export function time(text) {
  if (!text) return "—";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return String(text);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3 min ago"-style age of an RFC 3339 time. */
export function relative(text, now = Date.now()) {
  if (!text) return "—";
  const then = Date.parse(text);
  if (Number.isNaN(then)) return String(text);
  const s = Math.round((now - then) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 60) return `${Math.floor(s / 86400)} d ago`;
  return time(text).slice(0, 10);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${number(Math.round(seconds * 10) / 10)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
