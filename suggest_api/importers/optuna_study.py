"""An Optuna study, read from its RDB storage (SQLite or PostgreSQL), as the export document.

`suggest-api import-optuna --storage URL --study NAME` reads the study with Optuna itself
(`optuna.load_study`), converts it here (`document_from_optuna`, pure: no database of ours) and imports
the document with `service.transfer.import_study`, the same function `suggest-api import` uses, so the
checks, the bounds and idempotency are those of every import. optuna is an optional dependency (the
`optuna` extra): it is imported only inside the functions that need it.

The mapping (docs/integrations.md, "Importing an Optuna study"):
- distributions become the search space: FloatDistribution and IntDistribution keep low, high, log and
  step, CategoricalDistribution its choices; a distribution with low == high becomes a categorical with
  that one value. A parameter whose distribution differs between trials, a None choice, or a kind of
  distribution we have no counterpart for is refused.
- A parameter absent from some trials becomes conditional: `when` on a categorical parameter that is
  asked in every trial that asks it, and in more, and whose values say exactly when it is asked; the
  closest such parent wins. Failed trials do not count here (a trial that failed may have stopped before
  asking everything); each must fit the space inferred from the others, or is refused (or left out with
  `skip_incomplete_failed`).
- COMPLETE -> completed (value, or values by objective name), PRUNED -> pruned (its value, Optuna's last
  intermediate value, when finite), FAIL -> failed. RUNNING and WAITING trials are refused, or left out
  with `skip_unfinished`. Trials are renumbered 0..n-1 in Optuna's order; each keeps its Optuna number in
  `metadata.optuna_number`, beside its user attributes.
- Intermediate values become reports: `best` by the (first) objective's goal, `prune` null, except the
  last report of a pruned trial (`prune: true`, reason "pruned in Optuna"). Optuna keeps no time per
  intermediate value, so each report carries the trial's finish time. A NaN or infinite intermediate
  value (Optuna keeps them; the service takes finite values only) is left out of the reports and kept in
  `metadata.optuna_nonfinite_intermediate` ({"step": "nan" | "inf" | "-inf"}).
- datetime_start and datetime_complete (naive local time: read as this machine's) become created_at and
  finished_at, in UTC; the study's created_at is its first trial's start (Optuna keeps no study time).
- Directions become the objective's goal (names: study.metric_names, else "value" for one objective and
  "objective_0", ... for several); the study's user attributes its metadata. System attributes are not
  carried, except a failed trial's "fail_reason" (written by Optuna before 4.0).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suggest_api.config import Limits, Settings
from suggest_api.errors import InvalidInput, InvalidSpace, SuggestError
from suggest_api.names import check_name
from suggest_api.service.study_document import FORMAT, MAX_FAIL_REASON, VERSION, time_text
from suggest_api.space import SearchSpace
from suggest_api.space.params import value_key

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial


#: The metadata keys the import adds to a trial's user attributes.
NUMBER_KEY = "optuna_number"
NONFINITE_KEY = "optuna_nonfinite_intermediate"
PRUNED_REASON = "pruned in Optuna"
#: Optuna's finished states, by name, as ours.
STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}
UNFINISHED = ("RUNNING", "WAITING")
EXTRA = "pip install 'suggest-api[optuna]' (or pip install optuna)"


class OptunaRefused(InvalidInput):
    """Something in the Optuna study has no counterpart here: the message names it and says what to do."""


@dataclass(frozen=True, kw_only=True)
class Options:
    """What the document does not take from Optuna: the study's name here (None: Optuna's), its suggester and
    seed, and which trials may be left out rather than refused."""

    name: str | None = None
    suggester: str = "random"
    seed: int = 0
    heartbeat_timeout: float = 300.0
    skip_unfinished: bool = False
    skip_incomplete_failed: bool = False
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Conversion:
    """The document, and the Optuna trial numbers that were left out (what the command line tells)."""

    document: dict[str, Any]
    skipped_unfinished: tuple[int, ...] = ()
    skipped_failed: tuple[int, ...] = ()


# --- the conversion (pure: an Optuna study in memory -> the document) -------------------------------

def document_from_optuna(study: optuna.Study, options: Options | None = None) -> dict[str, Any]:
    """The export document of an Optuna study (OptunaRefused naming what cannot map)."""
    return convert(study, options).document


def convert(study: optuna.Study, options: Options | None = None) -> Conversion:
    options = options or Options()
    name = options.name if options.name is not None else study.study_name
    try:
        check_name("name", name, options.limits)
    except InvalidInput as exc:
        raise OptunaRefused(f"the study name {name!r} cannot be used here: {exc.detail}; give another with --name",
                            errors={"name": [exc.detail]}) from None
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    unfinished = tuple(t.number for t in trials if t.state.name in UNFINISHED)
    if unfinished and not options.skip_unfinished:
        raise OptunaRefused(f"Optuna {_trials_text(unfinished)} of study {study.study_name!r} "
                            f"{'is' if len(unfinished) == 1 else 'are'} still running or waiting; finish or fail "
                            "them and import again, or pass --skip-unfinished to leave them out",
                            errors={"optuna.trials": [f"unfinished: {_numbers_text(unfinished)}"]})
    finished = [t for t in trials if t.state.name in STATES]
    if not finished:
        raise OptunaRefused(f"Optuna study {study.study_name!r} has no finished trial, so there is nothing to "
                            "import and no search space to infer; run trials first",
                            errors={"optuna.trials": ["no completed, pruned or failed trial"]})
    objectives = _objectives(study)
    distributions = _distributions(finished)
    informative = [t for t in finished if t.state.name != "FAIL"] or finished
    space = _space(distributions, informative, options.limits)
    kept: list[tuple[FrozenTrial, dict[str, Any]]] = []
    skipped_failed: list[int] = []
    for trial in finished:
        problems = space.check_params(trial.params)
        if not problems:
            kept.append((trial, space.validate_params(trial.params)))
        elif trial.state.name == "FAIL" and options.skip_incomplete_failed:
            skipped_failed.append(trial.number)
        else:
            first = next(m for ms in problems.values() for m in ms)
            hint = ("it failed before asking every parameter, or asked others; pass --skip-incomplete-failed to "
                    "leave such failed trials out" if trial.state.name == "FAIL" else
                    "this is a bug of the import: please report it with the study")
            raise OptunaRefused(f"Optuna trial {trial.number} does not fit the search space inferred from the "
                                f"study's {'completed and pruned ' if informative is not finished else ''}trials: "
                                f"{first}; {hint}",
                                errors={f"optuna.trials[{trial.number}].params.{k}": v for k, v in problems.items()})
    goal = objectives[0]["goal"]
    documents = [_trial(i, trial, params, objectives, goal) for i, (trial, params) in enumerate(kept)]
    created_at = time_text(min(_utc(t.datetime_start) or _utc(t.datetime_complete) or datetime.max.replace(tzinfo=UTC)
                               for t, _ in kept))  # each has one (_trial checked)
    study_part: dict[str, Any] = {"name": name, "space": space.to_json()}
    if len(objectives) == 1:
        study_part["objective"] = objectives[0]
    else:
        study_part["objectives"] = objectives
    study_part |= {
        "constraints": None, "reference_point": None,
        "suggester": {"name": options.suggester, "options": {}}, "pruner": None,
        "seed": options.seed, "heartbeat_timeout": float(options.heartbeat_timeout),
        "metadata": _json_safe(dict(study.user_attrs), "the study's user attribute") or None,
        "created_at": created_at, "suggested": 0}
    document = {"format": FORMAT, "version": VERSION, "study": study_part, "trials": documents, "queue": []}
    return Conversion(document, unfinished if options.skip_unfinished else (), tuple(skipped_failed))


def _objectives(study: optuna.Study) -> list[dict[str, str]]:
    goals = []
    for index, direction in enumerate(study.directions):
        if direction.name not in ("MINIMIZE", "MAXIMIZE"):
            raise OptunaRefused(f"objective {index} of Optuna study {study.study_name!r} has no direction "
                                f"({direction.name}); create the study with direction='minimize' or 'maximize'",
                                errors={"optuna.directions": [f"{index}: not set"]})
        goals.append(direction.name.lower())
    names = list(study.metric_names or [])
    if not names:
        names = ["value"] if len(goals) == 1 else [f"objective_{i}" for i in range(len(goals))]
    return [{"name": name, "goal": goal} for name, goal in zip(names, goals, strict=True)]


def _distributions(trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Each parameter's one distribution, in order of first appearance; a parameter whose distribution
    changes between trials is refused, naming the first two trials that disagree."""
    found: dict[str, tuple[BaseDistribution, int]] = {}
    for trial in trials:
        for name, distribution in trial.distributions.items():
            if name not in found:
                found[name] = (distribution, trial.number)
            elif found[name][0] != distribution:
                first, number = found[name]
                raise OptunaRefused(
                    f"Optuna parameter {name!r} has {first} in trial {number} but {distribution} in trial "
                    f"{trial.number}; a search space here has one definition per parameter: import the trials "
                    "of each definition into a study of its own (e.g. copy them into new Optuna studies with "
                    "study.add_trials), or give the changed parameter another name in your program",
                    errors={f"optuna.params.{name}": ["its distribution changes between trials"]})
    return {name: distribution for name, (distribution, _) in found.items()}


def _param(name: str, distribution: BaseDistribution) -> dict[str, Any]:
    """A parameter of the space as JSON (checked by the space parser afterwards)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, FloatDistribution | IntDistribution):
        kind = "float" if isinstance(distribution, FloatDistribution) else "int"
        if distribution.low == distribution.high:  # one value: a categorical of it (the parser asks low < high)
            return {"name": name, "type": "categorical", "choices": [distribution.low]}
        param: dict[str, Any] = {"name": name, "type": kind, "low": distribution.low, "high": distribution.high}
        if distribution.log:
            param["log"] = True
        if distribution.step is not None and not (kind == "int" and distribution.step == 1):
            param["step"] = distribution.step
        return param
    if isinstance(distribution, CategoricalDistribution):
        if any(choice is None for choice in distribution.choices):
            raise OptunaRefused(
                f"Optuna parameter {name!r} has the choice None; choices here are strings, numbers or booleans: "
                "use a string such as 'none' in your program, and to import this study copy its trials into a "
                "new Optuna study with None replaced (optuna.trial.create_trial, study.add_trials)",
                errors={f"optuna.params.{name}.choices": ["None is not a choice here"]})
        return {"name": name, "type": "categorical", "choices": list(distribution.choices)}
    raise OptunaRefused(f"Optuna parameter {name!r} has a {type(distribution).__name__}, which has no counterpart "
                        "here (float, int and categorical parameters only)",
                        errors={f"optuna.params.{name}": [f"unsupported distribution {type(distribution).__name__}"]})


def _space(distributions: Mapping[str, BaseDistribution], trials: Sequence[FrozenTrial],
           limits: Limits) -> SearchSpace:
    """The parameters asked in the trials that count, conditional where they are not asked everywhere."""
    params = {name: _param(name, d) for name, d in distributions.items() if any(name in t.params for t in trials)}
    present = {name: frozenset(i for i, t in enumerate(trials) if name in t.params) for name in params}
    everywhere = frozenset(range(len(trials)))
    for name, param in params.items():
        if present[name] != everywhere:
            param["when"] = _condition(name, params, present, trials)
    try:
        return SearchSpace.from_json({"params": list(params.values())}, limits=limits)
    except InvalidSpace as exc:
        raise OptunaRefused(f"the Optuna study's parameters do not make a search space here: {exc.detail}",
                            errors=exc.errors) from None


def _condition(name: str, params: Mapping[str, dict[str, Any]], present: Mapping[str, frozenset[int]],
               trials: Sequence[FrozenTrial]) -> dict[str, list[Any]]:
    """`when` for a parameter asked in some trials: the closest categorical parent asked in every trial that
    asks it (and in others), whose values tell exactly when it is asked."""
    mine = present[name]
    candidates = []
    for parent, param in params.items():
        theirs = present[parent]
        if parent == name or param["type"] != "categorical" or not mine < theirs:
            continue
        taken = {value_key(trials[i].params[parent]) for i in mine}
        if all((i in mine) == (value_key(trials[i].params[parent]) in taken) for i in theirs):
            candidates.append((len(theirs), parent, [c for c in param["choices"] if value_key(c) in taken]))
    if candidates:
        _, parent, values = min(candidates, key=lambda c: c[0])  # min keeps the first of equals: space order
        return {parent: values}
    missing = [t.number for i, t in enumerate(trials) if i not in mine]
    raise OptunaRefused(
        f"Optuna parameter {name!r} is missing from {_trials_text(missing)} and no categorical parameter explains "
        "when it is asked: a conditional parameter here needs a categorical parent asked in every trial that asks "
        "it, whose value decides whether it is asked; ask it under such a parameter in your program (or always), "
        "and import the trials that fit (copied into a new Optuna study with study.add_trials)",
        errors={f"optuna.params.{name}": [f"missing in trials {_numbers_text(missing)}, unexplained"]})


def _trial(number: int, trial: FrozenTrial, params: dict[str, Any], objectives: Sequence[Mapping[str, str]],
           goal: str) -> dict[str, Any]:
    created = _utc(trial.datetime_start) or _utc(trial.datetime_complete)
    finished = _utc(trial.datetime_complete) or created
    created_text, finished_text = time_text(created), time_text(finished)
    if created_text is None or finished_text is None:
        raise OptunaRefused(f"Optuna trial {trial.number} has no start or completion time; the service keeps both",
                            errors={f"optuna.trials[{trial.number}]": ["no datetime_start or datetime_complete"]})
    state = STATES[trial.state.name]
    value, values = _result(trial, objectives)
    user = _json_safe(dict(trial.user_attrs), f"trial {trial.number}'s user attribute")
    for key in (NUMBER_KEY, NONFINITE_KEY):
        if key in user:
            raise OptunaRefused(f"Optuna trial {trial.number} has a user attribute {key!r}, the key the import keeps "
                                "Optuna's own data in; rename the attribute",
                                errors={f"optuna.trials[{trial.number}].user_attrs.{key}": ["reserved by the import"]})
    reports, nonfinite = _reports(trial, goal, finished_text)
    metadata = user | {NUMBER_KEY: trial.number} | ({NONFINITE_KEY: nonfinite} if nonfinite else {})
    reason = trial.system_attrs.get("fail_reason") if state == "failed" else None
    return {"number": number, "state": state, "params": params, "value": value, "values": values,
            "feasible": None, "created_at": created_text, "finished_at": finished_text, "heartbeat_at": None,
            "fail_reason": reason[:MAX_FAIL_REASON] if isinstance(reason, str) else None, "client_id": None,
            "source": "import", "metadata": metadata, "intermediate": reports, "rungs": []}


def _result(trial: FrozenTrial,
            objectives: Sequence[Mapping[str, str]]) -> tuple[float | None, dict[str, float] | None]:
    """(value, values) as the document holds them: value for one objective, values by name for several."""
    numbers = trial.values
    if trial.state.name == "FAIL" or numbers is None:
        if trial.state.name == "COMPLETE":
            raise OptunaRefused(f"Optuna trial {trial.number} is complete but has no value",
                                errors={f"optuna.trials[{trial.number}].values": ["missing"]})
        return None, None
    usable = len(numbers) == len(objectives) and all(math.isfinite(v) for v in numbers)
    if not usable:
        if trial.state.name == "PRUNED":  # its value is only a copy of its last report: none then
            return None, None
        shown = ", ".join(repr(v) for v in numbers)
        raise OptunaRefused(f"Optuna trial {trial.number} has values [{shown}] for {len(objectives)} objective(s); "
                            "the service keeps one finite value per objective (a run that diverged is a failed "
                            "trial): copy the study without it (study.add_trials) and import the copy",
                            errors={f"optuna.trials[{trial.number}].values": ["not one finite value per objective"]})
    if len(objectives) == 1:
        return float(numbers[0]), None
    return None, {o["name"]: float(v) for o, v in zip(objectives, numbers, strict=True)}


def _reports(trial: FrozenTrial, goal: str, at: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The intermediate values as reports (step order), and the non-finite ones by step."""
    reports: list[dict[str, Any]] = []
    nonfinite: dict[str, str] = {}
    best: float | None = None
    for step, raw in sorted(trial.intermediate_values.items()):
        value = float(raw)
        if not math.isfinite(value):
            nonfinite[str(step)] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            continue
        best = value if best is None else (min(best, value) if goal == "minimize" else max(best, value))
        reports.append({"step": int(step), "value": value, "best": best, "prune": None, "reason": None,
                        "rung": None, "created_at": at})
    if reports and trial.state.name == "PRUNED":
        reports[-1] |= {"prune": True, "reason": PRUNED_REASON}
    return reports, nonfinite


def _json_safe(value: Any, what: str, path: str = "") -> Any:
    """`value` when it is plain JSON with finite numbers (what the service stores); else OptunaRefused."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
    elif isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: _json_safe(v, what, f"{path}.{k}" if path else k) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        return [_json_safe(v, what, f"{path}[{i}]") for i, v in enumerate(value)]
    raise OptunaRefused(f"{what} {path!r} holds {value!r}, which is not plain JSON with finite numbers (what "
                        "metadata here holds); change or remove it", errors={path or "$": ["not JSON-safe"]})


def _utc(moment: datetime | None) -> datetime | None:
    """Optuna's naive local time (or an aware one) in UTC."""
    return moment.astimezone(UTC) if moment is not None else None


def _numbers_text(numbers: Sequence[int], shown: int = 10) -> str:
    text = ", ".join(str(n) for n in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def _trials_text(numbers: Sequence[int]) -> str:
    return f"trial{'s' if len(numbers) > 1 else ''} {_numbers_text(numbers)}"


# --- reading Optuna's storage ---------------------------------------------------------------------

@contextmanager
def opened_study(storage_url: str, study_name: str) -> Iterator[optuna.Study]:
    """The Optuna study, loaded by Optuna from its RDB storage; the storage's connections are closed after."""
    try:
        import optuna
    except ImportError:
        raise SuggestError(f"import-optuna needs optuna: {EXTRA}") from None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        url = make_url(storage_url)
    except SQLAlchemyError:
        raise OptunaRefused(f"--storage {storage_url!r} is not a database URL; give Optuna's storage URL, e.g. "
                            "sqlite:///optuna.db or postgresql+psycopg://user@host/db",
                            errors={"storage": ["not a URL"]}) from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        # Optuna would make an empty database there: say what is wrong instead
        raise OptunaRefused(f"no SQLite file at {url.database!r} (from --storage {shown}); check the path "
                            "(sqlite:///relative.db, sqlite:////absolute.db)", errors={"storage": ["no such file"]})
    try:  # skip_table_creation: a URL of the wrong database gets an error, not Optuna's empty tables
        storage = optuna.storages.RDBStorage(storage_url, skip_table_creation=True)
    except (SQLAlchemyError, ImportError, optuna.exceptions.OptunaError, RuntimeError, ValueError) as exc:
        hint = ""
        if isinstance(exc, optuna.exceptions.OptunaError):
            hint = "; is this an Optuna storage (it needs Optuna's tables)?"
        elif isinstance(exc, ImportError):
            hint = "; for PostgreSQL use postgresql+psycopg://... (psycopg 3, which the service has)"
        raise OptunaRefused(f"cannot open Optuna storage {shown}: {_one_line(exc)}{hint}",
                            errors={"storage": [type(exc).__name__]}) from None
    try:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            names = sorted(optuna.get_all_study_names(storage))
            held = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "") or "no study"
            raise OptunaRefused(f"Optuna storage {shown} has no study named {study_name!r}; it holds {held}",
                                errors={"study": ["no such study"]}) from None
        yield study
    finally:
        storage.engine.dispose()


def read_optuna_study(storage_url: str, study_name: str, options: Options | None = None) -> dict[str, Any]:
    """The export document of the Optuna study `study_name` in the storage at `storage_url`."""
    with opened_study(storage_url, study_name) as study:
        return document_from_optuna(study, options)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


# --- the command line: `suggest-api import-optuna` ------------------------------------------------

def add_parser(commands: Any) -> None:
    """The `import-optuna` subcommand of `suggest-api` (`commands`: its subparsers)."""
    parser = commands.add_parser(
        "import-optuna", help="import a study from Optuna's RDB storage (SQLite or PostgreSQL)",
        description="Read an Optuna study with Optuna and import it as a study here: distributions become the "
                    "search space, trials keep their params, states, values, intermediate values and user "
                    "attributes. What cannot map is refused with an error naming it, and nothing is imported. "
                    "Importing the same study again changes nothing.")
    parser.add_argument("--storage", required=True, metavar="URL",
                        help="Optuna's storage URL, e.g. sqlite:///optuna.db or postgresql+psycopg://user@host/db")
    parser.add_argument("--study", required=True, metavar="NAME", help="the Optuna study's name")
    parser.add_argument("--name", help="the study's name here (default: the Optuna study's)")
    parser.add_argument("--team", help="the team that owns the study (default: the team 'default')")
    parser.add_argument("--suggester", default="random", help="the suggester of the study here (default random)")
    parser.add_argument("--seed", type=int, default=0, help="the study's seed here (default 0)")
    parser.add_argument("--skip-unfinished", action="store_true",
                        help="leave RUNNING and WAITING trials out (default: refuse the import)")
    parser.add_argument("--skip-incomplete-failed", action="store_true",
                        help="leave out failed trials that do not fit the space inferred from the others (they "
                             "failed before asking every parameter); default: refuse the import")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the study as `suggest-api export` writes it, and import nothing")
    parser.add_argument("--database-url", help="SUGGEST_DATABASE_URL, default sqlite:///./suggest.db")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read, convert, import in one transaction; 0, or 1 with the reason on stderr."""
    options = Options(name=args.name, suggester=args.suggester, seed=args.seed,
                      heartbeat_timeout=settings.default_heartbeat_timeout, skip_unfinished=args.skip_unfinished,
                      skip_incomplete_failed=args.skip_incomplete_failed, limits=settings.limits)
    try:
        with opened_study(args.storage, args.study) as study:
            conversion = convert(study, options)
        if args.dry_run:
            print(json.dumps(conversion.document, indent=1, ensure_ascii=False))
            return 0
        created = _import(conversion.document, args.team, settings)
    except SuggestError as error:
        print(f"suggest-api: {error.detail}", file=sys.stderr)
        return 1
    _tell(conversion, created, args.study)
    return 0


def _import(document: Mapping[str, Any], team: str | None, settings: Settings) -> bool:
    """Import the document into the database as `team`; whether the study was new."""
    from suggest_api.accounts import DEFAULT_TEAM
    from suggest_api.service.transfer import import_as_operator

    return import_as_operator(settings, team or DEFAULT_TEAM, document)[1].created


def _tell(conversion: Conversion, created: bool, optuna_name: str) -> None:
    study = conversion.document["study"]
    trials = conversion.document["trials"]
    counts = {state: sum(1 for t in trials if t["state"] == state) for state in STATES.values()}
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if created:
        count = f"{len(trials)} trial{'s' if len(trials) != 1 else ''}"
        print(f"study {study['name']!r} imported from Optuna study {optuna_name!r}: {count} ({shown})")
    else:
        print(f"study {study['name']!r} was already imported from Optuna study {optuna_name!r} with the same "
              "content; nothing changed")
    if conversion.skipped_unfinished:
        print(f"left out {len(conversion.skipped_unfinished)} unfinished (running or waiting) Optuna "
              f"{_trials_text(conversion.skipped_unfinished)}", file=sys.stderr)
    if conversion.skipped_failed:
        print(f"left out {len(conversion.skipped_failed)} failed Optuna {_trials_text(conversion.skipped_failed)} "
              "that did not fit the search space", file=sys.stderr)
