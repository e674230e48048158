// Horizontal bars per param from GET /importance: the forest's fANOVA share and the grey relational grade.
import { number } from "../format.js";
import { COLORS, esc, message, render } from "./common.js";

export const SERIES = ["forest (fANOVA)", "grey relational"];

export function draw(el, answer, reason) {
  if (!answer) return message(el, reason);
  const rows = [...answer.params].reverse(); // a category y axis runs bottom-up: the most important on top
  el.style.height = `${Math.max(240, 34 * rows.length + 96)}px`;
  const names = rows.map((p) => p.name);
  return render(el, {
    grid: { left: 16, right: 24, top: 40, bottom: 32, containLabel: true },
    legend: { top: 0, data: SERIES },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
      formatter: (items) => {
        const p = rows[items[0].dataIndex];
        return `${esc(p.name)}<br>${esc(SERIES[0])}: ${esc(number(p.forest))}` +
          `<br>${esc(SERIES[1])}: ${esc(number(p.grey_relational))}<br>active in ${esc(p.active_trials)} trials`;
      } },
    xAxis: { type: "value", min: 0, max: 1, splitLine: { lineStyle: { color: COLORS.grid } } },
    yAxis: { type: "category", data: names, axisLabel: { width: 180, overflow: "truncate" } },
    series: [
      { name: SERIES[0], type: "bar", data: rows.map((p) => p.forest), itemStyle: { color: COLORS.primary },
        barMaxWidth: 14, label: { show: rows.length <= 30, position: "right", fontSize: 10,
          formatter: (p) => number(Math.round(p.value * 1000) / 1000) } },
      { name: SERIES[1], type: "bar", data: rows.map((p) => p.grey_relational), itemStyle: { color: "#14b8a6" },
        barMaxWidth: 14 },
    ],
  }, rows.length);
}

/** The one-line caption under the bars. */
export function caption(answer) {
  if (!answer) return "";
  const parts = [`${answer.trials_used.toLocaleString("en-US")} completed trials used`];
  if (answer.forest && typeof answer.forest.explained_variance === "number") {
    parts.push(`the forest (${answer.forest.trees} trees) explains ${Math.round(answer.forest.explained_variance * 100)}% of the variance`);
  }
  parts.push("grey relational grades see monotone relations only");
  return parts.join(" · ");
}
