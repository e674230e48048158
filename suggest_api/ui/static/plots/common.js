// Shared by the plot modules: one ECharts instance per container, drawn with notMerge, counted in
// data-points, and a promise that resolves once ECharts says the frame (progressive chunks too) is done.

import { number } from "../format.js";

export const COLORS = {
  primary: "#2563eb",
  best: "#ea580c",
  pruned: "#d97706",
  muted: "#94a3b8",
  front: "#dc2626",
  text: "#1f2937",
  grid: "#e5e7eb",
};
// Good → bad, for colouring by objective.
export const SCALE = ["#1e3a8a", "#2563eb", "#38bdf8", "#a7f3d0", "#fde68a", "#f97316"];
const DRAW_TIMEOUT_MS = 3000;

export const esc = (text) => window.echarts.format.encodeHTML(String(text));

/** Draws `option` into `el` (shown again if it was hidden) and records `points`; resolves when drawn. */
export function render(el, option, points) {
  el.hidden = false;
  const message = el.previousElementSibling;
  if (message && message.classList.contains("plot-message")) message.remove();
  let chart = window.echarts.getInstanceByDom(el);
  if (!chart) chart = window.echarts.init(el, null, { renderer: "canvas" });
  else chart.resize();
  const done = new Promise((resolve) => {
    const timer = setTimeout(resolve, DRAW_TIMEOUT_MS);
    chart.on("finished", function finished() {
      chart.off("finished", finished);
      clearTimeout(timer);
      resolve();
    });
  });
  chart.setOption({ animation: false, textStyle: { fontFamily: "inherit" }, ...option }, { notMerge: true });
  el.dataset.points = String(points);
  return done;
}

/** Hides the chart and shows `text` instead (data-points 0). */
export function message(el, text) {
  const chart = window.echarts.getInstanceByDom(el);
  if (chart) chart.clear();
  el.hidden = true;
  el.dataset.points = "0";
  let note = el.previousElementSibling;
  if (!note || !note.classList.contains("plot-message")) {
    note = document.createElement("p");
    note.className = "plot-message";
    el.before(note);
  }
  note.textContent = text;
  return Promise.resolve();
}

export function dispose(root) {
  for (const el of root.querySelectorAll(".chart")) {
    const chart = window.echarts.getInstanceByDom(el);
    if (chart) chart.dispose();
  }
}

export function resizeAll(root) {
  for (const el of root.querySelectorAll(".chart")) {
    const chart = window.echarts.getInstanceByDom(el);
    if (chart && !el.hidden) chart.resize();
  }
}

export function valueAxis(name, extra = {}) {
  return {
    type: "value", name, nameLocation: "middle", nameGap: 36, scale: true,
    nameTextStyle: { color: COLORS.text, fontWeight: 500 },
    splitLine: { lineStyle: { color: COLORS.grid } },
    axisLabel: { hideOverlap: true, formatter: (v) => number(v) },
    ...extra,
  };
}

/** An axis for a space param: log/value for numbers, category (choices as text) for categoricals. */
export function paramAxis(param, extra = {}) {
  if (param.type === "categorical") {
    return { type: "category", name: param.name, nameLocation: "middle", nameGap: 36,
      data: param.choices.map(String), axisLabel: { hideOverlap: true }, ...extra };
  }
  return valueAxis(param.name, param.log ? { type: "log", scale: false, min: param.low, max: param.high, ...extra }
    : { min: param.low, max: param.high, scale: false, ...extra });
}

/** A param's value as its axis takes it (categoricals by their choice's text). */
export function axisValue(param, value) {
  if (value === undefined || value === null) return null;
  return param.type === "categorical" ? String(value) : value;
}

export const grid = (extra = {}) => ({ left: 64, right: 24, top: 32, bottom: 52, containLabel: false, ...extra });

export const tooltip = (formatter, extra = {}) => ({
  trigger: "item", confine: true, formatter, appendToBody: false, ...extra,
});
