"""`suggest`: look at studies from a terminal, and export their trials for a notebook or a sheet.

    suggest studies                      # one line per study
    suggest show NAME                    # the study as JSON
    suggest best NAME                    # its best trial as JSON
    suggest trials NAME --format csv     # every trial; --state, --output FILE
    suggest trials NAME --format table   # one line per trial; a pruned one says where it stopped and why
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
from suggest_client.errors import SuggestError
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
    parser = argparse.ArgumentParser(prog="suggest", description="Inspect suggest_api studies and export trials.")
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
        rows.append((study.name, info["suggester"]["name"], study.goal, str(counts["total"]),
                     str(counts["completed"]), str(counts["running"]),
                     "-" if best is None else f"{best['value']:.6g} (#{best['number']})"))
    _print_table(rows)
    return 0


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
            write_table(trials, out)
        else:
            write_csv(trials, [p["name"] for p in study.info["space"]["params"]], out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _delete(client: Client, args: argparse.Namespace) -> int:
    if not args.yes:
        print(f"suggest: deleting {args.name!r} removes it and every trial for good; add --yes", file=sys.stderr)
        return 2
    client.delete_study(args.name)
    print(f"deleted {args.name}")
    return 0


def trial_json(trial: Trial) -> dict[str, Any]:
    """A trial as the service answers it (timestamps back to RFC 3339 text)."""
    return {"number": trial.number, "state": trial.state, "params": trial.params, "value": trial.value,
            "intermediate": trial.intermediate, "metadata": trial.metadata,
            "created_at": _iso(trial.created_at), "finished_at": _iso(trial.finished_at),
            "fail_reason": trial.fail_reason, "client_id": trial.client_id}


def write_csv(trials: Sequence[Trial], param_names: Sequence[str], out: IO[str]) -> None:
    """One row per trial: the fixed columns, `param.<name>` per parameter (empty when inactive),
    `metadata.<key>` per metadata key seen, in the order first seen."""
    metadata_keys: list[str] = []
    for trial in trials:
        metadata_keys += [key for key in trial.metadata if key not in metadata_keys]
    writer = csv.writer(out)
    writer.writerow([*TRIAL_COLUMNS, *(f"param.{n}" for n in param_names), *(f"metadata.{k}" for k in metadata_keys)])
    for trial in trials:
        fixed = {**trial_json(trial), **pruned_fields(trial)}
        writer.writerow([*(_cell(fixed[c]) for c in TRIAL_COLUMNS),
                         *(_cell(trial.params.get(n)) for n in param_names),
                         *(_cell(trial.metadata.get(k)) for k in metadata_keys)])


def pruned_fields(trial: Trial) -> dict[str, Any]:
    """Where a pruned trial stopped (its last reported step) and the reason of the report that said prune.

    Both None for a trial that is not pruned, so the columns only speak of early stops.
    """
    if trial.state != "pruned":
        return {"stopped_step": None, "prune_reason": None}
    return {"stopped_step": trial.last_step, "prune_reason": trial.prune_reason}


def write_table(trials: Sequence[Trial], out: IO[str]) -> None:
    """One line per trial to read in a terminal: a pruned trial says where it stopped and why."""
    rows = [("NUMBER", "STATE", "VALUE", "STEPS", "NOTE")]
    for trial in trials:
        rows.append((str(trial.number), trial.state, "-" if trial.value is None else f"{trial.value:.6g}",
                     str(len(trial.intermediate)), _note(trial)))
    _print_table(rows, out)


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
