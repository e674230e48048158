"""Every error is problem+json: Flask's own 404/405/413/415, malformed and non-strict JSON."""

from __future__ import annotations

import flask
import pytest
from flask.testing import FlaskClient

from suggest_api.app import create_app
from suggest_api.config import Limits, Settings
from tests.api.support import assert_problem, create, study_body


def test_unknown_route_is_a_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)


def test_no_such_route_is_a_404_whatever_the_body(client: FlaskClient) -> None:
    """A URL that matches no route (a negative trial number) is refused as such, before its body is read."""
    response = client.post("/v1/studies/s/trials/-1/report", data="{not json", content_type="application/json")
    assert_problem(response, 404)
    response = client.post("/v1/studies/s/trials/-1/report", data="x", content_type="text/plain")
    assert_problem(response, 404)


def test_wrong_method_is_a_problem_with_allow(client: FlaskClient) -> None:
    response = client.put("/v1/studies")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_non_json_body_is_415(client: FlaskClient) -> None:
    problem = assert_problem(client.post("/v1/studies", data="name=s", content_type="text/plain"), 415)
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize("raw", ['{"name": ', "[1, 2", '{"name": "s"} trailing', "\xff\xfe",
                                 '{"count": 1' + "0" * 5000 + "}"])
def test_malformed_json_is_400(client: FlaskClient, raw: str) -> None:
    create(client)
    assert_problem(client.post("/v1/studies/s/ask", data=raw.encode("latin-1"), content_type="application/json"),
                   400, "body")


def test_json_that_is_not_an_object_is_422(client: FlaskClient) -> None:
    assert_problem(client.post("/v1/studies", json=[1, 2]), 422)


def test_body_over_the_limit_is_413(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, limits=Limits(max_body_bytes=2048)))
    problem = assert_problem(app.test_client().post("/v1/studies", json=study_body(metadata={"x": "y" * 4096})),
                             413)
    assert "2048" in problem["detail"]
    app.extensions["suggest_api"].engine.dispose()


def test_limits_are_configurable(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url,
                              limits=Limits(max_count=3, max_params=2, max_name_length=8, max_choices=2)))
    client = app.test_client()
    assert_problem(client.post("/v1/studies", json=study_body("a-very-long-name")), 422, "name")
    assert_problem(client.post("/v1/studies", json=study_body("s")), 422)  # 4 params > 2
    space = {"params": [{"name": "x", "type": "categorical", "choices": ["a", "b"]}]}
    assert client.post("/v1/studies", json=study_body("s", space=space)).status_code == 201
    assert_problem(client.post("/v1/studies/s/ask", json={"count": 4}), 422, "count")
    assert client.post("/v1/studies/s/ask", json={"count": 3}).status_code == 201
    app.extensions["suggest_api"].engine.dispose()


def test_request_id_is_echoed_and_generated(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/v1/studies/missing").json["request_id"]
    assert len(generated) == 32


def test_health_never_needs_the_database(tmp_path: object) -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert_problem(client.get("/readyz"), 503)
    problem = assert_problem(client.get("/v1/studies"), 503)
    assert "password" not in problem["detail"] and "SELECT" not in problem["detail"]


def test_readiness_checks_the_schema(app: flask.Flask, client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["revision"] == app.extensions["suggest_api"].head_revision
    app.extensions["suggest_api"].shutting_down = True
    assert_problem(client.get("/readyz"), 503)


def test_openapi_documents_every_endpoint(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    paths = spec["paths"]
    expected = {
        "/v1/studies": {"get", "post"}, "/v1/studies/{name}": {"get", "delete"},
        "/v1/studies/{name}/ask": {"post"}, "/v1/studies/{name}/tell": {"post"},
        "/v1/studies/{name}/trials": {"get", "post"}, "/v1/studies/{name}/trials/{number}": {"get"},
        "/v1/studies/{name}/trials/{number}/heartbeat": {"post"},
        "/v1/studies/{name}/trials/{number}/report": {"post"}, "/v1/studies/{name}/best": {"get"},
        "/healthz": {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method].get("summary"), (path, method)
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in page
    with client.get("/docs/static/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and len(asset.get_data()) > 100_000


def test_a_stored_study_outlives_a_lower_limit(database_url: str) -> None:
    """Limits apply to new input; a study created under higher limits keeps working after a restart."""
    space = {"params": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(120)]}
    generous = create_app(Settings(database_url=database_url, limits=Limits(max_params=150)))
    assert generous.test_client().post("/v1/studies", json=study_body("s", space=space)).status_code == 201
    generous.extensions["suggest_api"].engine.dispose()
    default = create_app(Settings(database_url=database_url))  # max_params 100
    client = default.test_client()
    assert client.post("/v1/studies/s/ask", json={"count": 2}).status_code == 201
    params = client.get("/v1/studies/s/trials/0").json["params"]
    assert len(params) == 120
    assert client.post("/v1/studies/s/trials", json={"trials": [{"params": params}]}).status_code == 201
    assert_problem(client.post("/v1/studies", json=study_body("t", space=space)), 422)
    default.extensions["suggest_api"].engine.dispose()
