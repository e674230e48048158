"""`suggest`: look at studies from a terminal, and export their trials for a notebook or a sheet.

    suggest studies                      # one line per study
    suggest show NAME                    # the study as JSON
    suggest best NAME                    # its best trial as JSON
    suggest trials NAME --format csv     # every trial; --state, --output FILE
    suggest trials NAME --format table   # one line per trial; a pruned one says where it stopped and why
    suggest pareto NAME                  # a multi-objective study's Pareto front; --format csv, json
    suggest import-csv NAME FILE         # add the finished trials of such a CSV (FILE - : stdin)
    suggest export NAME > study.json     # the whole study as one JSON document (trials, reports, queue)
    suggest import study.json            # make that study here (--name NEW); the same file again adds nothing
    suggest delete NAME --yes

The service is $SUGGEST_URL (or --url), the token $SUGGEST_TOKEN (or --token).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from suggest_client.client import Client
from suggest_client.csv_import import import_csv
from suggest_client.errors import SuggestError
from suggest_client.study import ParetoFront, Study
from suggest_client.trial import Trial

TRIAL_COLUMNS = ("number", "state", "value", "created_at", "finished_at", "fail_reason", "stopped_step",
                 "prune_reason", "client_id")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    client = Client(args.url, args.token, timeout=args.timeout)
    try:
        return int(args.run(client, args) or 0)
    except SuggestError as error:
        print(f"suggest: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `suggest trials X | head`
        return 0
    finally:
        client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suggest", description="Inspect suggest_api studies, export and import them.")
    parser.add_argument("--url", help="the service (default: $SUGGEST_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--token", help="API token (default: $SUGGEST_TOKEN)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    studies = commands.add_parser("studies", help="list studies")
    studies.add_argument("--json", action="store_true", help="print the studies as JSON")
    studies.set_defaults(run=_studies)

    show = commands.add_parser("show", help="show a study as JSON")
    show.add_argument("name")
    show.set_defaults(run=_show)

    best = commands.add_parser("best", help="show a study's best trial as JSON")
    best.add_argument("name")
    best.set_defaults(run=_best)

    trials = commands.add_parser("trials", help="export a study's trials as CSV or JSON, or list them as a table")
    trials.add_argument("name")
    trials.add_argument("--format", choices=["csv", "json", "table"], default="csv",
                        help="csv (default), json (as the service answers), or table (to read)")
    trials.add_argument("--state", choices=["running", "completed", "failed", "pruned"])
    trials.add_argument("--output", "-o", help="write to this file instead of standard output")
    trials.set_defaults(run=_trials)

    pareto = commands.add_parser("pareto", help="list a multi-objective study's Pareto front as a table, CSV or JSON")
    pareto.add_argument("name")
    pareto.add_argument("--format", choices=["csv", "json", "table"], default="table",
                        help="table (default, to read), csv, or json (as the service answers)")
    pareto.add_argument("--output", "-o", help="write to this file instead of standard output")
    pareto.set_defaults(run=_pareto)

    import_csv = commands.add_parser("import-csv", help="import finished trials from a CSV in the format `trials` "
                                     "writes; a file imported again adds nothing")
    import_csv.add_argument("name")
    import_csv.add_argument("file", help="the CSV file, or - for standard input")
    import_csv.set_defaults(run=_import_csv)

    export = commands.add_parser("export", help="print a whole study as one JSON document")
    export.add_argument("name")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    export.set_defaults(run=_export)

    imported = commands.add_parser("import", help="make a study from a document `export` wrote (idempotent)")
    imported.add_argument("file", help="the document, or - for standard input")
    imported.add_argument("--name", help="import under this name instead of the document's own")
    imported.set_defaults(run=_import)

    delete = commands.add_parser("delete", help="delete a study and all its trials")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="required: deleting cannot be undone")
    delete.set_defaults(run=_delete)
    return parser


def _studies(client: Client, args: argparse.Namespace) -> int:
    studies = client.studies()
    if args.json:
        _print_json([study.info for study in studies])
        return 0
    rows = [("NAME", "SUGGESTER", "GOAL", "TRIALS", "COMPLETED", "RUNNING", "BEST")]
    for study in studies:
        info = study.info
        counts = info["trial_counts"]
        best = info.get("best_trial")
        goals = ",".join(o["goal"] for o in study.objectives)
        rows.append((study.name, info["suggester"]["name"], goals, str(counts["total"]),
                     str(counts["completed"]), str(counts["running"]), _best_cell(info, best)))
    _print_table(rows)
    return 0


def _best_cell(info: dict[str, Any], best: dict[str, Any] | None) -> str:
    """The best trial's value, or for a multi-objective study the size of its Pareto front."""
    front = info.get("pareto")
    if isinstance(front, dict):
        return f"front of {front.get('size', 0)}"
    return "-" if best is None else f"{best['value']:.6g} (#{best['number']})"


def _show(client: Client, args: argparse.Namespace) -> int:
    _print_json(client.study(args.name).info)
    return 0


def _best(client: Client, args: argparse.Namespace) -> int:
    best = client.study(args.name).best()
    if best is None:
        print(f"suggest: study {args.name!r} has no completed trial yet", file=sys.stderr)
        return 1
    _print_json(trial_json(best))
    return 0


def _trials(client: Client, args: argparse.Namespace) -> int:
    study = client.study(args.name)
    trials = study.trials(args.state)
    out: IO[str] = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump([trial_json(t) for t in trials], out, indent=2, ensure_ascii=False)
            out.write("\n")
        elif args.format == "table":
            write_table(trials, out, value_columns(study))
        else:
            write_csv(trials, [p["name"] for p in study.info["space"]["params"]], out, value_columns(study),
                      feasible=bool(study.constraints))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _pareto(client: Client, args: argparse.Namespace) -> int:
    study = client.study(args.name)
    front = study.pareto()
    out: IO[str] = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump(pareto_json(front), out, indent=2, ensure_ascii=False)
            out.write("\n")
        elif args.format == "table":
            write_pareto_table(study, front, out)
        else:
            write_csv(front, [p["name"] for p in study.info["space"]["params"]], out, value_columns(study),
                      feasible=bool(study.constraints))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _export(client: Client, args: argparse.Namespace) -> int:
    document = client.export_study(args.name)
    out: IO[str] = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        json.dump(document, out, ensure_ascii=False, indent=1)
        out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _import(client: Client, args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as source:
                text = source.read()
        document = json.loads(text, parse_constant=_refuse_constant)
    except (OSError, ValueError) as error:
        print(f"suggest: {args.file} is not a study document: {error}", file=sys.stderr)
        return 1
    before = document.get("trials") if isinstance(document, dict) else None
    study = client.import_study(document, name=args.name)
    print(f"study {study.name!r}: {study.info['trial_counts']['total']} trials"
          + ("" if before is None else f" (the document holds {len(before)})"), file=sys.stderr)
    return 0


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a study document may hold")


def _import_csv(client: Client, args: argparse.Namespace) -> int:
    study = client.study(args.name)
    try:
        result = import_csv(study, sys.stdin.buffer if args.file == "-" else args.file)
    except OSError as error:
        print(f"suggest: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(result.summary(study.name))
    return 0


def _delete(client: Client, args: argparse.Namespace) -> int:
    if not args.yes:
        print(f"suggest: deleting {args.name!r} removes it and every trial for good; add --yes", file=sys.stderr)
        return 2
    client.delete_study(args.name)
    print(f"deleted {args.name}")
    return 0


def value_columns(study: Study) -> list[str]:
    """The metrics a study's trials are told as `values` (objectives, then constraints); none for a
    study with one objective and no constraints, whose trials have just `value`."""
    return study.metric_names if study.multi_objective or study.constraints else []


def trial_json(trial: Trial) -> dict[str, Any]:
    """A trial as the service answers it (timestamps back to RFC 3339 text)."""
    return {"number": trial.number, "state": trial.state, "params": trial.params, "value": trial.value,
            "values": trial.values, "feasible": trial.feasible, "intermediate": trial.intermediate,
            "metadata": trial.metadata,
            "created_at": _iso(trial.created_at), "finished_at": _iso(trial.finished_at),
            "fail_reason": trial.fail_reason, "client_id": trial.client_id}


def pareto_json(front: ParetoFront) -> dict[str, Any]:
    """The front as the service answers it, every page in one."""
    return {"trials": [trial_json(t) for t in front], "size": front.size, "hypervolume": front.hypervolume,
            "reference_point": front.reference_point, "reference_point_derived": front.reference_point_derived}


def write_csv(trials: Sequence[Trial], param_names: Sequence[str], out: IO[str],
              metrics: Sequence[str] = (), *, feasible: bool = False) -> None:
    """One row per trial: the fixed columns, then (for a study told `values`) `feasible` when it has
    constraints and `value.<metric>` per objective and constraint metric, `param.<name>` per parameter
    (empty when inactive), `metadata.<key>` per metadata key seen, in the order first seen."""
    metadata_keys: list[str] = []
    for trial in trials:
        metadata_keys += [key for key in trial.metadata if key not in metadata_keys]
    writer = csv.writer(out)
    writer.writerow([*TRIAL_COLUMNS, *(["feasible"] if feasible else []), *(f"value.{m}" for m in metrics),
                     *(f"param.{n}" for n in param_names), *(f"metadata.{k}" for k in metadata_keys)])
    for trial in trials:
        fixed = {**trial_json(trial), **pruned_fields(trial)}
        writer.writerow([*(_cell(fixed[c]) for c in TRIAL_COLUMNS), *([_cell(trial.feasible)] if feasible else []),
                         *(_cell((trial.values or {}).get(m)) for m in metrics),
                         *(_cell(trial.params.get(n)) for n in param_names),
                         *(_cell(trial.metadata.get(k)) for k in metadata_keys)])


def pruned_fields(trial: Trial) -> dict[str, Any]:
    """Where a pruned trial stopped (its last reported step) and the reason of the report that said prune.

    Both None for a trial that is not pruned, so the columns only speak of early stops.
    """
    if trial.state != "pruned":
        return {"stopped_step": None, "prune_reason": None}
    return {"stopped_step": trial.last_step, "prune_reason": trial.prune_reason}


def write_table(trials: Sequence[Trial], out: IO[str], metrics: Sequence[str] = ()) -> None:
    """One line per trial to read in a terminal: a pruned trial says where it stopped and why.

    With `metrics` (a study told `values`), a column per metric replaces VALUE, then FEASIBLE."""
    header = ("NUMBER", "STATE", *(metrics or ["VALUE"]), *(["FEASIBLE"] if metrics else []), "STEPS", "NOTE")
    rows: list[tuple[str, ...]] = [header]
    for trial in trials:
        if metrics:
            results = (*(_number((trial.values or {}).get(m)) for m in metrics), _yes_no(trial.feasible))
        else:
            results = (_number(trial.value),)
        rows.append((str(trial.number), trial.state, *results, str(len(trial.intermediate)), _note(trial)))
    _print_table(rows, out)


def write_pareto_table(study: Study, front: ParetoFront, out: IO[str]) -> None:
    """The front, one line per trial with each objective (its goal in the header) and the params,
    then a line with its size and hypervolume."""
    objectives = study.objectives
    header = ("NUMBER", *(f"{o['name']} ({o['goal'][:3]})" for o in objectives), "PARAMS")
    rows: list[tuple[str, ...]] = [header]
    for trial in front:
        params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        rows.append((str(trial.number), *(_number((trial.values or {}).get(o["name"])) for o in objectives), params))
    if len(rows) > 1:
        _print_table(rows, out)
    print(pareto_line(front), file=out)


def pareto_line(front: ParetoFront) -> str:
    """E.g. "Pareto front: 4 trials, hypervolume 0.8125 (reference point [0, 1e+06], derived)"."""
    if front.size == 0:
        return "Pareto front: no completed feasible trial yet"
    volume = "hypervolume -" if front.hypervolume is None else f"hypervolume {front.hypervolume:.6g}"
    point = "" if front.reference_point is None else \
        f" (reference point [{', '.join(f'{x:.6g}' for x in front.reference_point)}]" \
        f"{', derived' if front.reference_point_derived else ''})"
    return f"Pareto front: {front.size} trial{'s' if front.size != 1 else ''}, {volume}{point}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _yes_no(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _note(trial: Trial) -> str:
    if trial.state == "failed":
        return trial.fail_reason or ""
    if trial.state != "pruned":
        return ""
    fields = pruned_fields(trial)
    where = "before any report" if fields["stopped_step"] is None else f"at step {fields['stopped_step']}"
    return f"stopped {where}: {fields['prune_reason']}" if fields["prune_reason"] else f"stopped {where}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _print_table(rows: Sequence[Sequence[str]], out: IO[str] | None = None) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), file=out or sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
