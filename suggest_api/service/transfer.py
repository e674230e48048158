"""Study export and import: the whole study as one document (service.study_document) and back, losslessly.

An import is one transaction: it checks the whole document (definition, every trial against the space, the
objectives and the limits) before it writes anything, so a bad file leaves nothing behind. It is
idempotent by content: importing a document into a team that already has that study, with the same
definition and the same trials, answers the existing study and writes nothing; a study of that name with
anything else is a 409 naming what differs. Both compare the same rendering (`render`), so "the same" means
what an export of each would print.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits, Settings
from suggest_api.domain import Goal, Report, Study, Trial, TrialState
from suggest_api.errors import Conflict, ExportTooLarge, InvalidInput, InvalidSpace, QuotaExceeded
from suggest_api.names import check_metadata
from suggest_api.pruners.base import MAX_REASON
from suggest_api.service import lookup, studies
from suggest_api.service.accounts import team_principal
from suggest_api.service.outcomes import outcome
from suggest_api.service.study_document import FORMAT, VERSION, load, time_text
from suggest_api.service.transactions import Transactions
from suggest_api.space import SearchSpace
from suggest_api.storage import accounts
from suggest_api.storage import studies as stored_studies
from suggest_api.storage.archive import (
    Archive,
    ArchivedTrial,
    StoredQueued,
    StoredReport,
    StoredRung,
    read_archive,
    row_count,
    write_archive,
)
from suggest_api.storage.database import database_now, make_engine, make_sessions
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.studies import SpaceCache


@dataclass(frozen=True)
class Imported:
    study: Study
    created: bool  # False: the team had this very study already, and nothing was written


@contextmanager
def operator(settings: Settings, team_name: str) -> Iterator[tuple[Transactions, Principal]]:
    """The command line's way in (`suggest-api export`, `import`, `import-optuna`): straight to the database,
    migrated first, as the team's operator; no key and no HTTP limit in between."""
    engine = make_engine(settings.database_url, settings)
    try:
        upgrade(engine)
        transactions = Transactions(make_sessions(engine))
        yield transactions, team_principal(transactions, settings, team_name)
    finally:
        engine.dispose()


def import_as_operator(settings: Settings, team_name: str, document: Any, *, name: str | None = None
                       ) -> tuple[Principal, Imported]:
    """`import_study` in one transaction of its own, as the team's operator (see `operator`)."""
    with operator(settings, team_name) as (transactions, who):
        return who, transactions.write(lambda session: import_study(
            session, who, document, limits=settings.limits, spaces=SpaceCache(), name=name))


def export_study(session: Session, who: Principal, name: str, *, max_rows: int | None = None) -> dict[str, Any]:
    """The study as a document: definition, every trial with its reports and rung entries, and the queue.

    `max_rows` bounds what is read (an HTTP answer); past it, ExportTooLarge says how to export it instead."""
    ref = lookup.study_ref(session, who.team_id, name)
    if max_rows is not None and (rows := row_count(session, ref.id)) > max_rows:
        raise ExportTooLarge(f"study {name!r} holds {rows:,} trials, reports and queued params, above the {max_rows:,} "
                             "an export over HTTP answers (SUGGEST_MAX_EXPORT_ROWS); export it with `suggest-api "
                             "export` on the service's machine", extra={"rows": rows, "limit": max_rows})
    found = stored_studies.stored_definition(session, who.team_id, name)
    assert found is not None  # the study row was just read in this transaction
    return render(studies.with_current_defaults(found[1]), name=ref.name, created_at=ref.created_at,
                  suggested=ref.suggested, archive=read_archive(session, ref.id))


def import_study(session: Session, who: Principal, document: Any, *, limits: Limits, spaces: SpaceCache,
                 name: str | None = None) -> Imported:
    """Make the study a document describes in the caller's team (under `name`, if given)."""
    loaded = load(document, max_trials=limits.max_import_trials)
    given = loaded["study"]
    study_name = name if name is not None else given["name"]
    valid = _valid_definition(given, study_name, limits)
    heartbeat_timeout = float(given["heartbeat_timeout"])
    definition = valid.wanted | {"seed": given["seed"], "heartbeat_timeout": heartbeat_timeout,
                                 "metadata": given["metadata"]}
    now = database_now(session)
    archive = _archive(loaded, valid, limits, lease_end=now + timedelta(seconds=heartbeat_timeout),
                       study_created_at=given["created_at"])
    accounts.lock_team(session, who.team_id)
    incoming = render(definition, name=study_name, created_at=given["created_at"], suggested=given["suggested"],
                      archive=archive)
    existing = stored_studies.stored_definition(session, who.team_id, study_name)
    if existing is not None:
        current = export_study(session, who, study_name)
        if current != incoming:
            differ = _differences(current, incoming)
            raise Conflict(f"study {study_name!r} already exists with a different {', '.join(differ)}; import it under "
                           "another name (the `name` query parameter, or --name), or delete the existing study first",
                           extra={"differing_fields": differ})
        return Imported(stored_studies.read_by_id(session, existing[0], spaces), created=False)
    running = sum(1 for item in archive.trials if item.trial.state is TrialState.RUNNING)
    if running > who.quotas.max_running_trials:
        raise QuotaExceeded(f"the document holds {running} running trials, above the team's quota of "
                            f"{who.quotas.max_running_trials} running trials per study; finish or fail them first",
                            extra={"quota": "max_running_trials", "limit": who.quotas.max_running_trials})
    studies.check_study_quota(session, who)
    study_id = stored_studies.insert(session, team_id=who.team_id, created_by=who.key_id, name=study_name,
                                     definition=definition, created_at=given["created_at"])
    spaces.put(study_id, given["created_at"], valid.space)
    write_archive(session, study_id, archive, suggested=given["suggested"], imported_by=who.key_id)
    accounts.record(session, who.team_id, who.key_id, "study.imported", study_name, now)
    return Imported(stored_studies.read_by_id(session, study_id, spaces), created=True)


def render(definition: Mapping[str, Any], *, name: str, created_at: datetime, suggested: int,
           archive: Archive) -> dict[str, Any]:
    """The document for a study (`definition` by storage.studies.DEFINITION's names), keys in a fixed order."""
    study: dict[str, Any] = {"name": name, "space": definition["space"]}
    if definition["objectives"]:
        study["objectives"] = definition["objectives"]
    else:
        study["objective"] = {"name": definition["objective_name"], "goal": definition["goal"]}
    study |= {"constraints": definition["constraints"], "reference_point": definition["reference_point"],
              "suggester": definition["suggester"], "pruner": definition["pruner"], "seed": definition["seed"],
              "heartbeat_timeout": definition["heartbeat_timeout"], "metadata": definition["metadata"],
              "created_at": time_text(created_at), "suggested": suggested}
    return {"format": FORMAT, "version": VERSION, "study": study,
            "trials": [_trial_json(item) for item in archive.trials],
            "queue": [{"params": q.params, "metadata": q.metadata, "created_at": time_text(q.created_at)}
                      for q in archive.queue]}


def _trial_json(item: ArchivedTrial) -> dict[str, Any]:
    t = item.trial
    return {"number": t.number, "state": t.state.value, "params": t.params, "value": t.value, "values": t.values,
            "feasible": t.feasible, "created_at": time_text(t.created_at), "finished_at": time_text(t.finished_at),
            "heartbeat_at": time_text(t.heartbeat_at), "fail_reason": t.fail_reason, "client_id": t.client_id,
            "source": t.source, "metadata": t.metadata,
            "intermediate": [{"step": r.report.step, "value": r.report.value, "best": r.report.best,
                              "prune": r.report.prune, "reason": r.report.reason, "rung": r.report.rung,
                              "created_at": time_text(r.created_at)} for r in item.reports],
            "rungs": [{"rung": r.rung, "value": r.value, "created_at": time_text(r.created_at)} for r in item.rungs]}


def _valid_definition(given: Mapping[str, Any], name: str, limits: Limits) -> studies.ValidDefinition:
    definition = studies.definition_from(given, name)
    try:
        return studies.validate_definition(definition, limits)
    except InvalidSpace as error:  # its fields are paths inside the space
        raise _within(error, "study.space.") from None
    except InvalidInput as error:
        raise _within(error, "study.") from None


def _archive(loaded: Mapping[str, Any], valid: studies.ValidDefinition, limits: Limits, *, lease_end: datetime,
             study_created_at: datetime) -> Archive:
    goal = valid.objectives[0].goal
    trials = [_trial(index, item, valid, limits, goal, lease_end) for index, item in enumerate(loaded["trials"])]
    queue = []
    for index, item in enumerate(loaded["queue"]):
        check_metadata(f"queue[{index}].metadata", item["metadata"], limits)
        queue.append(StoredQueued(_params(valid.space, item["params"], f"queue[{index}].params"), item["metadata"],
                                  item["created_at"] or study_created_at))
    return Archive(trials, queue)


def _trial(index: int, item: Mapping[str, Any], valid: studies.ValidDefinition, limits: Limits, goal: Goal,
           lease_end: datetime) -> ArchivedTrial:
    where = f"trials[{index}]"
    if item["number"] != index:
        raise InvalidInput(f"{where}.number is {item['number']}; trials are numbered 0, 1, 2, ... in the document's "
                           f"order, so this one must be {index}", errors={f"{where}.number": [f"must be {index}"]})
    params = _params(valid.space, item["params"], f"{where}.params")
    check_metadata(f"{where}.metadata", item["metadata"], limits)
    state: TrialState = item["state"]
    if state is TrialState.RUNNING:
        if item["value"] is not None or item["values"] is not None or item["finished_at"] is not None:
            raise InvalidInput(f"{where} is running, so it has no result yet: drop value, values and finished_at, or "
                               "give its finished state", errors={f"{where}.state": ["running, yet it has a result"]})
        told = None
    else:
        try:
            told = outcome(valid.objectives, valid.constraints, value=item["value"], values=item["values"],
                           state=state)
        except InvalidInput as error:
            raise _within(error, f"{where}.") from None
    trial = Trial(number=index, state=state, params=params, created_at=item["created_at"],
                  finished_at=item["finished_at"], heartbeat_at=item["heartbeat_at"],
                  lease_expires_at=lease_end if told is None else None,
                  fail_reason=item["fail_reason"] if state is TrialState.FAILED else None,
                  client_id=item["client_id"], metadata=item["metadata"], source=item["source"])
    if told is not None:
        trial = replace(trial, value=told.value, values=told.values, feasible=told.feasible)
    default_time = item["finished_at"] or item["heartbeat_at"] or item["created_at"]
    return ArchivedTrial(trial, _reports(where, item["intermediate"], goal, limits, default_time),
                         _rungs(where, item["rungs"], default_time, limits))


def _reports(where: str, given: Sequence[Mapping[str, Any]], goal: Goal, limits: Limits,
             default_time: datetime) -> tuple[StoredReport, ...]:
    if len(given) > limits.max_reports:
        raise InvalidInput(f"{where} has {len(given):,} reports, more than a trial keeps (SUGGEST_MAX_REPORTS, "
                           f"{limits.max_reports:,})", errors={f"{where}.intermediate": ["too many reports"]})
    reports: list[StoredReport] = []
    best: float | None = None
    for index, item in enumerate(given):
        if reports and item["step"] <= reports[-1].report.step:
            raise InvalidInput(f"{where}.intermediate[{index}].step is {item['step']}, not after the step before it; "
                               "reports go by increasing step", errors={f"{where}.intermediate[{index}].step":
                                                                       ["must be above the previous report's step"]})
        if item["reason"] is not None and len(item["reason"]) > MAX_REASON:
            raise InvalidInput(f"{where}.intermediate[{index}].reason is over {MAX_REASON} characters",
                               errors={f"{where}.intermediate[{index}].reason": [f"at most {MAX_REASON} characters"]})
        value = item["value"]
        best = value if best is None else (min(best, value) if goal is Goal.MINIMIZE else max(best, value))
        reports.append(StoredReport(Report(step=item["step"], value=value,
                                           best=item["best"] if item["best"] is not None else best,
                                           prune=item["prune"], reason=item["reason"], rung=item["rung"]),
                                    item["created_at"] or default_time))
    return tuple(reports)


def _rungs(where: str, given: Sequence[Mapping[str, Any]], default_time: datetime, limits: Limits
           ) -> tuple[StoredRung, ...]:
    if len(given) > limits.max_reports:  # each rung entry comes from a report
        raise InvalidInput(f"{where} has {len(given):,} rung entries, more than its reports could make",
                           errors={f"{where}.rungs": [f"at most {limits.max_reports} entries"]})
    seen: set[int] = set()
    for index, item in enumerate(given):
        if item["rung"] in seen:
            raise InvalidInput(f"{where}.rungs[{index}]: rung {item['rung']} is listed twice",
                               errors={f"{where}.rungs[{index}].rung": ["duplicate"]})
        seen.add(item["rung"])
    return tuple(StoredRung(item["rung"], item["value"], item["created_at"] or default_time)
                 for item in sorted(given, key=lambda rung: int(rung["rung"])))


def _params(space: SearchSpace, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    try:
        return space.validate_params(params)
    except InvalidInput as error:
        raise type(error)(f"{where} do not fit the study's space: {error.detail}",
                          errors={f"{where}.{k}": v for k, v in (error.errors or {}).items()}) from None


def _within(error: InvalidInput, prefix: str) -> InvalidInput:
    """The same problem, its fields named from the document's root (`study.space...`, `trials[3].value`)."""
    return type(error)(f"{prefix.rstrip('.')}: {error.detail}",
                       errors={prefix + k if k else prefix.rstrip("."): v for k, v in (error.errors or {}).items()})


def _differences(current: Mapping[str, Any], incoming: Mapping[str, Any]) -> list[str]:
    """What a 409 names: the study's fields that differ, then `trials` (or `trials[n]`) and `queue`."""
    differ = [f"study.{key}" for key in incoming["study"] if current["study"].get(key) != incoming["study"][key]]
    differ += [f"study.{key}" for key in current["study"] if key not in incoming["study"]]
    mine, theirs = current["trials"], incoming["trials"]
    if len(mine) != len(theirs):
        differ.append(f"trials (the study has {len(mine)}, the document {len(theirs)})")
    else:
        changed = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b), None)
        if changed is not None:
            differ.append(f"trials[{changed}]")
    if current["queue"] != incoming["queue"]:
        differ.append("queue")
    return differ
