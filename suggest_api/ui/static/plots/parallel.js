// Parallel coordinates: one line per completed trial over every param and objective, coloured by the
// chosen objective. At most MAX_LINES lines (the best ones); an inactive conditional param is left out
// of its trial's line (the line joins its neighbours directly).
import { count, number } from "../format.js";
import { better, completedWith, objectives, valueOf } from "../model.js";
import { COLORS, SCALE, axisValue, esc, message, render } from "./common.js";

export const MAX_LINES = 1000;

export function draw(el, note, { study, trials, metric, goal }) {
  const done = completedWith(study, trials, metric);
  const params = study.space.params;
  if (done.length === 0) {
    note.hidden = true;
    return message(el, "No completed trial yet.");
  }
  const order = better(goal);
  let shown = done;
  if (done.length > MAX_LINES) {
    shown = [...done].sort((a, b) => order(valueOf(study, a, metric), valueOf(study, b, metric))).slice(0, MAX_LINES);
    note.hidden = false;
    note.textContent = `Showing the best ${count(MAX_LINES)} of ${count(done.length)} completed trials by ${metric}.`;
  } else {
    note.hidden = true;
    note.textContent = "";
  }
  const metrics = objectives(study).map((o) => o.name);
  const axes = params.map((p, i) => paramAxisOf(p, i));
  metrics.forEach((m, j) => axes.push({ dim: params.length + j, name: m, type: "value", scale: true,
    nameTextStyle: { fontWeight: 600 }, axisLabel: { formatter: (v) => number(v) } }));
  const colourDim = params.length + metrics.indexOf(metric);
  const data = shown.map((t) => ({
    name: String(t.number),
    value: [...params.map((p) => axisValue(p, t.params[p.name])), ...metrics.map((m) => valueOf(study, t, m))],
  }));
  const values = shown.map((t) => valueOf(study, t, metric));
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const colours = goal === "maximize" ? [...SCALE].reverse() : SCALE;
  return render(el, {
    parallel: { left: 56, right: 130, top: 48, bottom: 32,
      parallelAxisDefault: { nameLocation: "end", nameGap: 14, nameTextStyle: { color: COLORS.text },
        axisLabel: { hideOverlap: true } } },
    parallelAxis: axes,
    visualMap: { type: "continuous", dimension: colourDim, min: lo, max: hi === lo ? lo + 1 : hi,
      inRange: { color: colours }, right: 8, top: "middle", itemHeight: 160, calculable: true,
      text: [number(hi), number(lo)], formatter: (v) => number(v), textStyle: { fontSize: 11 } },
    tooltip: { trigger: "item", confine: true,
      formatter: (p) => `Trial #${esc(p.name)}<br>${esc(metric)}: ${esc(number(p.value[colourDim]))}` },
    series: [{ type: "parallel", data, smooth: false, progressive: 500, progressiveThreshold: 500,
      lineStyle: { width: 1, opacity: shown.length > 300 ? 0.35 : 0.6 },
      emphasis: { lineStyle: { width: 2.5, opacity: 1 } } }],
  }, shown.length);
}

function paramAxisOf(param, dim) {
  if (param.type === "categorical") return { dim, name: param.name, type: "category", data: param.choices.map(String) };
  return { dim, name: param.name, type: param.log ? "log" : "value", min: param.low, max: param.high,
    axisLabel: { formatter: (v) => number(v) } };
}
