// Learning curves: one polyline per trial with reports (step → value), pruned ones in another colour with
// a marker on their last report. At most MAX_CURVES, the newest.
import { REPORT_WINDOW } from "../api.js";
import { number } from "../format.js";
import { COLORS, esc, grid, message, render, valueAxis } from "./common.js";

export const MAX_CURVES = 500;

export function draw(el, note, { trials }) {
  let reported = trials.filter((t) => t.intermediate && t.intermediate.length > 0);
  const total = reported.length;
  if (total === 0) {
    note.hidden = true;
    return message(el, "No trial has reported intermediate values (POST …/trials/{n}/report).");
  }
  if (total > MAX_CURVES) reported = reported.slice(total - MAX_CURVES);
  // Trials older than the newest REPORT_WINDOW were loaded without their reports (api.js).
  const windowed = trials.some((t) => t.intermediate === null);
  const among = windowed ? ` among the newest ${REPORT_WINDOW.toLocaleString("en-US")} trials` : "";
  note.hidden = total <= MAX_CURVES && !windowed;
  note.textContent = total > MAX_CURVES
    ? `Showing the newest ${MAX_CURVES} of ${total.toLocaleString("en-US")} curves${among}.`
    : windowed ? `Curves of the trials${among}.` : "";
  const line = (t) => {
    const coords = t.intermediate.map((r) => [r.step, r.value]);
    if (coords.length === 1) coords.push(coords[0]); // ECharts' lines need two points
    return { name: String(t.number), coords };
  };
  const pruned = reported.filter((t) => t.state === "pruned");
  const others = reported.filter((t) => t.state !== "pruned");
  const ends = pruned.map((t) => {
    const r = t.intermediate[t.intermediate.length - 1];
    return [r.step, r.value, t.number];
  });
  // A lines series does not widen the axes: give them the curves' extent.
  let maxStep = 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of reported) {
    for (const r of t.intermediate) {
      if (r.step > maxStep) maxStep = r.step;
      if (r.value < lo) lo = r.value;
      if (r.value > hi) hi = r.value;
    }
  }
  const pad = hi > lo ? (hi - lo) * 0.04 : Math.abs(hi) * 0.04 || 1;
  const tip = (p) => {
    if (p.seriesType === "scatter") return `Trial #${p.value[2]} (pruned)<br>step ${p.value[0]}: ${esc(number(p.value[1]))}`;
    return `Trial #${esc(p.name)}`;
  };
  return render(el, {
    grid: grid({ right: 24, top: 36, left: 72 }),
    legend: { top: 0, right: 8, data: ["trials", "pruned"] },
    tooltip: { trigger: "item", confine: true, formatter: tip },
    xAxis: valueAxis("step", { scale: false, min: 0, max: maxStep }),
    yAxis: valueAxis("reported value", { nameGap: 56, min: lo - pad, max: hi + pad,
      axisLabel: { hideOverlap: true, formatter: (v) => number(v) } }),
    dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" }],
    series: [
      { name: "trials", type: "lines", coordinateSystem: "cartesian2d", polyline: true,
        data: others.map(line), lineStyle: { color: COLORS.primary, width: 1, opacity: 0.45 },
        emphasis: { lineStyle: { width: 2.5, opacity: 1 } }, progressive: 200 },
      { name: "pruned", type: "lines", coordinateSystem: "cartesian2d", polyline: true,
        data: pruned.map(line), lineStyle: { color: COLORS.pruned, width: 1, opacity: 0.55 },
        emphasis: { lineStyle: { width: 2.5, opacity: 1 } }, progressive: 200 },
      { name: "pruned", type: "scatter", data: ends, symbol: "diamond", symbolSize: 7,
        itemStyle: { color: COLORS.pruned, borderColor: "#78350f", borderWidth: 0.5 } },
    ],
  }, reported.length);
}
