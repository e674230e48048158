// Two objectives against each other: every completed feasible trial in grey, the front (GET /pareto) on top,
// joined by a line sorted along x.
import { number } from "../format.js";
import { goalOf, valueOf } from "../model.js";
import { COLORS, esc, grid, message, render, tooltip, valueAxis } from "./common.js";

export function draw(el, { study, trials, front, x, y }) {
  if (x === y) return message(el, "Choose two different objectives.");
  const point = (t) => [valueOf(study, t, x), valueOf(study, t, y), t.number];
  const all = trials.filter((t) => t.state === "completed" && t.feasible !== false).map(point)
    .filter((p) => p[0] !== null && p[1] !== null);
  if (all.length === 0) return message(el, "No completed feasible trial yet.");
  const best = front.map(point).filter((p) => p[0] !== null && p[1] !== null).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const tip = (p) => `Trial #${p.value[2]}${p.seriesIndex === 1 ? " (front)" : ""}<br>${esc(x)}: ${esc(number(p.value[0]))}` +
    `<br>${esc(y)}: ${esc(number(p.value[1]))}`;
  const large = all.length > 2000;
  return render(el, {
    grid: grid({ left: 72, top: 36 }),
    legend: { top: 0, right: 8, data: ["trials", "Pareto front"] },
    tooltip: tooltip(tip),
    xAxis: valueAxis(`${x} (${goalOf(study, x)})`),
    yAxis: valueAxis(`${y} (${goalOf(study, y)})`, { nameGap: 56 }),
    series: [
      { name: "trials", type: "scatter", data: all, symbolSize: large ? 3 : 6, large, largeThreshold: 2000,
        itemStyle: { color: COLORS.muted, opacity: 0.6 } },
      { name: "Pareto front", type: "scatter", data: best, symbolSize: 9, z: 3,
        itemStyle: { color: COLORS.front, borderColor: "#7f1d1d", borderWidth: 1 } },
      { name: "Pareto front", type: "line", data: best, showSymbol: false, silent: true, z: 2,
        lineStyle: { color: COLORS.front, width: 1.5 } },
    ],
  }, best.length);
}
