"""The Python client and the `suggest` CLI against a service that requires API keys (SUGGEST_AUTH=required).

Teams share one service, so the client must carry its key on every request from every thread and
process it starts, map 401/403/404/429 to typed errors without retrying what waiting cannot fix,
and never let the key leak into logs or exception text, where it would end up in CI output.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from suggest_client import Client, ConnectionFailed, NotFound, ProblemError, Study, SuggestError, Trial
from suggest_client.errors import Forbidden, RateLimited, Unauthorized
from tests.client.support.proxy import Fault, proxy
from tests.support.servers import Server, free_port, run_cli, server_environment, start_server

if TYPE_CHECKING:
    from tests.support.teams import TeamKeys

pytestmark = pytest.mark.slow

#: As tests.conftest.BACKENDS, not imported from there: `optimize(processes=True)` workers import this
#: module (for `train`), and the service's modules that tests.conftest pulls in take seconds to import.
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]

SUGGEST = str(Path(sys.executable).with_name("suggest"))
SPACE = {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}
PROBLEM = "urn:suggest-api:problem:"
#: Well-formed (so the service looks it up) but made by nobody.
UNKNOWN_KEY = "sapi_0123456789ab_" + "Zz9" * 13 + "Q"
#: Long enough that a heartbeat is due (every timeout / 3 s) at least once while a trial trains.
HEARTBEAT_TIMEOUT_S = 1.0
TRAIN_S = 0.8


@dataclass(frozen=True)
class Secured:
    """A service with SUGGEST_AUTH=required and its tenants: alpha and beta, and capped (tight quotas)."""

    server: Server
    database_url: str
    workdir: Path
    alpha: TeamKeys
    beta: TeamKeys
    capped: TeamKeys

    @property
    def url(self) -> str:
        return self.server.base_url

    def requests_to(self, path_prefix: str) -> list[dict[str, Any]]:
        """The service's access-log entries (method, path, status) for paths under `path_prefix`."""
        entries: list[dict[str, Any]] = []
        for line in self.server.log_lines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("message") == "request" and str(entry.get("path", "")).startswith(path_prefix):
                    entries.append(entry)
        return entries


@pytest.fixture(scope="module", params=BACKENDS)
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    from suggest_api.service import accounts
    from suggest_api.storage.database import make_engine, make_sessions
    from suggest_api.storage.migrate import upgrade
    from tests.support.teams import make_team_with_keys

    workdir = tmp_path_factory.mktemp(f"secured-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'suggest.db'}"
    else:
        database_url = request.getfixturevalue("postgres_database")
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        sessions = make_sessions(engine)
        suffix = uuid.uuid4().hex[:8]  # the PostgreSQL database is shared with the session's other modules
        alpha = make_team_with_keys(sessions, f"alpha-{suffix}")
        beta = make_team_with_keys(sessions, f"beta-{suffix}")
        capped = make_team_with_keys(sessions, f"capped-{suffix}",
                                     accounts.QuotaChange(max_studies=1, max_running_trials=1))
    finally:
        engine.dispose()
    started: list[Server] = []
    try:
        server = start_server(database_url, workdir, started, workers=2, env={"SUGGEST_AUTH": "required"})
        yield Secured(server, database_url, workdir, alpha, beta, capped)
    finally:
        hung = [s.base_url for s in started if not s.stop()]
    if hung:
        pytest.fail(f"servers ignored SIGTERM and were killed: {hung}")


@pytest.fixture
def study_name() -> str:
    return f"auth-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own SUGGEST_TOKEN / SUGGEST_URL must not decide what these tests see."""
    monkeypatch.delenv("SUGGEST_TOKEN", raising=False)
    monkeypatch.delenv("SUGGEST_URL", raising=False)


def create(client: Client, name: str, **options: Any) -> Study:
    return client.create_study(name, SPACE, seed=1, **options)


def assert_problem(error: BaseException, cls: type[ProblemError], status: int, slug: str) -> None:
    assert type(error) is cls, repr(error)
    assert isinstance(error, ProblemError) and isinstance(error, SuggestError)
    assert error.status == status
    assert error.type == PROBLEM + slug
    assert error.detail and error.detail in str(error)


# --- the token: argument, environment, precedence -----------------------------------------------

def test_a_token_argument_runs_the_trial_loop(secured: Secured, study_name: str) -> None:
    with Client(secured.url, token=secured.alpha.member, retries=1) as client:
        study = create(client, study_name)
        trials = study.ask(2)
        study.tell(trials[0], 0.5)
        study.tell(trials[1], 0.25)
        best = study.best()
        assert best is not None and (best.number, best.value) == (1, 0.25)
        assert study_name in [s.name for s in client.studies()]
    # Nothing got through without the key: every request of this study was answered 2xx.
    statuses = {e["status"] for e in secured.requests_to(f"/v1/studies/{study_name}")}
    assert statuses and all(200 <= s < 300 for s in statuses), statuses


def test_the_token_comes_from_suggest_token(secured: Secured, study_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_TOKEN", secured.alpha.member)
    with Client(secured.url, retries=1) as client:
        assert client.token == secured.alpha.member
        study = create(client, study_name)
        [trial] = study.ask()
        study.tell(trial, 1.0)
        best = study.best()
        assert best is not None and best.value == 1.0


def test_a_token_argument_wins_over_suggest_token(secured: Secured, study_name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_TOKEN", secured.alpha.read)  # would get 403 on create
    with proxy(secured.url, lambda method, path, seen: None) as front, \
            Client(front.url, token=secured.alpha.member, retries=0) as client:
        create(client, study_name).ask()
    assert front.headers and {h.get("Authorization") for h in front.headers} == {f"Bearer {secured.alpha.member}"}
    monkeypatch.setenv("SUGGEST_TOKEN", UNKNOWN_KEY)  # would get 401
    with Client(secured.url, token=secured.alpha.read, retries=0) as client:
        assert client.study(study_name).info["trial_counts"]["running"] == 1


# --- 401 / 403 / 404 ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, UNKNOWN_KEY], ids=["no-token", "unknown-key"])
def test_without_a_valid_key_the_client_raises_unauthorized_once(secured: Secured, study_name: str,
                                                                 token: str | None) -> None:
    """A 401 is not retried: no amount of waiting makes a missing or wrong key valid."""
    with proxy(secured.url, lambda method, path, seen: None) as front, \
            Client(front.url, token=token, retries=3) as client:
        started = time.monotonic()
        with pytest.raises(Unauthorized) as raised:
            create(client, study_name)
        with pytest.raises(Unauthorized):
            client.studies()
        elapsed = time.monotonic() - started
    assert_problem(raised.value, Unauthorized, 401, "unauthorized")
    assert raised.value.title == "Unauthorized"
    assert "key" in raised.value.detail
    assert front.count("POST", "/v1/studies") == 1
    assert front.count("GET", "/v1/studies?limit=1000") == 1
    assert elapsed < 5.0  # no backoff either
    if token is None:
        assert all("Authorization" not in h for h in front.headers)


def test_a_read_key_reads_but_cannot_write(secured: Secured, study_name: str) -> None:
    with Client(secured.url, token=secured.alpha.member, retries=1) as member:
        study = create(member, study_name)
        [trial] = study.ask()
        study.tell(trial, 0.125)
    with proxy(secured.url, lambda method, path, seen: None) as front, \
            Client(front.url, token=secured.alpha.read, retries=3) as reader:
        assert study_name in [s.name for s in reader.studies()]
        seen = reader.study(study_name)
        assert seen.info["trial_counts"]["completed"] == 1
        assert [t.value for t in seen.trials()] == [0.125]
        best = seen.best()
        assert best is not None and best.value == 0.125
        with pytest.raises(Forbidden) as refused:
            create(reader, f"{study_name}-2")
        assert_problem(refused.value, Forbidden, 403, "forbidden")
        assert "member" in refused.value.detail
        with pytest.raises(Forbidden):
            seen.ask()
        with pytest.raises(Forbidden):
            reader.delete_study(study_name)
    assert front.count("POST", "/v1/studies") == 1  # a 403 is not retried either
    with Client(secured.url, token=secured.alpha.member) as member:
        assert member.study(study_name).info["trial_counts"]["total"] == 1  # nothing was asked or deleted


def test_another_teams_study_is_not_found_exactly_like_a_missing_one(secured: Secured, study_name: str) -> None:
    with Client(secured.url, token=secured.alpha.member, retries=1) as alpha:
        study = create(alpha, study_name)
        [trial] = study.ask()
        study.tell(trial, 0.5)
    missing = f"{study_name}-missing"
    with Client(secured.url, token=secured.beta.member, retries=3) as beta:
        with pytest.raises(NotFound) as theirs:
            beta.study(study_name)
        with pytest.raises(NotFound) as nobodys:
            beta.study(missing)
        assert study_name not in [s.name for s in beta.studies()]
        foreign = Study(beta.transport, study.info)
        with pytest.raises(NotFound):
            foreign.best()  # not None: the study is not there for beta, it is not merely without results
        with pytest.raises(NotFound):
            foreign.ask()
        with pytest.raises(NotFound):
            foreign.tell(0, 1.0)
        with pytest.raises(NotFound):
            beta.delete_study(study_name)
    assert_problem(theirs.value, NotFound, 404, "not-found")
    assert type(theirs.value) is type(nobodys.value)
    assert (theirs.value.status, theirs.value.type, theirs.value.title) == \
        (nobodys.value.status, nobodys.value.type, nobodys.value.title)
    assert theirs.value.detail == nobodys.value.detail.replace(missing, study_name)
    assert set(theirs.value.body) == set(nobodys.value.body)
    with Client(secured.url, token=secured.alpha.member) as alpha:
        assert alpha.study(study_name).info["trial_counts"]["completed"] == 1  # beta changed nothing


def test_quotas_map_to_forbidden_and_to_a_retried_rate_limit(secured: Secured, study_name: str) -> None:
    """max_studies=1: a second study is 403 quota-exceeded (not retried); max_running_trials=1: a second
    ask is 429 running-trials-quota, raised with retries=0 and waited out (Retry-After) with retries."""
    with Client(secured.url, token=secured.capped.member, retries=0) as client:
        study = create(client, study_name)
        with pytest.raises(Forbidden) as over:
            create(client, f"{study_name}-2")
        assert_problem(over.value, Forbidden, 403, "quota-exceeded")
        [first] = study.ask()
        with pytest.raises(RateLimited) as busy:
            study.ask()
        assert_problem(busy.value, RateLimited, 429, "running-trials-quota")
    with Client(secured.url, token=secured.capped.member, retries=1) as client:
        waiting = client.study(study_name)
        finisher = threading.Timer(0.5, lambda: waiting.tell(first, 0.5))
        finisher.start()
        try:
            started = time.monotonic()
            [second] = waiting.ask()
            elapsed = time.monotonic() - started
        finally:
            finisher.join()
    assert second.number == 1
    assert elapsed >= 4.5  # it waited out Retry-After (5 s): a retry after its own short backoff gets 429 again


# --- optimize: the key in every worker thread, heartbeat thread and process ---------------------

def train(trial: Trial) -> float:
    """Long enough that heartbeats are sent while it runs (a module function: processes import it)."""
    time.sleep(TRAIN_S)
    value: float = (trial.params["x"] - 0.3) ** 2
    return value


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_optimize_carries_the_key_to_every_worker_and_heartbeat(secured: Secured, study_name: str,
                                                                processes: bool) -> None:
    with Client(secured.url, token=secured.alpha.member, retries=2) as client:
        study = create(client, study_name, heartbeat_timeout=HEARTBEAT_TIMEOUT_S)
        finished = study.optimize(train, 4, n_workers=2, processes=processes)
        stored = study.trials()
    assert sorted(t.number for t in finished) == [0, 1, 2, 3]
    assert [t.state for t in stored] == ["completed"] * 4, [(t.number, t.state, t.fail_reason) for t in stored]
    seen = [(e["method"], e["path"], e["status"]) for e in secured.requests_to(f"/v1/studies/{study_name}")]
    refused = [request for request in seen if request[2] in (401, 403)]
    assert not refused, refused
    beats = {int(path.split("/")[-2]) for _, path, status in seen if path.endswith("/heartbeat") and status < 300}
    assert beats == {0, 1, 2, 3}, seen  # every trial's heartbeat thread got through


# --- the `suggest` command ----------------------------------------------------------------------

def suggest(secured: Secured, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """`suggest --url URL ARGS`, with SUGGEST_TOKEN=`token` when given and no other SUGGEST_* setting."""
    env = server_environment(secured.workdir, {"SUGGEST_TOKEN": token} if token is not None else None)
    return subprocess.run([SUGGEST, "--url", secured.url, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_suggest_cli_takes_the_key_from_token_or_environment(secured: Secured, study_name: str) -> None:
    with Client(secured.url, token=secured.alpha.member) as client:
        create(client, study_name)
    made = run_cli(["keys", "create", "--team", secured.alpha.team, "--role", "read",
                    "--database-url", secured.database_url], secured.workdir)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sapi_") and "\n" not in key

    for result in (suggest(secured, "--token", key, "studies"),
                   suggest(secured, "studies", token=key),
                   suggest(secured, "--token", key, "studies", token=UNKNOWN_KEY)):  # the flag wins
        assert result.returncode == 0, result.stderr
        assert any(line.split()[0] == study_name for line in result.stdout.splitlines()[1:]), result.stdout
    shown = suggest(secured, "--token", key, "show", study_name)
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == study_name


@pytest.mark.parametrize("token", [None, UNKNOWN_KEY], ids=["no-token", "unknown-key"])
def test_the_suggest_cli_without_a_valid_key_says_so(secured: Secured, token: str | None) -> None:
    result = suggest(secured, "studies", token=token)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("suggest: 401"), result.stderr
    assert "key" in result.stderr.lower()
    assert UNKNOWN_KEY not in result.stderr and UNKNOWN_KEY[18:] not in result.stderr


# --- the key stays secret -----------------------------------------------------------------------

def secret_parts(key: str) -> list[str]:
    """The whole key and its secret half (the 12-hex id is public: it appears in 403 details)."""
    return [key, key.rsplit("_", 1)[1]]


def everything_said(error: BaseException) -> str:
    """What an exception can show: message, repr, args, fields, and the formatted chain with causes."""
    fields = {k: v for k, v in vars(error).items() if k != "__traceback__"}
    return "\n".join([str(error), repr(error), repr(error.args), repr(fields),
                      "".join(traceback.format_exception(error))])


def test_the_key_never_appears_in_logs_or_errors(secured: Secured, study_name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: suggest_client, and urllib3 beneath it
    keys: Mapping[str, str] = {"member": secured.alpha.member, "read": secured.alpha.read,
                               "other": secured.beta.member, "unknown": UNKNOWN_KEY}
    raised: list[BaseException] = []

    def flaky(method: str, path: str, seen: int) -> Fault:
        return (503, {"Retry-After": "0"}) if seen == 0 else None  # each first request is retried, and logged

    with proxy(secured.url, flaky) as front:
        with Client(front.url, token=keys["member"], retries=2) as member:
            study = create(member, study_name, heartbeat_timeout=0.3)
            with study.trial() as trial:
                time.sleep(0.3)  # a few heartbeats
                trial.value = 0.5
        for who, name in (("read", f"{study_name}-2"), ("unknown", study_name)):
            with Client(front.url, token=keys[who], retries=2) as client:
                try:
                    create(client, name)
                except SuggestError as error:
                    raised.append(error)
        with Client(front.url, token=keys["other"], retries=2) as other:
            for call in (lambda: other.study(study_name), lambda: Study(other.transport, study.info).best()):
                try:
                    call()
                except SuggestError as error:
                    raised.append(error)
    with Client(f"http://127.0.0.1:{free_port()}", token=keys["member"], retries=1, timeout=2.0) as nowhere:
        try:
            nowhere.studies()
        except SuggestError as error:
            raised.append(error)

    assert [type(e) for e in raised] == [Forbidden, Unauthorized, NotFound, NotFound, ConnectionFailed]
    client_records = [r for r in caplog.records if r.name == "suggest_client"]
    assert any("retrying" in r.getMessage() for r in client_records), "the retries were not logged"
    logged = "\n".join([caplog.text, *(r.getMessage() + repr(vars(r)) for r in caplog.records)])
    for who, key in keys.items():
        for part in secret_parts(key):
            assert part not in logged, f"the {who} key is in the log output"
            for shown in raised:
                assert part not in everything_said(shown), f"the {who} key is in {type(shown).__name__}"
    assert keys["member"][18:] not in repr(Client(secured.url, token=keys["member"]))

