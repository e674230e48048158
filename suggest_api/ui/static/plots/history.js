// Objective value by trial number for every completed trial, and the best-so-far step line.
import { number } from "../format.js";
import { better, completedWith, valueOf } from "../model.js";
import { COLORS, esc, grid, render, message, tooltip, valueAxis } from "./common.js";

/** ctx: {study, trials (by number), metric, goal, log}. Returns whether a log axis is possible. */
export function positive(study, trials, metric) {
  const done = completedWith(study, trials, metric);
  return done.length > 0 && done.every((t) => valueOf(study, t, metric) > 0);
}

export function draw(el, { study, trials, metric, goal, log }) {
  const done = completedWith(study, trials, metric);
  if (done.length === 0) return message(el, "No completed trial yet: the history appears with the first result.");
  const points = done.map((t) => [t.number, valueOf(study, t, metric)]);
  const order = better(goal);
  const steps = [];
  let best = null;
  for (const t of done) {
    if (t.feasible === false) continue;
    const v = valueOf(study, t, metric);
    if (best === null || order(v, best) < 0) best = v;
    steps.push([t.number, best]);
  }
  const last = trials.length ? trials[trials.length - 1].number : 0;
  if (steps.length) steps.push([last, steps[steps.length - 1][1]]);
  const large = points.length > 2000;
  return render(el, {
    grid: grid({ right: 32 }),
    legend: { top: 0, right: 8, data: ["trial", "best so far"] },
    tooltip: tooltip((p) => `Trial #${p.value[0]}<br>${esc(metric)}: ${esc(number(p.value[1]))}`),
    xAxis: valueAxis("trial number", { min: 0, scale: false }),
    yAxis: valueAxis(`${metric} (${goal})`, log ? { type: "log", scale: false, nameGap: 52 } : { nameGap: 52 }),
    dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" }],
    series: [
      { name: "trial", type: "scatter", data: points, symbolSize: large ? 3 : 6, large, largeThreshold: 2000,
        itemStyle: { color: COLORS.primary, opacity: large ? 0.5 : 0.75 } },
      { name: "best so far", type: "line", step: "end", data: steps, showSymbol: false, silent: true,
        lineStyle: { color: COLORS.best, width: 2 }, itemStyle: { color: COLORS.best } },
    ],
  }, points.length);
}
