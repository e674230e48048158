"""Teams, API keys, tenant isolation and quotas, checked on real `suggest-api` processes.

What the unit and API tests cannot show: the operator's command line (separate processes on the
served database), a key revoked by one process refused at once by every gunicorn worker of another
(no worker caches a key), quotas that hold when two replicas with several workers race on one
database, and a rate limit that is counted in Redis, shared by every process, not per worker.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.accounts import KEY_PATTERN, Role, parse_key
from suggest_api.config import Limits, Settings
from suggest_api.service import accounts
from suggest_api.service.transactions import Transactions
from suggest_api.storage.database import transaction
from suggest_api.storage.migrate import upgrade_url
from suggest_api.storage.models import StudyRow, TeamRow, TrialRow
from tests.e2e.support import Reply, all_trials, call, expect, in_threads, study_body
from tests.support.databases import sessions_on
from tests.support.servers import (
    HTTP_TIMEOUT_S,
    SUGGEST_API,
    Server,
    StartServer,
    children,
    free_port,
    run_cli,
    server_environment,
)
from tests.support.teams import bearer, make_key, make_team_with_keys

REQUIRED = {"SUGGEST_AUTH": "required"}
TEAM_ENDPOINT = "/v1/team"
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/static/swagger-ui.css")
#: A Redis database of this file's own, emptied before use (the rate-limit test).
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 11


# --- helpers ---------------------------------------------------------------------------------------

def migrated_sqlite(path: Path) -> str:
    return upgrade_url(f"sqlite:///{path}")


def cli(workdir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`suggest-api ARGS --database-url URL` as its own process (the operator's way)."""
    return run_cli([*args, "--database-url", database_url], workdir)


def cli_ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.returncode, result.stdout, result.stderr)
    return result.stdout


def cli_failed(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """A refused command: exit `code`, nothing on stdout; its stderr."""
    assert result.returncode == code, (result.args, result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    return result.stderr


def parallel(*jobs: Callable[[], subprocess.CompletedProcess[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent CLI calls at once (each pays ~3 s of imports and migrations)."""
    return in_threads(len(jobs), lambda index: jobs[index]())


def key_id_of(key: str) -> str:
    key_id = parse_key(key)
    assert key_id is not None, key
    return key_id


def fresh(method: str, url: str, key: str | None = None, json_body: Any = None) -> Reply:
    """One request on a connection of its own, closed after: consecutive calls may reach any worker."""
    headers = {"Connection": "close", **(bearer(key) if key else {})}
    with requests.Session() as session:
        return call(session, method, url, json_body=json_body, headers=headers)


def requests_per_worker(server: Server, endpoint: str, status: int) -> dict[int, float]:
    """Requests to `endpoint` answered `status`, by worker pid, from each worker's own metrics file."""
    counts: dict[int, float] = {}
    for db in server.metrics_dir().glob("counter_*.db"):
        pid = int(db.stem.removeprefix("counter_"))
        families = MultiProcessCollector.merge([str(db)], accumulate=True)  # type: ignore[no-untyped-call]
        counts[pid] = sum(s.value for family in families for s in family.samples
                          if s.name == "suggest_http_requests_total" and s.labels["endpoint"] == endpoint
                          and s.labels["status"] == str(status))
    return counts


def until_every_worker_answers(server: Server, key: str, status: int, *, minimum: int = 40,
                               deadline_s: float = 60.0) -> list[Reply]:
    """GET /v1/team with `key` over fresh connections, 8 at a time, until every worker of `server` has
    answered some of them and at least `minimum` were sent. Every answer must have `status`."""
    workers = set(children(server.pid))
    before = requests_per_worker(server, TEAM_ENDPOINT, status)
    replies: list[Reply] = []
    deadline = time.monotonic() + deadline_s
    while True:
        batch = in_threads(8, lambda _: fresh("GET", server.base_url + TEAM_ENDPOINT, key))
        wrong = [(r.status, r.body) for r in batch if r.status != status]
        assert wrong == [], f"after {len(replies)} answers of {status}, got {wrong[:3]}"
        replies += batch
        after = requests_per_worker(server, TEAM_ENDPOINT, status)
        answered = {pid for pid in workers if after.get(pid, 0) > before.get(pid, 0)}
        if len(replies) >= minimum and answered == workers:
            return replies
        assert time.monotonic() < deadline, (f"{len(replies)} requests reached only workers {sorted(answered)} "
                                             f"of {sorted(workers)}: {after}")


def problem_type(reply: Reply) -> str:
    kind: str = reply.body["type"]
    return kind.removeprefix("urn:suggest-api:problem:")


def retry_after(reply: Reply) -> int:
    value = reply.headers.get("Retry-After", "")
    assert value.isdigit() and int(value) > 0, (reply.status, reply.headers)
    return int(value)


def redis_command(*args: str, db: int = REDIS_DB) -> Any:
    """One command to Redis in database `db`, over RESP on a plain socket (no client library needed)."""
    def encode(command: tuple[str, ...]) -> bytes:
        parts = [f"*{len(command)}\r\n".encode()]
        for arg in command:
            raw = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(parts)

    def parse(stream: Any) -> Any:
        line: bytes = stream.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise AssertionError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else stream.read(int(rest) + 2)[:-2].decode()
        if kind == b"*":
            return None if int(rest) < 0 else [parse(stream) for _ in range(int(rest))]
        raise AssertionError(f"redis: unexpected reply {line!r}")

    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=10) as connection:
        connection.sendall(encode(("SELECT", str(db))) + encode(args))
        with connection.makefile("rb") as stream:
            assert parse(stream) == "OK"
            return parse(stream)


# --- 1. the operator's command line --------------------------------------------------------------

@pytest.mark.slow
def test_cli_manages_teams_quotas_and_keys(tmp_path: Path) -> None:
    """Every `teams` and `keys` command end to end on one SQLite file, with its exit codes and streams."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    created = cli_ok(cli(tmp_path, url, "teams", "create", "alpha", "--max-studies", "3",
                         "--max-trials-per-ask", "4"))
    assert created.strip() == "team alpha created"

    again, ghost, admin, bad_role = parallel(
        lambda: cli(tmp_path, url, "teams", "create", "alpha"),
        lambda: cli(tmp_path, url, "keys", "create", "--team", "ghost", "--role", "member"),
        lambda: cli(tmp_path, url, "keys", "create", "--team", "alpha", "--role", "admin", "--label", "ci"),
        lambda: cli(tmp_path, url, "keys", "create", "--team", "alpha", "--role", "owner"))
    stderr = cli_failed(again)
    assert stderr.startswith("suggest-api: ") and "'alpha'" in stderr and "exists already" in stderr, stderr
    stderr = cli_failed(ghost)
    assert stderr.startswith("suggest-api: ") and "'ghost'" in stderr, stderr
    assert "invalid choice: 'owner'" in cli_failed(bad_role, code=2)
    out = cli_ok(admin).splitlines()
    assert len(out) == 1 and KEY_PATTERN.match(out[0]), out
    keys = {"admin": out[0]}
    assert f"key {key_id_of(out[0])} (admin) for team alpha" in admin.stderr, admin.stderr
    assert out[0] not in admin.stderr
    with sessions_on(url) as sessions:  # a second key, made as the CLI makes it (one CLI call less: ~3 s)
        keys["read"] = make_key(sessions, "alpha", Role.READ)

    quota, revoked = parallel(
        lambda: cli(tmp_path, url, "teams", "set-quota", "alpha", "--max-studies", "0", "--max-running-trials", "7"),
        lambda: cli(tmp_path, url, "keys", "revoke", key_id_of(keys["admin"])))
    # max_studies 0: back to the service's default; max_trials_per_ask kept from `teams create`.
    assert cli_ok(quota).strip() == "team alpha: max_studies=10000 max_running_trials=7 max_trials_per_ask=4"
    assert cli_ok(revoked).strip() == f"key {key_id_of(keys['admin'])} revoked"

    teams, key_list = parallel(lambda: cli(tmp_path, url, "teams", "list"),
                               lambda: cli(tmp_path, url, "keys", "list", "--team", "alpha"))
    assert ("alpha\tmax_studies=10000 max_running_trials=7 max_trials_per_ask=4"
            in cli_ok(teams).splitlines()), teams.stdout
    rows = sorted(line.split("\t") for line in cli_ok(key_list).splitlines())
    assert [(row[0], row[1], row[3]) for row in rows] == sorted(
        [(key_id_of(keys["admin"]), "admin", "ci"), (key_id_of(keys["read"]), "read", "read key of alpha")]), rows
    states = {row[0]: row[2] for row in rows}
    assert re.fullmatch(r"revoked \d{4}-\d\d-\d\d \d\d:\d\d", states[key_id_of(keys["admin"])]), states
    assert states[key_id_of(keys["read"])] == "active", states
    for key in keys.values():
        secret = key.rsplit("_", 1)[1]
        assert key not in key_list.stdout + key_list.stderr and secret not in key_list.stdout + key_list.stderr


@pytest.mark.slow
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_cli_makes_a_team_and_a_working_key_on_postgres(database_url: str, tmp_path: Path) -> None:
    """The same commands on PostgreSQL: the key printed is the one stored (the service accepts it)."""
    assert cli_ok(cli(tmp_path, database_url, "teams", "create", "pg-team", "--max-studies", "2")).strip() \
        == "team pg-team created"
    (key,) = cli_ok(cli(tmp_path, database_url, "keys", "create", "--team", "pg-team", "--role", "member")).splitlines()
    assert KEY_PATTERN.match(key), key
    settings = Settings(database_url=database_url, auth="required")
    with sessions_on(database_url) as sessions, transaction(sessions, write=False) as session:
        who = accounts.authenticate(Transactions(sessions), settings, f"Bearer {key}")
        infos = accounts.list_team_keys(session, "pg-team")
    assert (who.team_name, who.role.value, who.quotas.max_studies) == ("pg-team", "member", 2)
    assert [(i.key_id, i.role.value, i.created_by) for i in infos] == [(key_id_of(key), "member", "cli")]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_cli_teams_create_losing_a_race_says_so_in_one_line(database_url: str, tmp_path: Path) -> None:
    """Two `teams create NAME` at once (two operators, a retried script): the loser exits 1 with the same
    one-line `suggest-api: ... exists already` as when the team existed before, not a traceback."""
    raced = create_team_while_another_commits(database_url, tmp_path, "pg-race")
    with sessions_on(database_url) as sessions, transaction(sessions, write=False) as session:
        teams = [team.name for team in accounts.list_teams(session) if team.name != "default"]
    assert teams == ["pg-race"], teams
    stderr = cli_failed(raced)
    assert "Traceback" not in stderr and stderr.startswith("suggest-api: ") and len(stderr.splitlines()) == 1, stderr
    assert "'pg-race'" in stderr and "exists already" in stderr, stderr


def create_team_while_another_commits(database_url: str, workdir: Path, name: str) -> subprocess.CompletedProcess[str]:
    """`teams create NAME` while this process creates NAME too: the CLI finds no team, then waits on the unique
    index for our uncommitted row, which we commit once PostgreSQL shows the CLI waiting on that lock."""
    with sessions_on(database_url) as sessions:
        with transaction(sessions, write=True) as session:
            accounts.create_team(session, name, Limits(), accounts.QuotaChange())
            session.flush()
            racing = subprocess.Popen([SUGGEST_API, "teams", "create", name, "--database-url", database_url],
                                      cwd=workdir, env=server_environment(workdir), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            try:
                wait_for_lock_wait(sessions, f"suggest-api:{racing.pid}", racing)
            except BaseException:
                racing.kill()
                racing.communicate()
                raise
        stdout, stderr = racing.communicate(timeout=120)
    return subprocess.CompletedProcess(racing.args, racing.returncode, stdout, stderr)


def wait_for_lock_wait(sessions: sessionmaker[Session], application: str, process: subprocess.Popen[str],
                       timeout_s: float = 90.0) -> None:
    """Until the connection named `application` waits on a lock in its INSERT INTO teams (pg_stat_activity)."""
    deadline = time.monotonic() + timeout_s
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock' "
                 "AND query LIKE 'INSERT INTO teams%'")
    while time.monotonic() < deadline:
        assert process.poll() is None, ("the CLI did not wait for our row", process.communicate())
        with sessions() as watcher:
            if watcher.scalar(query, {"name": application}):
                return
        time.sleep(0.05)
    raise AssertionError(f"{application} never waited on a lock")


# --- 2. revocation reaches every worker at once ------------------------------------------------------

@pytest.mark.slow
def test_revoked_key_is_refused_on_every_worker(serve: StartServer, database_url: str, tmp_path: Path,
                                               http: requests.Session) -> None:
    """A key revoked by the CLI (another process) or by an admin over HTTP is refused on its next
    request, by each of 4 workers: none of them remembers that it was valid a moment ago."""
    with sessions_on(database_url) as sessions:
        team = make_team_with_keys(sessions, "alpha")
    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(cli, tmp_path, database_url, "keys", "create", "--team", "alpha", "--role", "member")
        server = serve(database_url, workers=4, env=REQUIRED)
        (key,) = cli_ok(made.result()).splitlines()
    assert len(children(server.pid)) == 4
    team_url = server.base_url + TEAM_ENDPOINT

    accepted = until_every_worker_answers(server, key, 200)
    assert {(r.body["name"], r.body["role"], r.body["key_id"]) for r in accepted} == {
        ("alpha", "member", key_id_of(key))}

    assert cli_ok(cli(tmp_path, database_url, "keys", "revoke", key_id_of(key))).strip() \
        == f"key {key_id_of(key)} revoked"
    refused = until_every_worker_answers(server, key, 401)
    assert all(r.is_problem and r.headers.get("WWW-Authenticate", "").startswith("Bearer") for r in refused)
    assert {r.body["detail"] for r in refused} == {
        f"API key {key_id_of(key)} was revoked; ask an admin of your team for a new one"}

    # An admin revokes the member key over HTTP; the next requests, on any worker, are refused.
    expect(call(http, "GET", team_url, headers=bearer(team.member)), 200)
    revoked = expect(call(http, "DELETE", f"{server.base_url}/v1/keys/{key_id_of(team.member)}",
                          headers=bearer(team.admin)), 200)
    assert revoked["revoked_at"] is not None and revoked["revoked_by"] == key_id_of(team.admin), revoked
    refused = until_every_worker_answers(server, team.member, 401)
    assert all("was revoked" in r.body["detail"] for r in refused)
    # The keep-alive connection that used the key before is refused too.
    assert call(http, "GET", team_url, headers=bearer(team.member)).status == 401
    # Revoking again answers the same; the team's other keys still work.
    again = expect(call(http, "DELETE", f"{server.base_url}/v1/keys/{key_id_of(team.member)}",
                        headers=bearer(team.admin)), 200)
    assert again["revoked_at"] == revoked["revoked_at"]
    until_every_worker_answers(server, team.read, 200, minimum=8)
    listed = expect(call(http, "GET", f"{server.base_url}/v1/keys", headers=bearer(team.admin)), 200)["keys"]
    states = {k["key_id"]: k["revoked_at"] is not None for k in listed}
    assert states == {key_id_of(team.admin): False, key_id_of(team.member): True, key_id_of(team.read): False,
                      key_id_of(key): True}, states


# --- 3. what an anonymous caller can reach ------------------------------------------------------------

def fill(path: str, name: str) -> str:
    """A concrete path for an OpenAPI template: {number} an integer, every other parameter `name`."""
    return re.sub(r"\{(\w+)\}", lambda m: "0" if m.group(1) == "number" else name, path)


@pytest.mark.slow
def test_without_a_key_only_public_endpoints_answer(serve: StartServer, tmp_path: Path,
                                                    http: requests.Session) -> None:
    """SUGGEST_AUTH=required: health, readiness, metrics and the API docs answer anyone and show no team's
    data; every operation of the OpenAPI document answers 401 with WWW-Authenticate, whether the study
    named exists or not. And only the auth-off server warns, at start, that anyone may call it."""
    url = migrated_sqlite(tmp_path / "public.db")
    secret_name, team_name = "secret-study-xyz", "team-qz7"
    with sessions_on(url) as sessions:
        team = make_team_with_keys(sessions, team_name)
    secured, open_ = in_threads(2, lambda index: serve(url, workers=1,
                                                       env=REQUIRED if index == 0 else {"SUGGEST_AUTH": "off"}))
    base = secured.base_url
    expect(call(http, "POST", f"{base}/v1/studies", json_body=study_body(secret_name), headers=bearer(team.member)),
           201)
    (trial,) = expect(call(http, "POST", f"{base}/v1/studies/{secret_name}/ask", json_body={"count": 1},
                           headers=bearer(team.member)), 201)["trials"]
    expect(call(http, "POST", f"{base}/v1/studies/{secret_name}/tell", json_body={"number": trial["number"],
                                                                               "value": 0.5},
                headers=bearer(team.member)), 200)

    for path in PUBLIC_PATHS:
        with http.get(base + path, timeout=HTTP_TIMEOUT_S) as response:
            assert 200 <= response.status_code < 300, (path, response.status_code)
            assert secret_name not in response.text and team_name not in response.text, path

    spec = expect(call(http, "GET", f"{base}/openapi.json"), 200)
    operations = [(method.upper(), path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")]
    public = {("GET", path) for path in PUBLIC_PATHS}
    protected = [op for op in operations if op not in public]
    # The document lists health, readiness and metrics, not itself nor the docs; every other operation is a team's.
    assert {op for op in operations if op in public} == {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
    assert len(protected) >= 18, operations
    details: dict[str, set[str]] = {}
    for method, template in protected:
        for name in (secret_name, "no-such-study"):
            path = fill(template, name)
            for headers in ({}, {"Authorization": "Bearer sapi_0123456789ab_" + "x" * 40},
                            {"Authorization": "Basic YWxwaGE6c2VjcmV0"}):
                reply = call(http, method, base + path, json_body={} if method == "POST" else None, headers=headers)
                assert reply.status == 401 and reply.is_problem, (method, path, headers, reply.status, reply.body)
                assert reply.headers.get("WWW-Authenticate") == 'Bearer realm="suggest-api"', reply.headers
                assert secret_name not in json.dumps(reply.body) and team_name not in json.dumps(reply.body)
                details.setdefault(f"{method} {template} {headers}", set()).add(reply.body["detail"])
            if method == "GET":
                with http.head(base + path, timeout=HTTP_TIMEOUT_S) as response:
                    assert response.status_code == 401, (path, response.status_code)
    # Same answer for an existing and a missing study: a caller without a key learns nothing.
    assert all(len(seen) == 1 for seen in details.values()), details

    assert "SUGGEST_AUTH=off" in open_.log_text
    assert "SUGGEST_AUTH=off" not in secured.log_text
    warnings = [json.loads(line) for line in open_.log_lines() if "SUGGEST_AUTH=off" in line]
    assert warnings and all(w["level"] == "warning" for w in warnings), warnings
    anyone = expect(call(http, "GET", open_.base_url + TEAM_ENDPOINT), 200)
    assert (anyone["name"], anyone["role"], anyone["key_id"]) == ("default", "admin", None)
    # The auth-off server acts as team "default": the other team's study is not among its studies.
    listed = expect(call(http, "GET", f"{open_.base_url}/v1/studies"), 200)
    assert secret_name not in json.dumps(listed)


# --- 4. quotas across replicas -----------------------------------------------------------------------

@dataclass
class AskLog:
    statuses: Counter[int] = field(default_factory=Counter)
    held: list[int] = field(default_factory=list)
    told: int = 0
    bad: list[tuple[int, Any]] = field(default_factory=list)


def team_studies(database_url: str, team: str) -> int:
    with sessions_on(database_url) as sessions, transaction(sessions, write=False) as session:
        count = session.scalar(select(func.count()).select_from(StudyRow).join(TeamRow, TeamRow.id == StudyRow.team_id)
                               .where(TeamRow.name == team))
        return count or 0


def trials_by_state(database_url: str, team: str, study: str) -> dict[str, int]:
    with sessions_on(database_url) as sessions, transaction(sessions, write=False) as session:
        rows = session.execute(select(TrialRow.state, func.count()).join(StudyRow, StudyRow.id == TrialRow.study_id)
                               .join(TeamRow, TeamRow.id == StudyRow.team_id)
                               .where(TeamRow.name == team, StudyRow.name == study).group_by(TrialRow.state)).all()
        return {state: count for state, count in rows}


@pytest.mark.slow
def test_team_quotas_hold_across_two_replicas(serve: StartServer, database_url: str, tmp_path: Path,
                                              http: requests.Session) -> None:
    """A team with max_studies=5 and max_running_trials=6 (set by the CLI), 8 clients on 2 replicas x 2
    workers: 16 simultaneous creations make exactly 5 studies; asks never make a 7th running trial."""
    clients = 8

    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(cli, tmp_path, database_url, "teams", "create", "quota-team", "--max-studies", "5",
                           "--max-running-trials", "6", "--max-trials-per-ask", "3")
        servers = in_threads(2, lambda _: serve(database_url, workers=2, env=REQUIRED))
        assert cli_ok(made.result()).strip() == "team quota-team created"
    with sessions_on(database_url) as sessions:
        key = make_key(sessions, "quota-team", Role.MEMBER)
    http.headers.update(bearer(key))  # this test's own calls (all_trials, the poller's) act as the team
    team = expect(call(http, "GET", servers[1].base_url + TEAM_ENDPOINT), 200)
    assert team["quotas"] == {"max_studies": 5, "max_running_trials": 6, "max_trials_per_ask": 3}, team

    # (a) 8 clients x 2 studies, all sent at the same moment, half to each replica.
    barrier = threading.Barrier(2 * clients)

    def create(index: int) -> tuple[str, Reply]:
        client, which = divmod(index, 2)
        name = f"study-{client}-{which}"
        with requests.Session() as session:
            barrier.wait(timeout=30)
            return name, call(session, "POST", servers[client % 2].base_url + "/v1/studies",
                              json_body=study_body(name), headers=bearer(key))

    creations = in_threads(2 * clients, create)
    made_studies = [name for name, reply in creations if reply.status == 201]
    refused = [reply for _, reply in creations if reply.status != 201]
    assert len(made_studies) == 5, Counter(reply.status for _, reply in creations)
    for reply in refused:
        assert reply.status == 403 and reply.is_problem and problem_type(reply) == "quota-exceeded", reply.body
        assert "5" in reply.body["detail"] and (reply.body["quota"], reply.body["limit"]) == ("max_studies", 5)
    assert team_studies(database_url, "quota-team") == 5
    listed = expect(call(http, "GET", servers[0].base_url + "/v1/studies?limit=100"), 200)
    assert sorted(s["name"] for s in listed["studies"]) == sorted(made_studies)
    # At the quota, creating an existing study again is no new study (200); a deleted one frees its place.
    expect(call(http, "POST", servers[1].base_url + "/v1/studies", json_body=study_body(made_studies[0])), 200)
    expect(call(http, "DELETE", f"{servers[0].base_url}/v1/studies/{made_studies[-1]}"), 204)
    expect(call(http, "POST", servers[1].base_url + "/v1/studies", json_body=study_body("replacement")), 201)
    again = call(http, "POST", servers[0].base_url + "/v1/studies", json_body=study_body("one-too-many"))
    assert again.status == 403 and problem_type(again) == "quota-exceeded", again.body
    assert team_studies(database_url, "quota-team") == 5

    # (b) Everyone asks, no one tells: exactly 6 trials start, every other ask is 429 with Retry-After.
    study = made_studies[0]
    stop = threading.Event()
    for server in servers:
        too_many = call(http, "POST", f"{server.base_url}/v1/studies/{study}/ask", json_body={"count": 4})
        assert too_many.status == 403 and too_many.is_problem and problem_type(too_many) == "quota-exceeded"
        assert (too_many.body["quota"], too_many.body["limit"]) == ("max_trials_per_ask", 3), too_many.body

    def asker(client: int, seconds: float, tell: bool, held: list[int]) -> AskLog:
        """Ask one trial at a time for `seconds`; with `tell`, first tell each trial held (those in `held` too)."""
        log = AskLog(held=list(held))
        base = servers[client % 2].base_url
        deadline = time.monotonic() + seconds
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if tell:
                    for number in log.held:
                        told = call(session, "POST", f"{base}/v1/studies/{study}/tell",
                                    json_body={"number": number, "value": client + number / 1000},
                                    headers=bearer(key))
                        if told.status != 200:
                            log.bad.append((told.status, told.body))
                        log.told += 1
                    log.held.clear()
                reply = call(session, "POST", f"{base}/v1/studies/{study}/ask", json_body={"count": 1},
                             headers=bearer(key))
                log.statuses[reply.status] += 1
                if reply.status == 201:
                    log.held += [t["number"] for t in reply.body["trials"]]
                elif (reply.status == 429 and reply.is_problem and problem_type(reply) == "running-trials-quota"
                      and retry_after(reply) > 0 and reply.body["limit"] == 6):
                    time.sleep(0.01)
                else:
                    log.bad.append((reply.status, reply.body))
        return log

    hoarders = in_threads(clients, lambda client: asker(client, 2.0, False, []))
    first = sum((log.statuses for log in hoarders), Counter[int]())
    assert [bad for log in hoarders for bad in log.bad] == []
    assert first[201] == 6 and set(first) <= {201, 429}, first
    held = sorted(number for log in hoarders for number in log.held)
    assert held == list(range(6)), held
    stored = all_trials(http, servers[0].base_url, study)
    assert [(t["number"], t["state"]) for t in stored] == [(n, "running") for n in range(6)]
    assert trials_by_state(database_url, "quota-team", study) == {"running": 6}

    # Then they tell what they hold and ask again, for a while: a poller never sees more than 6 running.
    polled: list[int] = []
    poll_failures: list[tuple[int, Any]] = []

    def poll() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                page = call(session, "GET", f"{servers[1].base_url}/v1/studies/{study}/trials"
                                            "?state=running&limit=1000", headers=bearer(key))
                if page.status == 200:
                    polled.append(len(page.body["trials"]))
                else:
                    poll_failures.append((page.status, page.body))
                time.sleep(0.005)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        churners = in_threads(clients, lambda client: asker(client, 2.0, True, hoarders[client].held))
    finally:
        stop.set()
        poller.join(timeout=30)
    second = sum((log.statuses for log in churners), Counter[int]())
    assert [bad for log in churners for bad in log.bad] == []
    states = trials_by_state(database_url, "quota-team", study)
    still_held = sum(len(log.held) for log in churners)
    assert states.get("running", 0) == still_held <= 6, (states, still_held)
    told = sum(log.told for log in churners)
    assert states.get("completed", 0) == told and sum(states.values()) == 6 + second[201], (states, second)
    assert poll_failures == [] and polled and max(polled) <= 6, (poll_failures[:3], Counter(polled))
    assert second[201] > 6 and second[429] > 0, second
    print(f"\nquotas[{database_url.split(':')[0]}]: creates {len(creations)} -> 201x{len(made_studies)} "
          f"403x{len(refused)}; hoarding asks {sum(first.values())} -> {dict(sorted(first.items()))}; "
          f"churn asks {sum(second.values())} -> {dict(sorted(second.items()))}, tells {told}; "
          f"running polled {len(polled)}x, max {max(polled)}, by count {dict(sorted(Counter(polled).items()))}")


# --- 5. a rate limit shared by every process -----------------------------------------------------------

@pytest.mark.slow
def test_rate_limit_is_shared_by_workers_and_replicas_through_redis(serve: StartServer, tmp_path: Path,
                                                                   http: requests.Session) -> None:
    """30/minute per key, counted in Redis: 60 requests alternating over 2 replicas x 2 workers get
    exactly 30 answers, then 429 with Retry-After; other keys and /healthz are not held back."""
    url = migrated_sqlite(tmp_path / "limited.db")
    assert redis_command("FLUSHDB") == "OK"
    with sessions_on(url) as sessions:
        team = make_team_with_keys(sessions, "alpha")
        burst_key = make_key(sessions, "alpha", Role.MEMBER)
    env = {**REQUIRED, "SUGGEST_RATE_LIMIT": "30/minute",
           "SUGGEST_RATE_LIMIT_STORAGE": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"}
    servers = in_threads(2, lambda _: serve(url, workers=2, env=env))

    statuses: list[int] = []
    for index in range(60):
        reply = fresh("GET", servers[index % 2].base_url + TEAM_ENDPOINT, team.member)
        statuses.append(reply.status)
        if reply.status == 429:
            assert reply.is_problem and retry_after(reply) <= 60, (reply.headers, reply.body)
    assert statuses == [200] * 30 + [429] * 30, statuses

    # Another key of the same team is counted apart, on both replicas.
    for server in servers:
        expect(call(http, "GET", server.base_url + TEAM_ENDPOINT, headers=bearer(team.read)), 200)
    # 60 requests at once, 8 threads over both replicas: still exactly 30 pass.
    burst = in_threads(8, lambda client: [fresh("GET", servers[(client + i) % 2].base_url + TEAM_ENDPOINT,
                                                burst_key).status for i in range(60 // 8 + (client < 60 % 8))])
    assert Counter(s for statuses_ in burst for s in statuses_) == {200: 30, 429: 30}, burst
    # Public endpoints carry no key and are never limited.
    assert {fresh("GET", servers[i % 2].base_url + "/healthz").status for i in range(80)} == {200}
    assert any(key_id_of(team.member) in name for name in redis_command("KEYS", "*")), redis_command("KEYS", "*")


@pytest.mark.slow
@pytest.mark.parametrize("storage", [None, "memory://"], ids=["no-storage", "memory"])
def test_rate_limit_without_a_shared_store_refuses_to_start(tmp_path: Path, storage: str | None) -> None:
    """A limit counted by each worker apart is no limit: `serve` exits at once and says so."""
    env = {"SUGGEST_RATE_LIMIT": "30/minute", **({"SUGGEST_RATE_LIMIT_STORAGE": storage} if storage else {})}
    started = time.monotonic()
    result = subprocess.run([SUGGEST_API, "serve", "--port", str(free_port()), "--database-url",
                             f"sqlite:///{tmp_path / 'never.db'}"], cwd=tmp_path,
                            env=server_environment(tmp_path, env), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "SUGGEST_RATE_LIMIT needs SUGGEST_RATE_LIMIT_STORAGE" in result.stderr, result.stderr
    assert "a limit is not a limit" in result.stderr, result.stderr
    assert "Listening at" not in result.stdout + result.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "never.db").exists()

