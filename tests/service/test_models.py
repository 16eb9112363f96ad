"""Several models served at once: ?model=NAME, GET /v1/models, unknown names, and the default rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_contract import ModelContract
from service.catalog import choose_default
from tests.service.conftest import FER_LABELS, build_onnx, post_image

FERPLUS8 = (*FER_LABELS, "contempt")


def _training(public: float, ms: float | None, source: str = "fer2013") -> dict[str, Any]:
    latency = None if ms is None else {"ms_per_face": ms, "batch": 1, "threads": 1, "hardware": "test"}
    return {"protocol": "official", "label_source": source, "latency": latency,
            "metrics": {"PublicTest": {"accuracy": public}, "PrivateTest": {"accuracy": 0.99}}}


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    build_onnx(folder / "fast.onnx", name="fast", training=_training(0.60, 1.5))
    build_onnx(folder / "accurate.onnx", name="accurate", training=_training(0.70, 9.0))
    build_onnx(folder / "plus8.onnx", labels=FERPLUS8, name="plus8", training=_training(0.85, 1.0, "ferplus8"))
    (folder / "detectors").mkdir()  # sub-folders (the face detectors) are not emotion models
    return folder


def test_every_model_in_the_folder_is_listed_and_the_fast_accurate_one_is_the_default(make_app, models_dir):
    with TestClient(make_app(model_path=None, models_dir=models_dir)) as c:
        listing = c.get("/v1/models")
        assert listing.status_code == 200
        body = listing.json()
        assert body["default"] == "fast"  # "accurate" is more accurate but over 3 ms per face
        by_name = {m["name"]: m for m in body["models"]}
        assert set(by_name) == {"fast", "accurate", "plus8"}
        assert by_name["plus8"]["labels"] == list(FERPLUS8)
        assert by_name["accurate"]["latency"]["ms_per_face"] == 9.0
        assert by_name["fast"]["training"]["metrics"]["PublicTest"]["accuracy"] == 0.60
        assert by_name["fast"]["input"]["height"] == 48
        assert [m["default"] for m in body["models"]].count(True) == 1
        assert c.get("/v1/model").json()["name"] == "fast"  # /v1/model keeps describing the default


def test_predict_uses_the_model_named_in_the_query(make_app, models_dir, astronaut_jpeg):
    with TestClient(make_app(model_path=None, models_dir=models_dir)) as c:
        default = post_image(c, astronaut_jpeg).json()
        chosen = post_image(c, astronaut_jpeg, model="plus8").json()
    assert default["model"]["name"] == "fast" and chosen["model"]["name"] == "plus8"
    assert len(default["faces"]) == len(chosen["faces"]) == 1
    assert list(chosen["faces"][0]["probabilities"]) == list(FERPLUS8)  # contempt included
    assert abs(sum(chosen["faces"][0]["probabilities"].values()) - 1.0) < 1e-5
    assert list(default["faces"][0]["probabilities"]) == list(FER_LABELS)


def test_an_unknown_model_is_a_404_with_a_code(make_app, models_dir, astronaut_jpeg):
    with TestClient(make_app(model_path=None, models_dir=models_dir)) as c:
        r = post_image(c, astronaut_jpeg, model="nope")
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_model" and "fast" in r.json()["detail"]


def test_an_unknown_model_on_a_stream_is_an_error_message_then_a_policy_close(make_app, models_dir):
    from starlette.websockets import WebSocketDisconnect

    with TestClient(make_app(model_path=None, models_dir=models_dir)) as c, \
            c.websocket_connect("/ws/stream?model=nope") as ws:
        message = ws.receive_json()
        assert message["type"] == "error" and message["code"] == "unknown_model"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008


def test_a_stream_answers_with_the_model_named_in_the_query(make_app, models_dir, astronaut_jpeg):
    with TestClient(make_app(model_path=None, models_dir=models_dir)) as c, \
            c.websocket_connect("/ws/stream?model=plus8") as ws:
        ws.send_bytes(astronaut_jpeg)
        answer = ws.receive_json()
    assert answer["type"] == "prediction"
    assert list(answer["faces"][0]["probabilities"]) == list(FERPLUS8)


def test_fer_models_names_a_subset_and_fer_default_model_overrides_the_rule(make_app, models_dir):
    with TestClient(make_app(model_path=None, models_dir=models_dir, models=["accurate", "plus8"],
                             default_model="plus8")) as c:
        body = c.get("/v1/models").json()
    assert body["default"] == "plus8" and [m["name"] for m in body["models"]] == ["accurate", "plus8"]


def test_a_default_model_that_is_not_served_leaves_the_service_not_ready(make_app, models_dir):
    with TestClient(make_app(model_path=None, models_dir=models_dir, default_model="missing")) as c:
        assert c.get("/readyz").status_code == 503
        assert "missing" in c.app.state.service.problem


def test_two_models_with_one_name_are_refused(make_app, tmp_path):
    folder = tmp_path / "twins"
    folder.mkdir()
    for stem in ("a", "b"):
        build_onnx(folder / f"{stem}.onnx", name="same", training=_training(0.5, 1.0))
    with TestClient(make_app(model_path=None, models_dir=folder)) as c:
        assert c.get("/readyz").status_code == 503
        assert "both named 'same'" in c.app.state.service.problem


def _contract(name: str, **training: Any) -> ModelContract:
    return ModelContract(name=name, version="1", labels=FER_LABELS, training=_training(**training))


def test_the_default_rule_ranks_by_selection_accuracy_never_by_private_test():
    contracts = {"a": _contract("a", public=0.66, ms=2.0), "b": _contract("b", public=0.65, ms=2.9)}
    contracts["b"].training["metrics"]["PrivateTest"]["accuracy"] = 1.0  # must not matter
    assert choose_default(contracts, None, 3.0) == "a"
    assert choose_default(contracts, None, 2.5) == "a"
    assert choose_default(contracts, None, 1.0) == "a"  # none fast enough: the fastest


def test_the_default_rule_prefers_fer2013_models_and_falls_back_to_the_fastest():
    contracts = {"plus": _contract("plus", public=0.9, ms=1.0, source="ferplus8"),
                 "slow": _contract("slow", public=0.7, ms=12.0), "slower": _contract("slower", public=0.8, ms=20.0)}
    assert choose_default(contracts, None, 3.0) == "slow"
    assert choose_default({"x": _contract("x", public=0.5, ms=None), "w": _contract("w", public=0.4, ms=None)},
                          None, 3.0) == "w"


def test_only_the_default_stays_open_and_another_opens_on_its_first_request(make_app, models_dir, astronaut_jpeg):
    app = make_app(model_path=None, models_dir=models_dir)
    with TestClient(app) as c:
        pipelines = app.state.service.pipelines
        assert {n: p.classifier.loaded for n, p in pipelines.items()} == {"fast": True, "accurate": False,
                                                                         "plus8": False}
        assert c.get("/v1/models").status_code == 200  # listing needs only the contracts
        assert not pipelines["plus8"].classifier.loaded
        r = post_image(c, astronaut_jpeg, model="plus8")
        assert r.status_code == 200 and list(r.json()["faces"][0]["probabilities"]) == list(FERPLUS8)
        assert pipelines["plus8"].classifier.loaded and not pipelines["accurate"].classifier.loaded


def test_preload_all_keeps_every_model_open(make_app, models_dir):
    app = make_app(model_path=None, models_dir=models_dir, preload_models="all")
    with TestClient(app):
        assert all(p.classifier.loaded for p in app.state.service.pipelines.values())


def test_a_model_file_changed_after_start_is_a_503_not_another_model(make_app, models_dir, astronaut_jpeg):
    app = make_app(model_path=None, models_dir=models_dir)
    with TestClient(app) as c:
        build_onnx(models_dir / "plus8.onnx", labels=FER_LABELS, name="plus8", training=_training(0.5, 1.0))
        r = post_image(c, astronaut_jpeg, model="plus8")
        assert r.status_code == 503 and r.json()["code"] == "model_not_ready"
        assert post_image(c, astronaut_jpeg).status_code == 200  # the default is unaffected
