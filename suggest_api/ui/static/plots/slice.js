// The objective against one param, over the completed trials where that param is active; colour = trial number.
import { number } from "../format.js";
import { completedWith, valueOf } from "../model.js";
import { COLORS, axisValue, esc, grid, message, paramAxis, render, tooltip, valueAxis } from "./common.js";

export function draw(el, { study, trials, metric, goal, param }) {
  const done = completedWith(study, trials, metric).filter((t) => t.params[param.name] !== undefined);
  if (done.length === 0) return message(el, `No completed trial has ${param.name} active yet.`);
  const data = done.map((t) => [axisValue(param, t.params[param.name]), valueOf(study, t, metric), t.number]);
  const large = data.length > 2000;
  const last = done[done.length - 1].number;
  return render(el, {
    grid: grid({ right: 80, left: 72 }),
    tooltip: tooltip((p) => `Trial #${p.value[2]}<br>${esc(param.name)}: ${esc(number(p.value[0]))}` +
      `<br>${esc(metric)}: ${esc(number(p.value[1]))}`),
    xAxis: paramAxis(param, { boundaryGap: param.type === "categorical" }),
    yAxis: valueAxis(`${metric} (${goal})`, { nameGap: 56 }),
    visualMap: { type: "continuous", dimension: 2, min: done[0].number, max: Math.max(last, done[0].number + 1),
      inRange: { color: ["#bfdbfe", COLORS.primary, "#1e3a8a"] }, right: 4, top: "middle", itemHeight: 120,
      text: ["newer", "older"], textStyle: { fontSize: 11 } },
    series: [{ type: "scatter", data, symbolSize: large ? 3 : 7, large, largeThreshold: 2000,
      itemStyle: { opacity: 0.8 } }],
  }, data.length);
}
