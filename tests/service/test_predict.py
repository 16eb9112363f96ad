"""POST /predict through TestClient: real face photos, the response shape, and every error case."""

from __future__ import annotations

import numpy as np
import pytest

from tests.service.conftest import ASTRONAUT_FACE, FER_LABELS, build_onnx, encode, iou, post_image


def test_astronaut_has_exactly_one_face_at_the_known_box(client, astronaut_jpeg):
    r = post_image(client, astronaut_jpeg)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert iou(face["box"], ASTRONAUT_FACE) >= 0.5
    assert list(face["probabilities"]) == list(FER_LABELS)
    assert abs(sum(face["probabilities"].values()) - 1.0) < 1e-5
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
    assert face["confidence"] == face["probabilities"][face["emotion"]]
    assert face["detector"]["name"] == "yunet" and 0.5 <= face["detector"]["score"] <= 1.0
    assert body["image"] == {"width": 512, "height": 512}
    assert body["model"] == {"name": "tiny-test-model", "version": "0.0.1"}
    assert set(body["timings_ms"]) == {"decode", "detect", "classify", "total"}


def test_every_format_is_read_from_its_bytes_not_its_name(client, astronaut):
    for fmt in ("PNG", "WEBP", "BMP", "JPEG"):
        r = post_image(client, encode(astronaut, fmt), name="photo.txt", content_type="text/plain")
        assert r.status_code == 200, (fmt, r.text)
        assert len(r.json()["faces"]) == 1, fmt


def test_no_face_is_an_empty_list_not_an_error(client):
    r = post_image(client, encode(np.full((240, 320, 3), 128, np.uint8)))
    assert r.status_code == 200
    assert r.json()["faces"] == []


def test_faces_come_largest_first_and_max_faces_keeps_the_largest(client, astronaut):
    import cv2

    face = astronaut[40:200, 140:310]
    canvas = np.full((500, 900, 3), 200, np.uint8)
    canvas[20:180, 20:190] = face
    big = cv2.resize(face, (255, 240))
    canvas[200:440, 400:655] = big
    body = post_image(client, encode(canvas)).json()
    areas = [f["box"]["w"] * f["box"]["h"] for f in body["faces"]]
    assert len(areas) == 2 and areas == sorted(areas, reverse=True)
    only = post_image(client, encode(canvas), max_faces=1).json()["faces"]
    assert len(only) == 1 and only[0]["box"] == body["faces"][0]["box"]
    small_ignored = post_image(client, encode(canvas), min_face_size=120).json()["faces"]
    big_box = body["faces"][0]["box"]
    assert len(small_ignored) == 1
    # min_face_size 120 lets the frame shrink to 20/120 (the face to ~23 px), where the box is less precise
    assert iou(small_ignored[0]["box"], (big_box["x"], big_box["y"], big_box["w"], big_box["h"])) > 0.6


def test_labels_come_from_the_models_metadata(make_app, tmp_path, astronaut_jpeg):
    from fastapi.testclient import TestClient

    labels = (*FER_LABELS, "contempt")
    with TestClient(make_app(model_path=build_onnx(tmp_path / "eight.onnx", labels=labels))) as c:
        face = post_image(c, astronaut_jpeg).json()["faces"][0]
        assert list(face["probabilities"]) == list(labels)
        assert c.get("/v1/model").json()["labels"] == list(labels)


def test_temperature_in_the_contract_is_applied(make_app, tmp_path, astronaut_jpeg):
    from fastapi.testclient import TestClient

    probs = {}
    for t in (1.0, 3.0):
        with TestClient(make_app(model_path=build_onnx(tmp_path / f"t{t}.onnx", temperature=t))) as c:
            probs[t] = post_image(c, astronaut_jpeg).json()["faces"][0]["probabilities"]
    p1, p3 = (np.array(list(probs[t].values())) for t in (1.0, 3.0))
    expected = p1 ** (1 / 3) / (p1 ** (1 / 3)).sum()  # softmax(log p / T)
    np.testing.assert_allclose(p3, expected, atol=2e-6)


def test_the_confidence_map_in_the_contract_is_applied_after_the_temperature(make_app, tmp_path, astronaut_jpeg):
    from fastapi.testclient import TestClient

    from model_contract import ConfidenceMap

    flat = ConfidenceMap((0.0, 1.0), (0.5, 0.5))  # every top label gets 0.5, whatever the model said
    answers = []
    for mapping in (None, flat):
        path = build_onnx(tmp_path / f"m{mapping is None}.onnx", temperature=0.1, confidence_map=mapping)
        with TestClient(make_app(model_path=path)) as c:
            answers.append(np.array(list(post_image(c, astronaut_jpeg).json()["faces"][0]["probabilities"].values())))
    plain, mapped = answers
    assert plain.argmax() == mapped.argmax() and plain.max() > 0.5
    assert mapped.max() == pytest.approx(0.5, abs=1e-6) and mapped.sum() == pytest.approx(1.0, abs=1e-6)
    others = np.delete(mapped, mapped.argmax()) / np.delete(plain, plain.argmax())
    np.testing.assert_allclose(others, others[0], rtol=1e-5)  # the rest keep their proportions


def test_query_limits_are_validated(client, astronaut_jpeg):
    for params in ({"max_faces": 0}, {"max_faces": 1000}, {"min_face_size": 0}, {"max_faces": "many"}):
        r = post_image(client, astronaut_jpeg, **params)
        assert r.status_code == 422, params
        assert r.json()["code"] == "invalid_parameter"
        assert r.json()["detail"]
