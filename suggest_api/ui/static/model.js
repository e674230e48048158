// What the pages derive from a study and its trials: metrics, values, param encodings.

export function objectives(study) {
  return study.objectives && study.objectives.length ? study.objectives : [study.objective];
}

export function isMulti(study) {
  return objectives(study).length > 1;
}

/** Objective then constraint metric names, as trial `values` keys them. */
export function metricNames(study) {
  return [...objectives(study).map((o) => o.name), ...(study.constraints || []).map((c) => c.name)];
}

export function goalOf(study, metric) {
  const found = objectives(study).find((o) => o.name === metric);
  return found ? found.goal : "minimize";
}

/** A trial's value for a metric, or null. */
export function valueOf(study, trial, metric) {
  const values = trial.values;
  if (values && typeof values[metric] === "number") return values[metric];
  if (!isMulti(study) && metric === objectives(study)[0].name && typeof trial.value === "number") {
    return trial.value;
  }
  return null;
}

export function params(study) {
  return study.space.params;
}

export function isNumeric(param) {
  return param.type === "float" || param.type === "int";
}

/** A param's value in [0, 1] (log scale respected; a categorical's choice as its cell centre), or null. */
export function unit(param, value) {
  if (value === undefined || value === null) return null;
  if (isNumeric(param)) {
    if (param.log) return (Math.log(value) - Math.log(param.low)) / (Math.log(param.high) - Math.log(param.low));
    return (value - param.low) / (param.high - param.low);
  }
  const index = choiceIndex(param, value);
  return index < 0 ? null : (index + 0.5) / param.choices.length;
}

/** The axis value for a unit position: numeric in the param's own scale, categorical as a choice index. */
export function fromUnit(param, u) {
  if (isNumeric(param)) {
    if (param.log) return Math.exp(Math.log(param.low) + u * (Math.log(param.high) - Math.log(param.low)));
    return param.low + u * (param.high - param.low);
  }
  return u * param.choices.length - 0.5;
}

export function choiceIndex(param, value) {
  return param.choices.findIndex((choice) => choice === value);
}

/** The completed trials with a finite value for `metric`, by number. */
export function completedWith(study, trials, metric) {
  return trials.filter((t) => t.state === "completed" && valueOf(study, t, metric) !== null);
}

/** Whether GET /importance would answer: at least 2 such trials, and not all equal (else it is a 409). */
export function importanceReady(study, trials, metric) {
  const values = completedWith(study, trials, metric).map((t) => valueOf(study, t, metric));
  return values.length >= 2 && values.some((v) => v !== values[0]);
}

/** Better-first comparison of two values under a goal. */
export function better(goal) {
  return goal === "maximize" ? (a, b) => b - a : (a, b) => a - b;
}
