// The objective over two params as a filled heatmap, interpolated on a GRIDxGRID grid, with the trials on top.
//
// Interpolation is our own small inverse-distance weighting (Shepard): each cell centre takes the mean of
// the trials' values weighted by 1 / d^2, with d measured in the unit square (each param scaled to [0, 1],
// log params on their log scale, a categorical's choices as equal cells), so both axes count alike. It shows
// where good values were seen; it is not a model's prediction.
import { number } from "../format.js";
import { completedWith, fromUnit, isNumeric, unit, valueOf } from "../model.js";
import { SCALE, esc, grid, message, render, tooltip, valueAxis } from "./common.js";

export const GRID = 32;
export const MAX_POINTS = 10000; // the newest ones; beyond that the grid costs more than it shows

export function draw(el, { study, trials, metric, goal, x, y }) {
  if (study.space.params.length < 2) return message(el, "The contour needs a space of at least two params.");
  if (x.name === y.name) return message(el, "Choose two different params.");
  let done = completedWith(study, trials, metric)
    .filter((t) => t.params[x.name] !== undefined && t.params[y.name] !== undefined);
  if (done.length === 0) return message(el, `No completed trial has both ${x.name} and ${y.name} active yet.`);
  if (done.length > MAX_POINTS) done = done.slice(done.length - MAX_POINTS);
  const n = done.length;
  const us = new Float64Array(n);
  const vs = new Float64Array(n);
  const zs = new Float64Array(n);
  done.forEach((t, i) => {
    us[i] = unit(x, t.params[x.name]);
    vs[i] = unit(y, t.params[y.name]);
    zs[i] = valueOf(study, t, metric);
  });
  const cells = interpolate(us, vs, zs, GRID);
  const heat = [];
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < GRID; j++) {
    for (let i = 0; i < GRID; i++) {
      const z = cells[j * GRID + i];
      lo = Math.min(lo, z);
      hi = Math.max(hi, z);
      heat.push([fromUnit(x, (i + 0.5) / GRID), fromUnit(y, (j + 0.5) / GRID), z,
        fromUnit(x, i / GRID), fromUnit(x, (i + 1) / GRID), fromUnit(y, j / GRID), fromUnit(y, (j + 1) / GRID)]);
    }
  }
  const overlay = done.map((t, i) => [fromUnit(x, us[i]), fromUnit(y, vs[i]), zs[i], t.number]);
  const colours = goal === "maximize" ? [...SCALE].reverse() : SCALE;
  return render(el, {
    grid: grid({ right: 88, left: 72 }),
    tooltip: tooltip((p) => p.seriesIndex === 1
      ? `Trial #${p.value[3]}<br>${esc(metric)}: ${esc(number(p.value[2]))}`
      : `interpolated ${esc(metric)}: ${esc(number(p.value[2]))}`),
    xAxis: axis(x, 32),
    yAxis: axis(y, 56),
    visualMap: { type: "continuous", seriesIndex: 0, dimension: 2, min: lo, max: hi === lo ? lo + 1 : hi,
      inRange: { color: colours }, right: 4, top: "middle", itemHeight: 140, calculable: false,
      text: [number(hi), number(lo)], formatter: (v) => number(v), textStyle: { fontSize: 11 } },
    series: [
      { type: "custom", data: heat, encode: { x: 0, y: 1, tooltip: [2] }, renderItem: cell, silent: false,
        clip: true, z: 1 },
      { type: "scatter", data: overlay, symbolSize: n > 2000 ? 3 : 5, large: n > 2000, largeThreshold: 2000, z: 2,
        itemStyle: { color: "#ffffff", borderColor: "#111827", borderWidth: n > 2000 ? 0 : 1, opacity: 0.85 } },
    ],
  }, overlay.length);
}

function cell(_params, api) {
  const a = api.coord([api.value(3), api.value(5)]);
  const b = api.coord([api.value(4), api.value(6)]);
  return { type: "rect", shape: { x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]),
    width: Math.abs(b[0] - a[0]) + 0.6, height: Math.abs(b[1] - a[1]) + 0.6 },
  style: { fill: api.visual("color") } };
}

function axis(param, gap) {
  if (isNumeric(param)) {
    return valueAxis(param.name, { type: param.log ? "log" : "value", min: param.low, max: param.high,
      scale: false, nameGap: gap, axisLabel: { hideOverlap: true, formatter: (v) => number(v) } });
  }
  const k = param.choices.length;
  return valueAxis(param.name, { min: -0.5, max: k - 0.5, interval: 1, scale: false, nameGap: gap,
    splitLine: { show: false },
    axisLabel: { hideOverlap: true, formatter: (v) => (Number.isInteger(v) && v >= 0 && v < k ? String(param.choices[v]) : "") } });
}

/** Inverse-distance-weighted values (power 2) at the centres of a size x size grid over the unit square. */
export function interpolate(us, vs, zs, size) {
  const out = new Float64Array(size * size);
  const n = zs.length;
  for (let j = 0; j < size; j++) {
    const cy = (j + 0.5) / size;
    for (let i = 0; i < size; i++) {
      const cx = (i + 0.5) / size;
      let weights = 0;
      let sum = 0;
      let exact = NaN;
      for (let k = 0; k < n; k++) {
        const dx = us[k] - cx;
        const dy = vs[k] - cy;
        const d2 = dx * dx + dy * dy;
        if (d2 < 1e-18) { exact = zs[k]; break; }
        const w = 1 / d2;
        weights += w;
        sum += w * zs[k];
      }
      out[j * size + i] = Number.isNaN(exact) ? sum / weights : exact;
    }
  }
  return out;
}
