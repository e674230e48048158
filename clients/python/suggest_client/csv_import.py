"""Import finished trials from CSV, in the format `suggest trials --format csv` writes (or a sheet made by hand).

Columns the import reads (any order; a hand-made sheet needs only some):

- `param.<name>`: the study's parameters, converted to their types (int, float, a categorical choice matched
  by how the export writes it: `true`, `0.5`, `adam`). Empty where the parameter is inactive.
- `value`, or `value.<metric>` for a study told `values` (several objectives, or constraints): the results.
- `state`: completed, failed or pruned; empty means completed when there is a value. Running rows are
  skipped (counted in `CsvImport.running`): they have no result yet; export again once they finish.
- `metadata.<key>`: the trial's metadata; a cell that is JSON (a number, true/false, an object, a list)
  becomes that value, any other cell stays text. Empty cells add no key.
- `number`, `created_at`, `finished_at`, `fail_reason`, `stopped_step`, `prune_reason`, `client_id`,
  `feasible`: what the service sets anew for the imported trial; read only into the row's fingerprint.

Rows are numbered as a spreadsheet shows them: the header is row 1. Every row is checked before anything is
sent, so a bad cell is an error (BadCsv, naming row and column) with nothing imported.

Idempotent: each trial's metadata holds `imported_row`, the sha256 of its row's cells (or the row's own
`metadata.imported_row`, when the file is an export of imported trials); rows whose fingerprint the study
already holds are skipped, and each batch carries an Idempotency-Key derived from its content, so two runs of
the same import at once add its trials once too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, Union
from urllib.parse import quote

from suggest_client.errors import ProblemError, SuggestError
from suggest_client.trial import StudyLike, Trial

#: The most trials one request adds (the service's max_import).
MAX_BATCH = 1000
#: The most JSON one request carries: well under the service's default body limit (1 MiB).
MAX_BATCH_BYTES = 512 * 1024
#: The metadata key holding a trial's row fingerprint.
ROW_KEY = "imported_row"
STATES = ("completed", "failed", "pruned")
#: Columns of the export that the service sets anew for an imported trial.
IGNORED = ("number", "created_at", "finished_at", "fail_reason", "stopped_step", "prune_reason", "client_id",
           "feasible")
#: Problems listed in one BadCsv before the rest are only counted.
SHOWN_PROBLEMS = 20

Source = Union[str, "os.PathLike[str]", IO[str], IO[bytes]]
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_TRIAL_INDEX = re.compile(r"trials\[(\d+)\]")


class ImportTarget(StudyLike, Protocol):
    """What the import needs of a study; `suggest_client.Study` is the real one."""

    info: dict[str, Any]

    def trials(self, state: str | None = None) -> list[Trial]: ...


class BadCsv(SuggestError, ValueError):
    """A file the import refuses; `problems` are (row, column, what is wrong), row 1 being the header."""

    def __init__(self, problems: Sequence[tuple[int, str | None, str]]) -> None:
        self.problems = list(problems)
        lines = [_where(row, column) + text for row, column, text in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"... and {len(self.problems) - SHOWN_PROBLEMS} more problems")
        intro = "" if len(self.problems) == 1 else f"{len(self.problems)} problems, nothing imported:\n  "
        super().__init__(intro + "\n  ".join(lines) + ("" if len(self.problems) > 1 else "; nothing imported"))

    @property
    def row(self) -> int:
        return self.problems[0][0]

    @property
    def column(self) -> str | None:
        return self.problems[0][1]


@dataclass(frozen=True)
class Row:
    """One finished trial to import: `body` is what the service is sent for it."""

    row: int
    body: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        value: str = self.body["metadata"][ROW_KEY]
        return value


@dataclass
class CsvImport:
    """What an import did: the trials it added, and the rows it left out (already in the study, or running)."""

    imported: list[Trial] = field(default_factory=list)
    already_present: int = 0
    running: int = 0

    def summary(self, study: str) -> str:
        """E.g. "imported 12 trials into lr-sweep (3 rows already present, 1 running row skipped)"."""
        notes = []
        if self.already_present:
            notes.append(f"{_count(self.already_present, 'row')} already present")
        if self.running:
            notes.append(f"{_count(self.running, 'running row')} skipped")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"imported {_count(len(self.imported), 'trial')} into {study}{extra}"


def import_csv(study: ImportTarget, source: Source) -> CsvImport:
    """Check every row of `source` (a path or an open file), then add the rows the study lacks, in batches."""
    rows, running = read_csv(study.info, source)
    present = {trial.metadata.get(ROW_KEY) for trial in study.trials()}
    result = CsvImport(running=running)
    new: list[Row] = []
    for row in rows:
        if row.fingerprint in present:
            result.already_present += 1
        else:
            present.add(row.fingerprint)
            new.append(row)
    path = "/v1/studies/" + quote(study.name, safe="") + "/trials"
    for batch in batches(new):
        body = {"trials": [row.body for row in batch]}
        try:
            answer = study.transport.request("POST", path, json=body, idempotency_key=batch_key(study.info, body))
        except ProblemError as error:
            raise _in_rows(error, batch, len(result.imported)) from None
        result.imported += [Trial.from_json(item, study) for item in answer["imported"]]
    return result


def read_csv(info: Mapping[str, Any], source: Source) -> tuple[list[Row], int]:
    """The rows to import, checked against the study `info` (as the service answers it), and how many
    running rows were left out; raises BadCsv listing every problem."""
    with _text(source) as handle:
        records = list(csv.reader(handle))
    if not records or not any(cell.strip() for cell in records[0]):
        raise BadCsv([(1, None, "the file is empty; expected a header row (param.<name>, value, state, ...)")])
    header = [cell.lstrip("\ufeff") for cell in records[0]]
    reader = _RowReader(info, header)
    if reader.problems:
        raise BadCsv(reader.problems)  # a wrong header makes every row's problems noise
    rows: list[Row] = []
    running = 0
    seen: dict[str, int] = {}
    for number, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(cell != "" for cell in cells[len(header):]):
            reader.problems.append((number, None, f"has {len(cells)} cells, but the header names {len(header)} "
                                    "columns"))
            continue
        cells = [*cells[:len(header)], *[""] * (len(header) - len(cells))]  # a sheet may drop trailing empties
        by_column = dict(zip(header, cells))
        if by_column.get("state") == "running":
            running += 1  # no result yet: export again once it finished
            continue
        row = reader.row(number, by_column, seen)
        if row is not None:
            rows.append(row)
    if reader.problems:
        raise BadCsv(reader.problems)
    return rows, running


def batches(rows: Sequence[Row]) -> Iterator[list[Row]]:
    """Consecutive runs of rows, each at most MAX_BATCH rows and about MAX_BATCH_BYTES of JSON."""
    batch: list[Row] = []
    size = 0
    for row in rows:
        weight = len(json.dumps(row.body, ensure_ascii=False).encode()) + 2
        if batch and (len(batch) >= MAX_BATCH or size + weight > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += weight
    if batch:
        yield batch


def batch_key(info: Mapping[str, Any], body: Mapping[str, Any]) -> str:
    """An Idempotency-Key from the batch's content and the study it goes to (a study deleted and made again
    under the same name has another `created_at`, so a remembered answer for the old one is not replayed)."""
    content = json.dumps([info["name"], str(info.get("created_at")), body], sort_keys=True, ensure_ascii=False)
    return "csv-import-" + hashlib.sha256(content.encode()).hexdigest()


def cell_text(value: Any) -> str:
    """A scalar as `suggest trials --format csv` writes it: true/false, a float's repr, else str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def metadata_value(cell: str) -> Any:
    """A metadata cell back to what the export wrote: JSON (a finite number, true/false, an object, a list)
    when it parses as such, else the text itself ("007", "null" and NaN stay text)."""
    try:
        value = json.loads(cell, parse_constant=_refuse_constant)
    except ValueError:
        return cell
    if isinstance(value, (dict, list, bool)):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return cell


class _RowReader:
    """Turns a row's cells into a trial's body for the study, collecting problems as (row, column, text)."""

    def __init__(self, info: Mapping[str, Any], header: Sequence[str]) -> None:
        self.problems: list[tuple[int, str | None, str]] = []
        self.name = str(info["name"])
        self.params = _parents_first([dict(p) for p in info["space"]["params"]])
        objectives = info.get("objectives") or [info["objective"]]
        constraints = info.get("constraints") or []
        self.metrics = [str(item["name"]) for item in [*objectives, *constraints]]
        self.told_values = len(objectives) > 1 or bool(constraints)
        self.header = list(header)
        self._check_header()

    def row(self, number: int, cells: Mapping[str, str], seen: dict[str, int]) -> Row | None:
        """The finished trial a row holds; None when a problem was recorded."""
        before = len(self.problems)
        state = cells.get("state", "")
        params = self._params(number, cells)
        result = self._result(number, cells, state)
        metadata = {column[len("metadata."):]: metadata_value(cell) for column, cell in cells.items()
                    if column.startswith("metadata.") and cell != ""}
        fingerprint = metadata.get(ROW_KEY)
        if fingerprint is None:
            fingerprint = _fingerprint(cells, seen)
        elif not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
            self.problems.append((number, "metadata." + ROW_KEY, "must be the 64 hex digits of a row fingerprint "
                                  "(written by an earlier import), or empty"))
        if len(self.problems) > before or result is None:
            return None
        return Row(number, {"params": params, **result, "metadata": {**metadata, ROW_KEY: fingerprint}})

    def _check_header(self) -> None:
        names = {str(p["name"]) for p in self.params}
        seen: set[str] = set()
        for column in self.header:
            if column in seen:
                self.problems.append((1, column, "appears twice"))
            seen.add(column)
            if column.startswith("param."):
                if column[len("param."):] not in names:
                    self.problems.append((1, column, f"{column[len('param.'):]!r} is not a parameter of study "
                                          f"{self.name!r}; its parameters are {_names(sorted(names))}"))
            elif column.startswith("value."):
                if not self.told_values:
                    self.problems.append((1, column, f"study {self.name!r} has one objective and no constraints: "
                                          "its result is the `value` column"))
                elif column[len("value."):] not in self.metrics:
                    self.problems.append((1, column, f"{column[len('value.'):]!r} is not a metric of study "
                                          f"{self.name!r}; its metrics are {_names(self.metrics)}"))
            elif not column.startswith("metadata.") and column not in ("state", "value", *IGNORED):
                self.problems.append((1, column, "is not a column the import reads: param.<name>, value, "
                                      "value.<metric>, state, metadata.<key> (and the export's own "
                                      f"{', '.join(IGNORED)})"))

    def _params(self, number: int, cells: Mapping[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        unknown: set[str] = set()  # params whose parent had a bad cell: whether they apply is unknown
        for param in self.params:
            name = str(param["name"])
            column = "param." + name
            when: Mapping[str, Sequence[Any]] = param.get("when") or {}
            if any(parent in unknown for parent in when):
                unknown.add(name)
                continue
            active = all(parent in params and any(_same(params[parent], a) for a in allowed)
                         for parent, allowed in when.items())
            cell = cells.get(column, "")
            if not active:
                if cell != "":
                    self.problems.append((number, column, f"holds {cell!r}, but {name!r} is inactive in this row "
                                          f"(it applies only when {_condition(when)}); empty it"))
                continue
            if cell == "":
                missing = "" if column in cells else " (the file has no such column)"
                because = f": it is active because {_condition(when)}" if when else ""
                self.problems.append((number, column, f"is empty{missing}, but study {self.name!r} needs "
                                      f"{name!r}{because}"))
                unknown.add(name)
                continue
            try:
                params[name] = _convert(param, cell)
            except ValueError as error:
                self.problems.append((number, column, str(error)))
                unknown.add(name)
        return params

    def _result(self, number: int, cells: Mapping[str, str], state: str) -> dict[str, Any] | None:
        """`{state, value}` or `{state, values}` (or just the state); None after recording a problem."""
        if state not in ("", *STATES):
            self.problems.append((number, "state", f"{state!r} is not a state the import takes: "
                                  f"{', '.join(STATES)} (running rows are skipped), or empty for completed"))
            return None
        columns = ["value." + metric for metric in self.metrics] if self.told_values else ["value"]
        numbers: dict[str, float] = {}
        for column in columns:
            cell = cells.get(column, "")
            if cell == "":
                continue
            try:
                numbers[column] = _finite(cell)
            except ValueError as error:
                self.problems.append((number, column, str(error)))
                return None
        state = state or ("completed" if numbers else "")
        missing = [column for column in columns if column not in numbers]
        if state == "":
            self.problems.append((number, "state", "is empty and the row has no value: give the result in "
                                  f"{_names(columns)}, or a state ({', '.join(STATES)})"))
            return None
        if state == "failed" and numbers:
            self.problems.append((number, next(iter(numbers)), "a failed trial has no result: empty this cell, "
                                  "or make the state completed"))
            return None
        if (state == "completed" or (state == "pruned" and numbers)) and missing:
            what = "a completed trial" if state == "completed" else "a pruned trial with results (give all or none)"
            self.problems.append((number, missing[0], f"is empty, but {what} of study {self.name!r} needs "
                                  f"{_names(columns)}"))
            return None
        result: dict[str, Any] = {"state": state}
        if numbers and self.told_values:
            result["values"] = {column[len("value."):]: value for column, value in numbers.items()}
        elif numbers:
            result["value"] = numbers["value"]
        return result


def _convert(param: Mapping[str, Any], cell: str) -> Any:
    """A cell as the param's type, in its range and on its step; ValueError saying what is wrong."""
    kind = param.get("type")
    if kind == "categorical":
        return _choice(param["choices"], cell)
    if kind == "int":
        value = _integer(cell)
        low, high, step = int(param["low"]), int(param["high"]), int(param.get("step") or 1)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside [{low}, {high}]")
        if (value - low) % step:
            raise ValueError(f"{value} is not on the grid low + k * step (step {step})")
        return value
    if kind == "float":
        number = _finite(cell)
        low_f, high_f = float(param["low"]), float(param["high"])
        step_f = param.get("step")
        if step_f is None:
            if not low_f <= number <= high_f:
                raise ValueError(f"{number!r} is outside [{low_f!r}, {high_f!r}]")
            return number
        step_f = float(step_f)
        places = round((high_f - low_f) / step_f)
        offset = (number - low_f) / step_f
        slack = max(1e-9, 64 * sys.float_info.epsilon * max(abs(low_f), abs(high_f)) / step_f)
        if offset < -slack or offset > places + slack:
            raise ValueError(f"{number!r} is outside [{low_f!r}, {high_f!r}]")
        if abs(offset - round(offset)) > slack:
            raise ValueError(f"{number!r} is not on the grid low + k * step (step {step_f!r})")
        return number
    raise ValueError(f"the study's parameter has type {kind!r}, which this client does not know")


def _choice(choices: Sequence[Any], cell: str) -> Any:
    """The choice the cell names: as the export writes it, else as Python prints it, else an equal number."""
    found = [c for c in choices if cell_text(c) == cell] or [c for c in choices if str(c) == cell]
    if not found:
        try:
            number = float(cell)
        except ValueError:
            number = math.nan
        found = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool) and c == number]
    if len(found) > 1:
        raise ValueError(f"{cell!r} could be any of the choices {_names(found)}; the CSV cannot tell them apart")
    if not found:
        raise ValueError(f"{cell!r} is not one of the choices {', '.join(cell_text(c) for c in choices)}")
    return found[0]


def _integer(cell: str) -> int:
    try:
        return int(cell)
    except ValueError:
        pass
    number = _finite(cell, "an integer")
    if not number.is_integer():
        raise ValueError(f"{cell!r} is not an integer")
    return int(number)


def _finite(cell: str, kind: str = "a number") -> float:
    try:
        number = float(cell)
    except ValueError:
        raise ValueError(f"{cell!r} is not {kind}") from None
    if not math.isfinite(number):
        raise ValueError(f"{cell!r} is not finite (the service takes finite numbers only; a diverged run is "
                         "state failed)")
    return number


def _same(a: Any, b: Any) -> bool:
    """Equal as the service compares values: true is not 1, "1" is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and bool(a == b)
    return bool(a == b)


def _parents_first(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before their children (otherwise in the space's order), so a child sees its parents' values."""
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    remaining = list(params)
    while remaining:
        ready = next((p for p in remaining if all(parent in done for parent in p.get("when") or {})), remaining[0])
        remaining.remove(ready)
        ordered.append(ready)
        done.add(str(ready["name"]))
    return ordered


def _fingerprint(cells: Mapping[str, str], seen: dict[str, int]) -> str:
    """sha256 of the row's non-empty cells by column, and of how many identical rows came before it (so two
    equal rows are two trials, and the same file imported again gives the same fingerprints)."""
    content = json.dumps(sorted((column, cell) for column, cell in cells.items()
                                if cell != "" and column != "metadata." + ROW_KEY),
                         ensure_ascii=False, separators=(",", ":"))
    earlier = seen.get(content, 0)
    seen[content] = earlier + 1
    return hashlib.sha256(f"{content}#{earlier}".encode()).hexdigest()


def _in_rows(error: ProblemError, batch: Sequence[Row], imported: int) -> ProblemError:
    """The service's error, with `trials[i]` named as the CSV row it came from and what was kept."""
    detail = _TRIAL_INDEX.sub(lambda m: f"row {batch[int(m.group(1))].row}" if int(m.group(1)) < len(batch)
                              else m.group(0), error.detail)
    kept = (f"; the {_count(imported, 'trial')} of earlier batches were imported, and importing the file again "
            "skips them") if imported else "; nothing was imported"
    return type(error)(error.status, f"rows {batch[0].row}-{batch[-1].row}: {detail}{kept}", type=error.type,
                       title=error.title, errors=error.errors, body=error.body)


class _text:
    """`with _text(source) as handle`: a text file for a path, a binary file or a text file (left open)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.opened: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if isinstance(self.source, (str, os.PathLike)):
            self.opened = open(self.source, newline="", encoding="utf-8-sig")
            return self.opened
        if isinstance(self.source, (io.RawIOBase, io.BufferedIOBase)):
            self.opened = io.TextIOWrapper(self.source, encoding="utf-8-sig", newline="")
            return self.opened
        text: IO[str] = self.source  # type: ignore[assignment]
        return text

    def __exit__(self, *_: object) -> None:
        if isinstance(self.opened, io.TextIOWrapper) and not isinstance(self.source, (str, os.PathLike)):
            self.opened.detach()  # the caller's binary file stays open
        elif self.opened is not None:
            self.opened.close()


def _where(row: int, column: str | None) -> str:
    if row == 1:
        return f"header, column {column}: " if column else "header: "
    return f"row {row}, column {column}: " if column else f"row {row}: "


def _condition(when: Mapping[str, Sequence[Any]]) -> str:
    return " and ".join(f"{parent} is {' or '.join(cell_text(v) for v in allowed)}" for parent, allowed in when.items())


def _names(names: Sequence[Any]) -> str:
    return ", ".join(repr(name) for name in names)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not finite")
