// One study: summary, the plots, the trials table, and live refresh (poll the study with its ETag; on a
// change fetch only the trials that can have changed, from the lowest running number on).
import * as api from "../api.js";
import { h, clear, labelled, select } from "../dom.js";
import * as fmt from "../format.js";
import * as model from "../model.js";
import { dispose } from "../plots/common.js";
import * as contour from "../plots/contour.js";
import * as curves from "../plots/curves.js";
import * as history from "../plots/history.js";
import * as importance from "../plots/importance.js";
import * as pareto from "../plots/pareto.js";
import * as parallel from "../plots/parallel.js";
import * as slice from "../plots/slice.js";
import { TrialsTable } from "../table.js";

/**
 * Loads the study and every trial, draws the page into `view` and starts polling. Resolves once every
 * chart is drawn. hooks: {pollMs, alive() (false once the route changed), refreshed(), pollFailed(error)}.
 */
export async function open(view, name, hooks) {
  const path = api.studyPath(name);
  const study = (await api.get(path)).body;
  // The front does not depend on the trials: fetch it beside them. Importance needs the trials (to know
  // whether it can answer), so it is fetched while the other charts draw.
  const front = model.isMulti(study) ? api.pareto(name) : Promise.resolve(null);
  const [trials, frontAnswer] = await Promise.all([api.trials(name, study.trial_counts.total), front]);
  const page = new StudyPage(view, name, study, trials, hooks);
  if (frontAnswer) page.front = frontAnswer.trials;
  const importanceLoaded = page.loadImportance();
  if (!hooks.alive()) return page;
  page.build();
  const drawn = page.drawAll(false);
  await importanceLoaded;
  if (!hooks.alive()) return page;
  await Promise.all([drawn, page.drawPlots(["importance"])]);
  page.schedule();
  return page;
}

class StudyPage {
  constructor(view, name, study, trials, hooks) {
    this.view = view;
    this.name = name;
    this.path = api.studyPath(name);
    this.hooks = hooks;
    this.disposed = false;
    this.byNumber = new Map();
    this.setStudy(study);
    this.merge(trials);
    const params = model.params(study);
    this.metric = model.objectives(study)[0].name;
    this.importanceMetric = this.metric;
    this.log = false;
    this.sliceParam = params[0].name;
    this.contourX = params[0].name;
    this.contourY = params.length > 1 ? params[1].name : params[0].name;
    const names = model.objectives(study).map((o) => o.name);
    this.paretoX = names[0];
    this.paretoY = names[1] ?? names[0];
    this.front = [];
    this.importance = null;
    this.importanceReason = "Loading…";
    this.importanceCompleted = -1;
  }

  setStudy(study) {
    this.study = study;
  }

  merge(trials) {
    for (const t of trials) this.byNumber.set(t.number, t);
    this.trials = [...this.byNumber.values()].sort((a, b) => a.number - b.number);
  }

  param(name) {
    return model.params(this.study).find((p) => p.name === name);
  }

  /** The front (multi-objective) and the importance answer, refetched only when the trials moved on. */
  async loadExtras() {
    const tasks = [];
    if (model.isMulti(this.study)) {
      tasks.push(api.pareto(this.name).then((answer) => { this.front = answer.trials; }));
    }
    const completed = this.study.trial_counts.completed;
    if (completed !== this.importanceCompleted) tasks.push(this.loadImportance());
    await Promise.all(tasks);
  }

  async loadImportance() {
    const metric = this.importanceMetric;
    this.importanceCompleted = this.study.trial_counts.completed;
    if (!model.importanceReady(this.study, this.trials, metric)) {
      this.importance = null;
      this.importanceReason = `Importance needs at least 2 completed trials with different values of ${metric}.`;
      return;
    }
    try {
      this.importance = await api.importance(this.name, metric);
    } catch (error) {
      if (error.status === 401) throw error;
      this.importance = null;
      this.importanceReason = `Importance is not available: ${error.message}`;
    }
  }

  build() {
    const study = this.study;
    const multi = model.isMulti(study);
    const params = model.params(study);
    const paramNames = params.map((p) => p.name);
    const metricNames = model.objectives(study).map((o) => o.name);
    const chart = (id, extra = "") => h("div", { id, class: `chart ${extra}`.trim(), dataset: { points: "0" } });

    this.summary = h("p", { id: "study-summary", class: "summary" });
    this.historyControls = h("div", { class: "controls" });
    if (multi) {
      this.historyControls.append(labelled("Objective", select("history-objective", metricNames, this.metric, (v) => {
        this.metric = v;
        this.drawPlots(["history", "parallel", "slice", "contour"]);
      })));
    }
    this.logSlot = h("span", { class: "log-slot" });
    this.historyControls.append(this.logSlot);
    this.parallelNote = h("p", { id: "parallel-note", class: "note", hidden: true });
    this.curvesNote = h("p", { id: "curves-note", class: "note", hidden: true });
    this.importanceCaption = h("p", { id: "importance-caption", class: "note" });
    this.plots = {
      history: chart("history-plot"),
      parallel: chart("parallel-plot", "tall"),
      slice: chart("slice-plot"),
      contour: chart("contour-plot"),
      importance: chart("importance-plot"),
      curves: chart("curves-plot"),
    };
    const sections = [
      section("history", "History", "Each completed trial's value by trial number, and the best so far.",
        this.historyControls, this.plots.history),
      section("parallel", "Parallel coordinates", "One line per completed trial, coloured by the objective.",
        null, this.parallelNote, this.plots.parallel),
      section("slice", "Slice", "The objective against one param; colour shows how recent the trial is.",
        h("div", { class: "controls" }, labelled("Param", select("slice-param", paramNames, this.sliceParam, (v) => {
          this.sliceParam = v;
          this.drawPlots(["slice"]);
        }))), this.plots.slice),
      section("contour", "Contour", "The objective interpolated over two params (inverse-distance weighting), trials on top.",
        params.length > 1 ? h("div", { class: "controls" },
          labelled("x", select("contour-x", paramNames, this.contourX, (v) => { this.contourX = v; this.drawPlots(["contour"]); })),
          labelled("y", select("contour-y", paramNames, this.contourY, (v) => { this.contourY = v; this.drawPlots(["contour"]); })))
          : null, this.plots.contour),
      section("importance", "Param importance", "How much each param explains of the objective.",
        multi ? h("div", { class: "controls" }, labelled("Objective", select("importance-objective",
          model.metricNames(study), this.importanceMetric, (v) => this.chooseImportance(v)))) : null,
        this.plots.importance, this.importanceCaption),
      section("curves", "Learning curves", "Intermediate values each trial reported, step by step.",
        null, this.curvesNote, this.plots.curves),
    ];
    if (multi) {
      this.plots.pareto = chart("pareto-plot");
      sections.push(section("pareto", "Pareto front", "Completed feasible trials on two objectives; the front highlighted.",
        h("div", { class: "controls" },
          labelled("x", select("pareto-x", metricNames, this.paretoX, (v) => { this.paretoX = v; this.drawPlots(["pareto"]); })),
          labelled("y", select("pareto-y", metricNames, this.paretoY, (v) => { this.paretoY = v; this.drawPlots(["pareto"]); }))),
        this.plots.pareto));
    }
    const tableSection = section("trials", "Trials", null, null);
    this.table = new TrialsTable(tableSection, this.name);
    sections.push(tableSection);
    this.definition = h("pre", { class: "definition" });
    clear(this.view).append(h("div", { id: "study-page" },
      h("div", { class: "page-head" }, h("a", { href: "#/", class: "back" }, "← Studies"),
        h("h1", { id: "study-name" }, this.name)),
      this.summary,
      h("details", { class: "definition-box" }, h("summary", {}, "Study definition"), this.definition),
      h("div", { class: "sections" }, sections)));
  }

  async chooseImportance(metric) {
    this.importanceMetric = metric;
    await this.loadImportance();
    if (!this.disposed) await this.drawPlots(["importance"]);
  }

  /** Draws every plot (importance too unless told not to), the summary and the table; resolves once drawn. */
  async drawAll(withImportance = true) {
    this.drawSummary();
    const names = ["history", "parallel", "slice", "contour", "curves"];
    if (withImportance) names.push("importance");
    if (this.plots.pareto) names.push("pareto");
    const drawn = this.drawPlots(names);
    this.table.update(this.study, this.trials);
    await drawn;
  }

  drawPlots(names) {
    const base = { study: this.study, trials: this.trials, metric: this.metric, goal: model.goalOf(this.study, this.metric) };
    const draws = {
      history: () => {
        const positive = history.positive(this.study, this.trials, this.metric);
        this.drawLogToggle(positive);
        return history.draw(this.plots.history, { ...base, log: positive && this.log });
      },
      parallel: () => parallel.draw(this.plots.parallel, this.parallelNote, base),
      slice: () => slice.draw(this.plots.slice, { ...base, param: this.param(this.sliceParam) }),
      contour: () => contour.draw(this.plots.contour, { ...base, x: this.param(this.contourX), y: this.param(this.contourY) }),
      importance: () => {
        this.importanceCaption.textContent = importance.caption(this.importance);
        return importance.draw(this.plots.importance, this.importance, this.importanceReason);
      },
      curves: () => curves.draw(this.plots.curves, this.curvesNote, base),
      pareto: () => pareto.draw(this.plots.pareto, { ...base, front: this.front, x: this.paretoX, y: this.paretoY }),
    };
    return Promise.all(names.map((n) => draws[n]()));
  }

  /** The log-axis checkbox exists only while every plotted value is > 0. */
  drawLogToggle(positive) {
    const existing = this.logSlot.querySelector("#history-log");
    if (!positive) {
      this.log = false;
      clear(this.logSlot);
      return;
    }
    if (existing) return;
    const box = h("input", { id: "history-log", type: "checkbox" });
    box.checked = this.log;
    box.addEventListener("change", () => { this.log = box.checked; this.drawPlots(["history"]); });
    this.logSlot.append(h("label", { class: "control check" }, box, h("span", {}, "log scale")));
  }

  drawSummary() {
    const s = this.study;
    const c = s.trial_counts;
    const parts = [`${fmt.count(c.total)} trials`, `${fmt.count(c.running)} running`, `${fmt.count(c.completed)} completed`,
      `${fmt.count(c.pruned)} pruned`, `${fmt.count(c.failed)} failed`];
    if (s.queued) parts.push(`${fmt.count(s.queued)} queued`);
    parts.push(`suggester ${s.suggester ? s.suggester.name : "—"}`, `pruner ${s.pruner ? s.pruner.name : "none"}`);
    if (model.isMulti(s)) {
      if (s.pareto) {
        parts.push(`front of ${fmt.count(s.pareto.size)}`);
        if (typeof s.pareto.hypervolume === "number") parts.push(`hypervolume ${fmt.number(s.pareto.hypervolume)}`);
      }
    } else if (s.best_trial) {
      parts.push(`best ${fmt.number(s.best_trial.value)} (trial #${s.best_trial.number})`);
    } else {
      parts.push("no best yet");
    }
    this.summary.textContent = parts.join(" · ");
    const definition = { objectives: model.objectives(s), constraints: s.constraints, space: s.space,
      suggester: s.suggester, pruner: s.pruner, seed: s.seed, heartbeat_timeout: s.heartbeat_timeout,
      created_at: s.created_at, metadata: s.metadata };
    this.definition.textContent = JSON.stringify(definition, null, 2);
  }

  schedule() {
    if (!this.disposed) this.timer = setTimeout(() => this.poll(), this.hooks.pollMs);
  }

  async poll() {
    try {
      const answer = await api.get(this.path);
      if (answer.changed && !this.disposed) await this.refresh(answer.body);
    } catch (error) {
      if (!this.disposed) this.hooks.pollFailed(error);
      if (error.status === 401 || error.status === 404) return; // the page is replaced: stop polling
    }
    this.schedule();
  }

  /** New data: fetch the trials that can have changed, merge, redraw; counts in data-refreshes. */
  async refresh(study) {
    const running = this.trials.filter((t) => t.state === "running").map((t) => t.number);
    const last = this.trials.length ? this.trials[this.trials.length - 1].number : -1;
    const from = running.length ? Math.min(...running) : last + 1;
    const fresh = await api.trials(this.name, study.trial_counts.total, from);
    if (this.disposed) return;
    this.setStudy(study);
    this.merge(fresh);
    await this.loadExtras();
    if (this.disposed) return;
    await this.drawAll();
    if (!this.disposed) this.hooks.refreshed();
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.timer);
    dispose(this.view);
  }
}

function section(id, title, help, controls, ...body) {
  return h("section", { id: `${id}-section`, class: `card plot-card ${id}` },
    h("div", { class: "section-head" },
      h("div", {}, h("h2", {}, title), help ? h("p", { class: "help" }, help) : null),
      controls),
    ...body);
}
