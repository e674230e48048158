// The studies list: search by name as you type, one row per study, live counts.
import { h, clear } from "../dom.js";
import * as fmt from "../format.js";
import { isMulti, objectives } from "../model.js";

const HEADERS = ["Study", "Objective", "Suggester", "Running", "Completed", "Pruned", "Failed", "Best", "Last activity"];

export function open(view, studies) {
  const search = h("input", { id: "study-search", type: "search", placeholder: "Filter by name…",
    autocomplete: "off", spellcheck: "false", "aria-label": "Filter studies by name" });
  const countLine = h("span", { id: "studies-count", class: "muted" });
  const body = h("tbody");
  const table = h("table", { id: "studies-table", class: "data" },
    h("thead", {}, h("tr", {}, HEADERS.map((text) => h("th", { scope: "col" }, text)))), body);
  const empty = h("p", { class: "plot-message", hidden: true });
  view.append(h("section", { id: "studies-page", class: "card" },
    h("div", { class: "page-head" }, h("h1", {}, "Studies"), h("span", { class: "spacer" }), search),
    countLine,
    h("div", { class: "table-scroll" }, table), empty));

  let current = studies;
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = current.filter((s) => s.name.toLowerCase().includes(needle));
    clear(body).append(...shown.map(row));
    countLine.textContent = `${fmt.count(shown.length)} of ${fmt.count(current.length)} ${current.length === 1 ? "study" : "studies"}`;
    empty.hidden = shown.length > 0;
    empty.textContent = current.length === 0
      ? "No study yet: create one with POST /v1/studies (see the API docs at /docs)."
      : "No study matches the filter.";
  };
  search.addEventListener("input", draw);
  draw();
  return {
    update(next) { current = next; draw(); },
    dispose() {},
  };
}

function row(study) {
  const counts = study.trial_counts || {};
  const link = h("a", { href: `#/studies/${encodeURIComponent(study.name)}` }, study.name);
  const goals = objectives(study).map((o) => `${o.name} ${o.goal === "maximize" ? "↑" : "↓"}`).join(", ");
  let best = "—";
  let bestTitle = null;
  if (isMulti(study)) {
    if (study.pareto) {
      best = `front of ${fmt.count(study.pareto.size)}`;
      bestTitle = typeof study.pareto.hypervolume === "number" ? `hypervolume ${fmt.number(study.pareto.hypervolume)}` : null;
    }
  } else if (study.best_trial) {
    best = fmt.number(study.best_trial.value);
    bestTitle = `trial #${study.best_trial.number}`;
  }
  const activity = study.last_activity_at ?? null;
  return h("tr", { dataset: { study: study.name } },
    h("td", { class: "name" }, link),
    h("td", { title: objectives(study).map((o) => `${o.name}: ${o.goal}`).join(", ") }, goals),
    h("td", {}, study.suggester ? study.suggester.name : "—"),
    ["running", "completed", "pruned", "failed"].map((state) =>
      h("td", { class: "num" }, fmt.count(counts[state] ?? 0))),
    h("td", { class: "num", title: bestTitle }, best),
    h("td", { title: activity ? fmt.time(activity) + " (" + activity + ")" : "no trial yet" }, fmt.relative(activity)));
}
