"""A load-generating trainer, run as its own process: `python -m tests.reliability.load MODE ...`.

It asks for trials and tells results until told to stop, and writes everything it saw to a JSON
file (`--out`) that the test reads afterwards: every request with its start and end time and its
status (or `connection` / `timeout` / `broken` when no answer came), the trials it was handed
(number and params), the results acknowledged with a 200, and the trials it abandoned.

Modes:
- `raw`: plain HTTP with `requests`, so a test sees every status the service answers. A 503 or
  a lost connection is recorded and the request tried again after a short pause (at most
  `--pause`, or the `Retry-After` when shorter). A tell is repeated until it is acknowledged (the
  same tell again is a no-op on the service), so a result is never silently dropped.
- `client`: the Python client (`suggest_client`), with its retries and Idempotency-Keys; its
  retry log lines are counted as extra requests sent.

Start-up is synchronized: the process creates `<out>.ready` once it is ready to send, then waits
for `--go-file` to exist, so every client of a scenario starts sending at the same moment. It stops
before its next ask when `--stop-file` exists, after `--rounds` asks, or after `--duration`
seconds; a trial it was handed is always told (unless abandoned) before it stops.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

REQUEST_TIMEOUT_S = 60.0
GO_TIMEOUT_S = 180.0
TELL_ATTEMPTS = 200  # a tell that keeps failing is recorded as not acknowledged after this many tries
GRID_EXHAUSTED = "urn:suggest-api:problem:grid-exhausted"
MAX_PROBLEMS = 50  # problem bodies kept per client, for the report


class Record:
    """What this client saw; written as JSON at the end (or just before it exits on purpose)."""

    def __init__(self, index: int, mode: str) -> None:
        self.data: dict[str, Any] = {
            "client": index, "mode": mode, "pid": os.getpid(), "requests": [], "asked": [], "told": [],
            "abandoned": [], "problems": [], "bad_503": [], "errors": [], "retries": Counter(),
            "exhausted": False, "finished": False, "died": False,
        }

    def request(self, started: float, op: str, status: int | str) -> None:
        self.data["requests"].append([started, time.time(), op, status])

    def problem(self, op: str, status: int, headers: Any, body: Any) -> None:
        if len(self.data["problems"]) < MAX_PROBLEMS:
            self.data["problems"].append({"op": op, "status": status, "body": body,
                                          "retry_after": headers.get("Retry-After"),
                                          "content_type": headers.get("Content-Type")})

    def write(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data), encoding="utf-8")
        temporary.replace(path)


def value_for(client: int, number: int) -> float:
    """A value unique to (client, trial), so a stored value shows who told it."""
    return client * 1_000_000 + number + 0.5


def wait_for_go(out: Path, go_file: Path | None) -> None:
    Path(str(out) + ".ready").touch()
    if go_file is None:
        return
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{go_file} never appeared")
        time.sleep(0.005)


class Stopper:
    def __init__(self, args: argparse.Namespace) -> None:
        self.stop_file: Path | None = args.stop_file
        self.rounds: int = args.rounds
        self.deadline = time.monotonic() + args.duration if args.duration else None
        self.done = 0

    def more(self) -> bool:
        if self.rounds and self.done >= self.rounds:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        return self.stop_file is None or not self.stop_file.exists()


# --- raw HTTP -------------------------------------------------------------------------------------


class Raw:
    def __init__(self, args: argparse.Namespace, record: Record) -> None:
        self.args, self.record = args, record
        urls: list[str] = args.url
        self.base = f"{urls[args.index % len(urls)]}/v1/studies/{args.study}"
        self.session = requests.Session()

    def post(self, op: str, body: Any) -> tuple[int | str, Any, Any]:
        """One attempt: (status or failure kind, parsed body, headers)."""
        started = time.time()
        try:
            with self.session.post(f"{self.base}/{op}", json=body, timeout=REQUEST_TIMEOUT_S) as response:
                raw = response.content
                status: int | str = response.status_code
                headers = response.headers
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = raw[:200].decode("utf-8", "replace")
                    status = "broken"
        except requests.Timeout:
            self.record.request(started, op, "timeout")
            self.session.close()
            self.session = requests.Session()
            return "timeout", None, {}
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            self.record.request(started, op, "connection")
            self.session.close()
            self.session = requests.Session()
            return "connection", None, {}
        self.record.request(started, op, status)
        if isinstance(status, int) and status >= 400:
            self.record.problem(op, status, headers, parsed)
            if status == 503 and not (headers.get("Retry-After", "").strip().isdigit()
                                      and headers.get("Content-Type", "").startswith("application/problem+json")):
                self.record.data["bad_503"].append({"op": op, "headers": dict(headers), "body": parsed})
        return status, parsed, headers

    def pause(self, headers: Any) -> None:
        retry_after = headers.get("Retry-After", "") if headers else ""
        told = float(retry_after) if retry_after.strip().isdigit() else self.args.pause
        time.sleep(min(told, self.args.pause) * random.uniform(0.5, 1.0))

    def run(self, stopper: Stopper) -> None:
        args, record = self.args, self.record
        rng = random.Random(args.seed * 1000 + args.index)
        body: dict[str, Any] = {"count": args.count, "client_id": f"client-{args.index}"}
        while stopper.more():
            status, answer, headers = self.post("ask", body)
            if status != 201:
                if status == 409 and isinstance(answer, dict) and answer.get("type") == GRID_EXHAUSTED:
                    record.data["exhausted"] = True
                    return
                if isinstance(status, int) and 400 <= status < 500 and status != 429:
                    record.data["errors"].append(f"ask: {status} {answer}")
                    return  # asking again would get the same refusal
                self.pause(headers)
                continue
            stopper.done += 1
            for trial in answer["trials"]:
                record.data["asked"].append([trial["number"], trial["params"]])
            for trial in answer["trials"]:
                number = trial["number"]
                if rng.random() < args.abandon:
                    record.data["abandoned"].append(number)
                    if args.index < args.dying_clients:
                        record.data["died"] = True
                        return  # main() writes the record, then the process exits without telling
                    continue
                if args.work:
                    time.sleep(args.work * rng.uniform(0.5, 1.5))
                if not args.no_tell:
                    self.tell(number, value_for(args.index, number))

    def tell(self, number: int, value: float) -> None:
        for _ in range(TELL_ATTEMPTS):
            status, answer, headers = self.post("tell", {"number": number, "value": value})
            if status == 200:
                self.record.data["told"].append([number, value])
                return
            if isinstance(status, int) and 400 <= status < 500:
                self.record.data["errors"].append(f"tell {number}: {status} {answer}")
                return
            self.pause(headers)
        self.record.data["errors"].append(f"tell {number}: gave up after {TELL_ATTEMPTS} attempts")


# --- the Python client ------------------------------------------------------------------------------


class RetryCounter(logging.Handler):
    """The client logs each retry ("POST /v1/...: 503; retrying in ..."): count them by cause."""

    def __init__(self, record: Record) -> None:
        super().__init__(logging.INFO)
        self.record = record

    def emit(self, entry: logging.LogRecord) -> None:
        message = entry.getMessage()
        if "retrying" in message:
            cause = message.split(": ", 1)[1].split(";", 1)[0] if ": " in message else "?"
            self.record.data["retries"][cause] += 1


def run_client(args: argparse.Namespace, record: Record, stopper: Stopper) -> None:
    from suggest_client import Client
    from suggest_client.errors import SuggestError

    logger = logging.getLogger("suggest_client")
    logger.setLevel(logging.INFO)
    logger.addHandler(RetryCounter(record))
    urls: list[str] = args.url
    with Client(urls[args.index % len(urls)], retries=args.retries, timeout=REQUEST_TIMEOUT_S) as client:
        study = client.study(args.study)
        while stopper.more():
            started = time.time()
            try:
                trials = study.ask(args.count, client_id=f"client-{args.index}")
            except SuggestError as error:
                record.request(started, "ask", getattr(error, "status", None) or type(error).__name__)
                record.data["errors"].append(f"ask: {type(error).__name__}: {error}")
                continue
            record.request(started, "ask", 201)
            stopper.done += 1
            for trial in trials:
                record.data["asked"].append([trial.number, trial.params])
            for trial in trials:
                value = value_for(args.index, trial.number)
                started = time.time()
                try:
                    study.tell(trial, value)
                except SuggestError as error:
                    record.request(started, "tell", getattr(error, "status", None) or type(error).__name__)
                    record.data["errors"].append(f"tell {trial.number}: {type(error).__name__}: {error}")
                    continue
                record.request(started, "tell", 200)
                record.data["told"].append([trial.number, value])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=("raw", "client"))
    parser.add_argument("--url", action="append", required=True, help="base URL; several: client i uses url[i % n]")
    parser.add_argument("--study", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1, help="trials per ask")
    parser.add_argument("--rounds", type=int, default=0, help="asks at most (0: no limit)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds at most after the start (0: no limit)")
    parser.add_argument("--stop-file", type=Path)
    parser.add_argument("--go-file", type=Path)
    parser.add_argument("--pause", type=float, default=0.2, help="longest wait after a 503 or a lost connection")
    parser.add_argument("--abandon", type=float, default=0.0, help="share of trials never told (raw)")
    parser.add_argument("--dying-clients", type=int, default=0,
                        help="clients with an index below this exit at their first abandoned trial (raw)")
    parser.add_argument("--no-tell", action="store_true", help="only ask: leave every trial running (raw)")
    parser.add_argument("--work", type=float, default=0.0, help="seconds of pretend training per trial (raw)")
    parser.add_argument("--retries", type=int, default=8, help="the Python client's retries (client)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = Record(args.index, args.mode)
    wait_for_go(args.out, args.go_file)
    stopper = Stopper(args)
    try:
        if args.mode == "raw":
            Raw(args, record).run(stopper)
        else:
            run_client(args, record, stopper)
        record.data["finished"] = not record.data["died"]
    except BaseException as error:  # written down for the test, then re-raised (exit status != 0)
        record.data["errors"].append(f"crashed: {type(error).__name__}: {error}")
        record.write(args.out)
        raise
    record.write(args.out)
    if record.data["died"]:
        sys.stdout.flush()
        os._exit(3)  # a trainer that dies mid-trial: no tell, no clean-up
    return 0


if __name__ == "__main__":
    sys.exit(main())
