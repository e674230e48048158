"""Request bodies of every structure: each one under the size limit gets a 2xx or a problem+json 4xx, never a 5xx.

`test_no_body_structure_reaches_a_5xx` fuzzes (hypothesis, derandomized) every operation of the service's own
`/openapi.json` that takes a body, and a few that take none, in process, as deployed for many teams
(SUGGEST_AUTH=required, team alpha's admin key), on SQLite and on PostgreSQL. Paths aim at alpha's seeded study
"bench" and its trials, at "scratch" (a second study, which takes what bench must not: new trials, imports,
results), and at a missing study or trial. Bodies are odd in structure (nesting near and far beyond the limit,
100k-wide arrays and objects, duplicate keys, top-level scalars, empty), in encoding (BOM, UTF-16/32, invalid
UTF-8, charsets) or in one value of an otherwise valid body (huge and tiny numbers, long and escaped strings,
empty keys), so the odd value reaches the schema, the service and the database, not just the parser.

Every answer is below 500; every 4xx is problem+json whose `status` is the answer's and whose `detail` is not
empty; whatever a 2xx answer says it stored reads back exactly so; and after the run, bench, its trials and its
audit read back exactly as seeded (bench only receives requests that must leave it as it is: results it already
has, asks beyond the running-trials quota, reports and heartbeats for finished trials, its own definition).

The example tests below pin each refusal: its exact status and a detail that names the problem.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import flask
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.api.strict_json import MAX_DEPTH, BodyRefused, loads
from suggest_api.service.accounts import QuotaChange, set_quotas
from suggest_api.storage.database import transaction
from tests.api.support import ask, assert_problem, create, study_body, tell
from tests.support.teams import TeamKeys, bearer

BENCH = "bench"
SCRATCH = "scratch"
#: Parameter sets inside SPACE (tests/api/support.py): one with its conditional param, two without.
PARAMS: list[dict[str, Any]] = [{"lr": 0.01, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9},
                                {"lr": 1e-5, "batch_size": 256, "optimizer": "adam"},
                                {"lr": 0.1, "batch_size": 16, "optimizer": "rmsprop"}]
MISSING = "no-such-study"
MISSING_NUMBER = 10**6
RUNNING_QUOTA = 4  # bench runs 4 trials after seeding: any ask on it is refused, after its body is checked
MARK = "@@odd-value@@"
WIDE = 100_000
EXAMPLES = 1500  # per backend: about 20 s for both on a busy 2-core machine
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- odd JSON, as text: some of it (duplicate keys, 1e-400, 5000-digit ints, deep nesting) no dict can hold ------

def nested(depth: int, kind: str, leaf: str = "1") -> str:
    """`depth` levels of arrays, objects or both around `leaf`."""
    opening = {"list": "[", "object": '{"a":', "mixed": '[{"a":'}[kind]
    closing = {"list": "]", "object": "}", "mixed": "}]"}[kind]
    levels = depth if kind != "mixed" else depth // 2
    return opening * levels + leaf + closing * levels


ODD_NUMBERS = ["9" * 19, "9" * 20, "1" + "0" * 308, "-" + "9" * 3000, "9" * 4000, "9" * 4001, "1" * 5000,
               str(2**31), str(2**63), str(2**64), str(-(2**63) - 1), "1e308", "-1e308", "1.7976931348623157e308",
               "1e309", "1e-400", "5e-324", "-0.0", "0", "-1", "1E+400", "0.1e-2", "123456789.123456789e-7"]
ODD_STRINGS = ['""', '" "', '"' + "x" * WIDE + '"', '"\\ud800"', '"\\udfff x"', '"\\ud83d\\ude00"', '"\\u0000"',
               '"a\\u0000b"', '"\\u202e\\u200b"', '"é漢字🙂"', '"\\\\\\"\\/\\b\\f\\n\\r\\t"', '"a/b"', '"NaN"',
               '"1e999"', '"\\ufeff"', '"' + "\\u00e9" * 10_000 + '"']
ODD_CONTAINERS = ["null", "true", "false", "[]", "{}", '{"": 1}', '{"\\u0000": "\\u0000"}', '{"a": 1, "a": 2}',
                  '[{"x": {"y": 1, "y": 1}}]', "[" + ",".join(["1"] * WIDE) + "]", "[" + ",".join(["{}"] * WIDE) + "]",
                  "[" + ",".join(['"s"'] * WIDE) + "]", "{" + ",".join(f'"{i:x}":{i}' for i in range(WIDE)) + "}",
                  *(nested(depth, kind) for depth in (8, MAX_DEPTH - 4, MAX_DEPTH, MAX_DEPTH + 1, 1000)
                    for kind in ("list", "object", "mixed"))]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
FRAGMENTS = st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_STRINGS), st.sampled_from(ODD_CONTAINERS),
                      JSON_VALUES.map(json.dumps))
ODD_KEYS = st.sampled_from(["", "\x00", "unknown", "a.b", "\ud800", "x" * 1000, "__proto__", "é"])
WHOLE_BODIES = [b"", b" ", b"\n", b"null", b"0", b"-0.0", b"1e308", b"1e-400", b'"x"', b"true", b"[]", b"{}",
                b"[1,", b'{"a"', b"\xef\xbb\xbf", b"\xef\xbb\xbf{}", b"\x00", b"\xff\xfe", b"{}{}", b"[] []",
                *(nested(depth, kind).encode() for depth in (MAX_DEPTH, MAX_DEPTH + 1, 10_000, 100_000)
                  for kind in ("list", "object", "mixed")),
                ("[" * 300_000 + "]" * 300_000).encode(), ("[" + ",".join(["1"] * WIDE) + "]").encode(),
                ("{" + ",".join(f'"{i:x}":null' for i in range(WIDE)) + "}").encode()]
INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\x80"]
ENCODINGS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8",
              "application/merge-patch+json", "application/json; charset=utf-16", "application/json; charset=latin-1",
              "application/json; charset=\"utf-8\"", "application/json; charset=", "text/plain"]


@dataclass(frozen=True)
class Sent:
    data: bytes
    content_type: str = "application/json"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a template a value sits, the template itself included."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with `new` at `path` (a key missing at the end of the path is added)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [_put(child, rest, new) if i == head else child for i, child in enumerate(value)]
    return {**value, head: _put(value.get(head), rest, new)}


def _render(template: Any, path: tuple[Any, ...], fragment: str) -> bytes:
    return json.dumps(_put(template, path, MARK)).replace(json.dumps(MARK), fragment).encode()


def _objects(template: Any) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for path in _paths(template):
        node = template
        for key in path:
            node = node[key]
        if isinstance(node, dict):
            found.append(path)
    return found


@st.composite
def bodies(draw: st.DrawFn, template: Any, fixed: frozenset[str] = frozenset()) -> Sent:
    """One body for an operation whose valid body is `template` (None: it takes none); the top-level keys in
    `fixed` keep their value."""
    kinds = ["whole", "encoded", "content_type"] + (["replaced", "replaced", "added", "duplicate", "invalid_utf8",
                                                      "valid"] if template is not None else [])
    kind = draw(st.sampled_from(kinds))
    text = json.dumps(template if template is not None else {})
    if kind == "whole":
        return Sent(draw(st.sampled_from(WHOLE_BODIES)))
    if kind == "encoded":
        encoded = text.encode(draw(st.sampled_from(ENCODINGS)))
        return Sent(draw(st.sampled_from([encoded, codecs.BOM_UTF8 + text.encode()])))
    if kind == "content_type":
        return Sent(text.encode(), draw(st.sampled_from(JSON_TYPES)))
    if kind == "valid":
        return Sent(text.encode())
    paths = [path for path in _paths(template) if not path or path[0] not in fixed]
    if kind == "replaced":
        return Sent(_render(template, draw(st.sampled_from(paths)), draw(FRAGMENTS)))
    objects = _objects(template)
    where = draw(st.sampled_from(objects)) if objects else ()
    if kind == "added":
        return Sent(_render(template, (*where, draw(ODD_KEYS)), draw(FRAGMENTS)))
    if kind == "duplicate":  # a key of the object at `where` again: with its own value, or an odd one
        keys = [key for key in _at(template, where) if where or key not in fixed]
        key = draw(st.sampled_from(keys)) if keys else "k"
        again = draw(st.one_of(st.just(json.dumps(_at(template, where).get(key))), FRAGMENTS))
        text = json.dumps(_put(template, (*where, MARK), 0))
        return Sent(text.replace(f'"{MARK}": 0', f"{json.dumps(key)}: {again}").encode())
    broken = draw(st.sampled_from(INVALID_UTF8))  # invalid_utf8: in a string, or before the body
    inside = _render(template, draw(st.sampled_from(paths)), f'"{MARK}"')
    return Sent(draw(st.sampled_from([inside.replace(MARK.encode(), b"x" + broken + b"y"), broken + text.encode()])))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


# --- where the bodies go -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seeded:
    """Alpha's studies as the fuzzer finds them: bench (and what it must still read as at the end), scratch."""

    client: FlaskClient  # alpha's admin
    bench: dict[str, Any]
    finished: dict[int, dict[str, Any]]  # bench's finished trials, by number
    scratch_numbers: tuple[int, ...]


@dataclass(frozen=True)
class Request:
    operation_id: str
    method: str
    path: str
    template: Any  # a valid body, or None for an operation that takes none
    fixed: frozenset[str] = frozenset()  # its keys that must keep their value


def bench_as_it_is(client: FlaskClient) -> dict[str, Any]:
    """What no request of the fuzzer may change: bench, its trials and its audit trail."""
    seen: dict[str, Any] = {}
    for path in (f"/v1/studies/{BENCH}", f"/v1/studies/{BENCH}/trials?limit=1000",
                 f"/v1/studies/{BENCH}/audit?limit=1000"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.json)
        seen[path] = response.json
    return seen


def _operations(client: FlaskClient) -> dict[str, tuple[str, str]]:
    """operationId -> (method, path) of every operation of the document that takes a request body."""
    spec = client.get("/openapi.json").json
    return {op["operationId"]: (method.upper(), path) for path, item in spec["paths"].items()
            for method, op in item.items() if isinstance(op, dict) and "requestBody" in op}


def _document(name: str) -> dict[str, Any]:
    """A study document with a completed trial and its reports, a failed one and a queue."""
    study = {**study_body(name), "suggester": {"name": "random", "options": {}}, "heartbeat_timeout": 60.0,
             "metadata": {"k": "v"}, "created_at": "2026-01-02T03:04:05+00:00", "suggested": 2}
    trials = [{"number": 0, "state": "completed", "params": PARAMS[0], "value": 0.25, "metadata": {"k": [1, None]},
               "created_at": "2026-01-02T03:05:00+00:00", "finished_at": "2026-01-02T03:06:00+00:00",
               "intermediate": [{"step": 1, "value": 0.5, "best": 0.5}, {"step": 2, "value": 0.3}]},
              {"number": 1, "state": "failed", "params": PARAMS[1], "fail_reason": "stale",
               "created_at": "2026-01-02T03:07:00+00:00"}]
    return {"format": "suggest-api.study", "version": 1, "study": study, "trials": trials,
            "queue": [{"params": PARAMS[2], "metadata": None}]}


def _tell_body(trial: dict[str, Any]) -> dict[str, Any]:
    return {"number": trial["number"], "value": trial["value"], "state": trial["state"]}


@st.composite
def requests(draw: st.DrawFn, seeded: Seeded, operations: dict[str, tuple[str, str]]) -> Request:
    """An operation, its path aimed at bench (when that cannot change it), scratch or nothing, and a valid body."""
    name = draw(st.sampled_from([BENCH, BENCH, SCRATCH, SCRATCH, MISSING]))
    on_bench = name == BENCH
    number = draw(st.sampled_from([*(seeded.finished if on_bench else seeded.scratch_numbers), MISSING_NUMBER]))
    tell = _tell_body(seeded.finished[number]) if on_bench and number in seeded.finished else \
        {"number": number, "value": 0.5, "metadata": {"k": "v", "nested": [1, {"x": None}]}}
    new_study = study_body(f"fuzzed-{draw(st.integers(0, 9))}", heartbeat_timeout=60.0, pruner=None,
                           suggester={"name": "random", "options": {}}, metadata={"k": "v", "list": [1, 2.5]})
    templates: dict[str, tuple[str, Any]] = {
        "create_study": ("/v1/studies", study_body(BENCH) if on_bench else new_study),
        "ask": (f"/v1/studies/{name}/ask", {"count": draw(st.integers(1, 2)), "client_id": "worker-1"}),
        "tell": (f"/v1/studies/{name}/tell", tell),
        "add_trials": (f"/v1/studies/{SCRATCH if on_bench else name}/trials", {"trials": [
            {"params": PARAMS[0], "metadata": {"k": "v"}}, {"params": PARAMS[1], "value": 0.4},
            {"params": PARAMS[2], "state": "failed"}]}),
        "report": (f"/v1/studies/{name}/trials/{number}/report", {"step": 3, "value": 0.5}),
        "create_key": ("/v1/keys", {"role": "read", "label": "fuzzed key"}),
        "import_study": ("/v1/studies:import", _document(f"imported-{draw(st.integers(0, 9))}")),
    }
    assert set(operations) == set(templates), "every operation with a body needs a template here"
    without_body = [("GET", f"/v1/studies/{name}"), ("POST", f"/v1/studies/{name}/trials/{number}/heartbeat"),
                    ("DELETE", "/v1/keys/0123456789ab"), ("GET", "/v1/team"), ("DELETE", f"/v1/studies/{MISSING}")]
    choice = draw(st.sampled_from([*sorted(operations), "none"]))
    if choice == "none":
        method, path = draw(st.sampled_from(without_body))
        return Request("none", method, path, None)
    path, template = templates[choice]
    # A tell aimed at one of bench's finished trials must stay aimed at it: another number could finish a running one.
    fixed = frozenset({"number"}) if choice == "tell" and on_bench else frozenset()
    return Request(choice, operations[choice][0], path, template, fixed)


def check_answer(client: FlaskClient, request: Request, response: Any) -> None:
    """Below 500; a 4xx is a problem document; what a 2xx says it stored reads back exactly so."""
    assert response.status_code < 500, (request, response.status_code, response.get_data(as_text=True)[:2000])
    if response.status_code >= 400:
        assert_problem(response, response.status_code)
        return
    for path, answered in _stored(request, response.json):
        again = client.get(path)
        assert again.status_code == 200 and again.json == answered, (request, path)


def _stored(request: Request, body: Any) -> list[tuple[str, Any]]:
    """Where each study or trial a 2xx answer shows can be read back, with what the answer says it is."""
    if request.operation_id in ("create_study", "import_study"):
        return [(f"/v1/studies/{quote(body['name'], safe='')}", body)]
    if request.operation_id == "ask":
        trials = body["trials"]
    elif request.operation_id == "add_trials":
        trials = body["imported"]
    elif isinstance(body, dict) and "number" in body:  # tell, heartbeat
        trials = [body]
    else:
        return []
    study = request.path.split("/")[3]
    return [(f"/v1/studies/{study}/trials/{trial['number']}", trial) for trial in trials]


def keyed(app: flask.Flask, key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(key)["Authorization"]
    return client


def seed(client: FlaskClient) -> None:
    """Bench: trials 0-2 completed, failed, pruned; 3-6 running (3 with reports); 7, 8 imported (completed,
    failed); one parameter set enqueued. Scratch: 3 running trials."""
    create(client, BENCH)
    completed, failed, pruned, reported, *_ = (trial["number"] for trial in ask(client, BENCH, count=7))
    for number, result in ((completed, {"value": 0.25}), (failed, {"state": "failed"}),
                           (pruned, {"value": 0.5, "state": "pruned"})):
        assert tell(client, number, name=BENCH, **result).status_code == 200
    for step, value in enumerate((0.9, 0.7)):
        report = client.post(f"/v1/studies/{BENCH}/trials/{reported}/report", json={"step": step, "value": value})
        assert report.status_code == 200, report.json
    added = client.post(f"/v1/studies/{BENCH}/trials", json={"trials": [
        {"params": PARAMS[0]}, {"params": PARAMS[1], "value": 0.4}, {"params": PARAMS[2], "state": "failed"}]})
    assert added.status_code == 201, added.json
    create(client, SCRATCH)
    ask(client, SCRATCH, count=3)


@pytest.fixture
def seeded(secured_app: flask.Flask, alpha: TeamKeys) -> Seeded:
    """Bench and scratch, made by alpha's member; then a running-trials quota of 4: bench runs 4, so an ask on it
    is refused (429) after its body was read and checked."""
    seed(keyed(secured_app, alpha.member))
    with transaction(secured_app.extensions["suggest_api"].sessions, write=True) as session:
        set_quotas(session, alpha.team, QuotaChange(max_running_trials=RUNNING_QUOTA))
    admin = keyed(secured_app, alpha.admin)
    bench = bench_as_it_is(admin)
    finished = {t["number"]: t for t in bench[f"/v1/studies/{BENCH}/trials?limit=1000"]["trials"]
                if t["state"] != "running"}
    assert len(finished) == 5 and bench[f"/v1/studies/{BENCH}"]["trial_counts"]["running"] == RUNNING_QUOTA
    return Seeded(admin, bench, finished, (0, 1, 2, 3))


def test_no_body_structure_reaches_a_5xx(seeded: Seeded) -> None:
    client = seeded.client
    operations = _operations(client)

    @FUZZ_SETTINGS
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        request = data.draw(requests(seeded, operations), label="request")
        sent = data.draw(bodies(request.template, request.fixed), label="body")
        response = client.open(request.path, method=request.method, data=sent.data, content_type=sent.content_type)
        check_answer(client, request, response)

    fuzz()
    assert bench_as_it_is(client) == seeded.bench


# --- examples: each refusal's exact status, and a detail that names the problem ------------------------------------

def post_raw(client: FlaskClient, path: str, data: bytes | str, content_type: str = "application/json") -> Any:
    return client.post(path, data=data.encode() if isinstance(data, str) else data, content_type=content_type)


def json_with(body: Any, text: str) -> str:
    """`body` as JSON text, with the raw JSON `text` where it holds MARK."""
    return json.dumps(body).replace(json.dumps(MARK), text)


@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
                                 nested(MAX_DEPTH + 1, "list"), nested(MAX_DEPTH + 2, "mixed"),
                                 nested(1000, "object"), "[" * 100_000])
def test_nesting_beyond_the_limit_is_a_400_naming_it(client: FlaskClient, raw: str) -> None:
    problem = assert_problem(post_raw(client, "/v1/studies", raw), 400, "body")
    assert f"limit of {MAX_DEPTH}" in problem["detail"] and "levels deep" in problem["detail"]


def test_nesting_up_to_the_limit_is_stored_as_given(client: FlaskClient) -> None:
    """Metadata nested to the limit (the body and metadata are 2 of the levels); one more level is refused."""
    deepest = json.loads(nested(MAX_DEPTH - 2, "list"))
    created = client.post("/v1/studies", json=study_body(metadata={"a": deepest}))
    assert created.status_code == 201, created.json
    assert client.get("/v1/studies/s").json["metadata"] == {"a": deepest}
    too_deep = post_raw(client, "/v1/studies", json_with(study_body("t", metadata={"a": [MARK]}),
                                                   nested(MAX_DEPTH - 2, "list")))
    assert f"{MAX_DEPTH + 1} levels deep" in assert_problem(too_deep, 400, "body")["detail"]


def test_brackets_inside_strings_are_not_nesting(client: FlaskClient) -> None:
    metadata = {"text": "[{" * 1000 + '\\"[' * 100, "quote": '\\', "more": "]]}" * 10}
    created = client.post("/v1/studies", json=study_body(metadata=metadata))
    assert created.status_code == 201 and created.json["metadata"] == metadata


MiB = 1024 * 1024


def _fill(unit: str) -> bytes:
    return ("[" + ",".join([unit] * ((MiB - 2) // (len(unit) + 1))) + "]").encode()


SHAPES = {
    "deep lists": ("[" * (MiB // 2) + "]" * (MiB // 2)).encode(), "deep objects": nested(MiB // 6, "object").encode(),
    "deep mixed": nested(MiB // 4 - 2, "mixed").encode(),
    "chains at the limit": _fill(nested(MAX_DEPTH - 1, "list", "")),
    "chains above the limit": _fill(nested(MAX_DEPTH, "list", "")), "empty arrays": _fill("[]"),
    "empty objects": _fill("{}"), "small objects": _fill('{"a":1}'), "duplicate keys": _fill('{"a":1,"a":1}'),
    "ints": _fill("1"), "floats": _fill("1.5"), "large floats": _fill("1e300"), "long ints": _fill("9" * 3000),
    "strings": _fill('"a"'), "one long string": b'"' + b"x" * (MiB - 2) + b'"',
    "escaped quotes": b'"' + b'\\"' * (MiB // 2 - 1) + b'"', "brackets in a string": b'"' + b"[" * (MiB - 2) + b'"',
    "wide object": ("{" + ",".join(f'"{i:x}":1' for i in range(MiB // 10)) + "}").encode(),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_1_mib_body_of_any_shape_is_read_or_refused_at_once(shape: str) -> None:
    """Measured on a busy 2-core machine: 1-80 ms each (a plain json.loads of the same takes up to 300 ms, most of
    it in the garbage collector); the bound is loose, to catch work that grows faster than the body."""
    data = SHAPES[shape]
    assert len(data) <= MiB
    fastest = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        try:
            loads(data)
        except BodyRefused:
            pass
        fastest = min(fastest, time.perf_counter() - started)
    assert fastest < 0.25, f"{shape}: {fastest * 1000:.0f} ms"


@pytest.mark.parametrize(("raw", "field"), [
    ('{"name": "a", "name": "b"}', "name"),
    (json.dumps(study_body()).replace('"type": "float"', '"type": "float", "type": "int"', 1), "space.params[0].type"),
    (json_with(study_body(metadata={"run": MARK}), '{"": 1, "": 2}'), 'metadata.run[""]'),
    (json_with(study_body(metadata={"list": [{}, MARK]}), '{"a b": 1, "a b": 1}'), 'metadata.list[1]["a b"]'),
])
def test_a_duplicate_key_is_a_400_naming_it_and_its_path(client: FlaskClient, raw: str, field: str) -> None:
    problem = assert_problem(post_raw(client, "/v1/studies", raw), 400, field)
    assert "twice" in problem["detail"] and field in problem["detail"]
    assert client.get("/v1/studies").json["studies"] == []


def test_a_utf8_byte_order_mark_is_ignored(client: FlaskClient) -> None:
    created = post_raw(client, "/v1/studies", codecs.BOM_UTF8 + json.dumps(study_body()).encode())
    assert created.status_code == 201, created.json
    asked = post_raw(client, "/v1/studies/s/ask", codecs.BOM_UTF8 + b'{"count": 2}')
    assert asked.status_code == 201 and len(asked.json["trials"]) == 2


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_utf16_and_utf32_bodies_are_a_400_that_asks_for_utf8(client: FlaskClient, encoding: str) -> None:
    problem = assert_problem(post_raw(client, "/v1/studies", json.dumps(study_body()).encode(encoding)), 400, "body")
    assert encoding[:6].upper() in problem["detail"] and "UTF-8" in problem["detail"]


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "ISO-8859-1", "us-ascii"])
def test_a_charset_other_than_utf8_is_a_415(client: FlaskClient, charset: str) -> None:
    response = post_raw(client, "/v1/studies", json.dumps(study_body()), f"application/json; charset={charset}")
    problem = assert_problem(response, 415, "Content-Type")
    assert "UTF-8" in problem["detail"] and f"charset={charset}" in problem["detail"]


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
def test_a_utf8_charset_is_accepted(client: FlaskClient, charset: str) -> None:
    response = post_raw(client, "/v1/studies", json.dumps(study_body()), f"application/json; charset={charset}")
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("broken", INVALID_UTF8)
def test_invalid_utf8_is_a_400_naming_the_byte(client: FlaskClient, broken: bytes) -> None:
    raw = json.dumps(study_body(metadata={"note": MARK})).encode().replace(MARK.encode(), broken)
    problem = assert_problem(post_raw(client, "/v1/studies", raw), 400, "body")
    assert "not valid UTF-8" in problem["detail"] and f"0x{broken[0]:02x}" in problem["detail"]


HUGE = "1" + "0" * 3000


def float_param_with(**keys: Any) -> dict[str, Any]:
    """A study body whose space is one float param, in [0, 10] unless `keys` say otherwise."""
    return study_body(space={"params": [{"name": "x", "type": "float", "low": 0, "high": 10, **keys}]})


@pytest.mark.parametrize(("path", "text", "field"), [
    ("/v1/studies", json_with(float_param_with(step=MARK), HUGE), "params[0].step"),
    ("/v1/studies", json_with(float_param_with(step=MARK), "-" + HUGE), "params[0].step"),
    ("/v1/studies", json_with(float_param_with(high=MARK), HUGE), "params[0].high"),
    ("/v1/studies", json_with(study_body(seed=MARK), HUGE), "seed"),
    ("/v1/studies", json_with(study_body(heartbeat_timeout=MARK), HUGE), "heartbeat_timeout"),
    ("/v1/studies/s/trials", json_with({"trials": [{"params": {**PARAMS[1], "lr": MARK}}]}, HUGE),
     "trials[0].params.lr"),
    ("/v1/studies/s/trials", json_with({"trials": [{"params": PARAMS[1], "value": MARK}]}, HUGE), "value"),
    ("/v1/studies/s/tell", json_with({"number": MARK, "value": 1}, HUGE), "number"),
    ("/v1/studies/s/tell", json_with({"number": 0, "value": MARK}, HUGE), "value"),
    ("/v1/studies/s/ask", json_with({"count": MARK}, HUGE), "count"),
    ("/v1/studies/s/trials/0/report", json_with({"step": MARK, "value": 1}, HUGE), "step"),
    ("/v1/studies/s/trials/0/report", json_with({"step": 1, "value": MARK}, "-" + HUGE), "value"),
])
def test_a_3000_digit_number_is_a_422_naming_its_field(client: FlaskClient, path: str, text: str, field: str) -> None:
    create(client)
    ask(client)
    problem = assert_problem(post_raw(client, path, text), 422)
    assert field in json.dumps(problem["errors"]), problem
    assert client.get("/v1/studies/s/trials").json["trials"][0]["state"] == "running"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/studies", study_body("a\x00b"), "name"),
    ("/v1/studies", study_body("\ud800"), "name"),
    ("/v1/studies", study_body("x" * WIDE), "name"),
    ("/v1/studies", study_body("t", objective={"name": "loss\x00", "goal": "minimize"}), "objective.name"),
    ("/v1/studies", study_body("t", space={"params": [{"name": "\x00", "type": "categorical", "choices": [1]}]}),
     "params[0].name"),
    ("/v1/studies", study_body("t", space={"params": [{"name": f"p{i}", "type": "int", "low": 0, "high": 1}
                                                      for i in range(WIDE // 10)]}), "params"),
    ("/v1/studies", study_body("t", space={"params": [{"name": "c", "type": "categorical",
                                                       "choices": list(range(WIDE))}]}), "params[0].choices"),
    ("/v1/studies/s/ask", {"client_id": "worker\x00"}, "client_id"),
    ("/v1/studies/s/ask", {"client_id": "\udfff"}, "client_id"),
    ("/v1/keys", {"role": "read", "label": "ci\x00"}, "label"),
])
def test_odd_strings_and_wide_lists_are_a_422_naming_the_field(client: FlaskClient, path: str, body: dict[str, Any],
                                                               field: str) -> None:
    create(client)
    problem = assert_problem(client.post(path, data=json.dumps(body), content_type="application/json"), 422, field)
    assert problem["detail"]


def test_odd_metadata_is_stored_and_read_back_exactly(client: FlaskClient) -> None:
    """Metadata is any JSON object (within its size limit): NUL, lone surrogates, empty keys, 3000-digit integers,
    10k-wide arrays and tiny or negative-zero floats are stored and answered as given (PostgreSQL's JSON keeps
    them as text)."""
    metadata = {"": [1] * (WIDE // 10), "\x00key": "\x00", "\ud800": "\udfff", "big": int(HUGE), "zero": -0.0,
                "unicode": "é漢字🙂\u202e", "nested": {"a": [{"b": None}]}}
    text = json.dumps(study_body(metadata=metadata)).replace('"zero": -0.0', '"zero": -0.0, "tiny": 1e-400')
    created = post_raw(client, "/v1/studies", text)
    assert created.status_code == 201, created.json
    expected = {**metadata, "tiny": 0.0}
    assert created.json["metadata"] == expected and client.get("/v1/studies/s").json["metadata"] == expected
    trial = ask(client)[0]
    told = client.post("/v1/studies/s/tell", json={"number": trial["number"], "value": 5e-324, "metadata": metadata})
    assert told.status_code == 200, told.json
    assert client.get(f"/v1/studies/s/trials/{trial['number']}").json == told.json
    assert told.json["metadata"] == metadata and told.json["value"] == 5e-324
