"""The HTTP front door's refusals: every bad request is a 4xx JSON error, a full queue a 503 with Retry-After.

No worker runs here: each request is decided by the door itself (the body,
the flow's input model, the runs table, the broker's confirm). The happy
path, with a worker, is in `test_cluster.py`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from distributed._http import MAX_BODY_BYTES, create_front_door, openapi
from distributed._settings import Settings

from .conftest import delete_layout, make_settings


@pytest.fixture
def door(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_front_door(settings), raise_server_exceptions=True) as client:
        yield client


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return dict(error)


def test_bad_requests_are_4xx_json_errors_never_500(door: TestClient) -> None:
    post = door.post
    assert error_of(post("/runs", content=b"{not json"), 400)["code"] == "invalid_json"
    assert error_of(post("/runs", content=b"[1, 2]"), 400)["code"] == "invalid_body"
    extra = error_of(post("/runs", json={"pattern": "routing", "colour": "red"}), 400)
    assert extra["param"] == "colour"
    assert error_of(post("/runs", json={"pattern": 7}), 400)["param"] == "pattern"
    assert error_of(post("/runs", content=b"{}" + b" " * MAX_BODY_BYTES), 413)["code"] == "body_too_large"

    assert "unknown pattern 'nope'" in error_of(post("/runs", json={"pattern": "nope"}), 422)["message"]
    assert "name a pattern" in error_of(post("/runs", json={}), 422)["message"]
    invalid = error_of(post("/runs", json={"pattern": "pipeline", "input": {"document": ""}}), 422)
    assert invalid["message"].startswith("invalid input for pipeline: document:")
    served = error_of(post("/runs", json={"flow": "os:path"}), 422)
    assert served["param"] == "flow" and "does not serve flow 'os:path'" in served["message"]
    assert (
        "without spaces"
        in error_of(post("/runs", json={"pattern": "routing", "thread_id": "a b"}), 422)["message"]
    )

    unknown = f"nobody-{uuid.uuid4().hex[:8]}"
    for response in (
        door.get(f"/runs/{unknown}"),
        door.get(f"/runs/{unknown}/result"),
        post(f"/runs/{unknown}/answer", json={"answer": "kafka"}),
    ):
        assert error_of(response, 404)["code"] == "unknown_run"
    assert error_of(post(f"/runs/{unknown}/answer", json={}), 400)["param"] == "answer"

    assert "POST /openapi.json" in error_of(post("/openapi.json"), 405)["message"]
    assert error_of(door.get("/nowhere"), 404)["message"].startswith("GET /nowhere")


def test_a_submitted_thread_cannot_be_submitted_again(door: TestClient) -> None:
    t = f"twice-{uuid.uuid4().hex[:8]}"
    first = door.post("/runs", json={"pattern": "routing", "thread_id": t, "tenant": "acme"})
    assert first.status_code == 202, first.text
    assert first.headers["location"] == f"/runs/{t}"
    assert first.json()["status"] == "queued" and first.json()["tenant"] == "acme"
    again = error_of(door.post("/runs", json={"pattern": "routing", "thread_id": t}), 409)
    assert "already submitted (queued)" in again["message"]
    # Nobody runs it here: not finished, and not waiting for an answer.
    assert error_of(door.get(f"/runs/{t}/result"), 409)["code"] == "run_queued"
    not_waiting = error_of(door.post(f"/runs/{t}/answer", json={"answer": "x"}), 409)
    assert "is not waiting for an answer (it is queued)" in not_waiting["message"]


@pytest.fixture
def tiny(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    settings = make_settings(rabbitmq_url, cluster_db, partitions=1, max_queued=1)
    yield settings
    delete_layout(settings)


def test_a_full_queue_is_503_with_retry_after(tiny: Settings) -> None:
    with TestClient(create_front_door(tiny)) as client:
        statuses = [client.post("/runs", json={"pattern": "routing"}) for _ in range(4)]
    codes = [r.status_code for r in statuses]
    # A quorum queue admits one message over its bound, then refuses every publish.
    assert codes[0] == 202 and 503 in codes and codes[codes.index(503) :] == [503] * (4 - codes.index(503))
    refused = statuses[-1]
    assert refused.headers["retry-after"] == "2"  # whole seconds, from ORCH_RETRY_AFTER
    error = error_of(refused, 503)
    assert error["type"] == "overloaded" and error["code"] == "queue_full"
    assert "is full" in error["message"] and "retry after 2 s" in error["message"]


def test_an_unreachable_database_is_503_not_500(rabbitmq_url: str) -> None:
    down = Settings(broker_url=rabbitmq_url, database_url="postgresql://postgres@127.0.0.1:1/none")
    with TestClient(create_front_door(down)) as client:
        response = client.get("/runs/anything")
    error = error_of(response, 503)
    assert error["code"] == "backend_unreachable" and response.headers["retry-after"]


def test_the_openapi_description_covers_every_route() -> None:
    spec = openapi()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {
        "/runs",
        "/runs/{thread_id}",
        "/runs/{thread_id}/result",
        "/runs/{thread_id}/answer",
    }
    assert {"SubmitRequest", "AnswerRequest", "Run", "ErrorResponse"} <= set(spec["components"]["schemas"])
    refs = json.dumps(spec).count('"$ref": "#/components/schemas/')
    assert refs and all(
        ref.split('"')[0] in spec["components"]["schemas"]
        for ref in json.dumps(spec).split('"$ref": "#/components/schemas/')[1:]
    )
    busy = spec["paths"]["/runs"]["post"]["responses"]["503"]
    assert "Retry-After" in busy["headers"]
