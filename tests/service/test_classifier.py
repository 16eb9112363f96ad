"""Loading the model (and refusing bad ones), cropping faces, one batched onnxruntime call."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model_contract import InputSpec, ModelContract
from service.classifier import CHUNK, EmotionClassifier, ModelLoadError
from service.detectors import Box
from tests.service.conftest import FER_LABELS, build_onnx


def test_bad_model_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        EmotionClassifier.load(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf" * 10)
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        EmotionClassifier.load(junk)
    good = build_onnx(tmp_path / "good.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        EmotionClassifier.load(truncated)
    with pytest.raises(ModelLoadError, match="no 'fer_contract' metadata"):
        EmotionClassifier.load(build_onnx(tmp_path / "bare.onnx", contract=False))


def test_contract_that_does_not_match_the_graph_is_refused(tmp_path):
    wrong_size = ModelContract(name="m", version="1", labels=FER_LABELS, input=InputSpec(height=64, width=64))
    with pytest.raises(ModelLoadError, match="input shape"):
        EmotionClassifier.load(build_onnx(tmp_path / "a.onnx", contract=wrong_size))
    with pytest.raises(ModelLoadError, match="7 labels"):
        EmotionClassifier.load(build_onnx(tmp_path / "b.onnx", out_classes=8))


def test_all_faces_of_an_image_are_classified_in_one_session_call(tmp_path, astronaut):
    clf = EmotionClassifier.load(build_onnx(tmp_path / "m.onnx"))
    calls = []
    real_run = clf.session.run
    clf.session = type("Spy", (), {"run": lambda self, *a: calls.append(a[1]["image"].shape) or real_run(*a),
                                    "get_inputs": clf.session.get_inputs})()
    gray = astronaut.mean(axis=2).astype(np.uint8)
    boxes = [Box(177, 67, 96, 96), Box(0, 0, 10, 30), Box(500, 500, 12, 12)]
    batch = clf.crops(gray, None, boxes)
    assert batch.shape == (3, 48, 48, 1) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 255  # raw 0-255: normalisation is inside the model
    probs = clf.classify(batch)
    assert calls == [(3, 48, 48, 1)]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.classify(batch[:0]).shape == (0, 7)


def test_many_faces_go_through_the_session_in_chunks_with_the_same_answers(tmp_path):
    clf = EmotionClassifier.load(build_onnx(tmp_path / "m.onnx"))
    faces = np.random.default_rng(3).integers(0, 256, (CHUNK * 2 + 3, 48, 48, 1)).astype(np.float32)
    one_by_one = np.concatenate([clf.classify(faces[i:i + 1]) for i in range(len(faces))])
    calls = []
    real_run = clf.session.run
    clf.session = type("Spy", (), {"run": lambda self, *a: calls.append(len(a[1]["image"])) or real_run(*a),
                                    "get_inputs": clf.session.get_inputs})()
    together = clf.classify(faces)
    assert calls == [CHUNK, CHUNK, 3]
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-6)


def test_alignment_levels_the_eyes_of_a_tilted_face(tmp_path):
    import cv2

    from bench.photos import grace_hopper
    from service.detectors import YuNetDetector

    photo = grace_hopper()
    clf = EmotionClassifier.load(build_onnx(tmp_path / "m.onnx"))
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    (upright,) = YuNetDetector().detect(gray, photo, 20)  # min_size 20: detected at full resolution
    reference = clf.crops(gray, None, [upright])[0]
    centre = (upright.x + upright.w / 2, upright.y + upright.h / 2)
    m = cv2.getRotationMatrix2D(centre, 20, 1.0)  # tilt the head by 20 degrees
    tilted_rgb = cv2.warpAffine(photo, m, (photo.shape[1], photo.shape[0]), borderMode=cv2.BORDER_REFLECT)
    tilted = cv2.cvtColor(tilted_rgb, cv2.COLOR_RGB2GRAY)
    (box,) = YuNetDetector().detect(tilted, tilted_rgb, 20)
    plain, aligned = clf.crops(tilted, None, [box], align=False)[0], clf.crops(tilted, None, [box], align=True)[0]
    assert np.abs(aligned - reference).mean() < 0.75 * np.abs(plain - reference).mean()


def test_the_contracts_crop_rule_cuts_a_square_about_the_box_and_repeats_the_border(tmp_path):
    from model_contract import CropSpec, InputSpec, ModelContract

    contract = ModelContract(name="sq", version="1", labels=FER_LABELS, input=InputSpec(),
                             crop=CropSpec("square", 1.5, 0.0))
    clf = EmotionClassifier.load(build_onnx(tmp_path / "sq.onnx", contract=contract))
    gray = np.arange(100 * 120, dtype=np.float64).reshape(100, 120)
    gray = (gray * 255 / gray.max()).astype(np.uint8)
    box = Box(4, 30, 40, 20)  # wide box at the left edge: the 60 px square about (24, 40) reaches 6 px past it
    (crop,) = clf.crops(gray, None, [box])
    side = 60
    padded = cv2.copyMakeBorder(gray, 0, 0, 6, 0, cv2.BORDER_REPLICATE)[10 : 10 + side, 0:side]
    expected = cv2.resize(padded, (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crop[..., 0], expected)
    box_rule = EmotionClassifier.load(build_onnx(tmp_path / "box.onnx"))
    (stretched,) = box_rule.crops(gray, None, [box])
    np.testing.assert_array_equal(stretched[..., 0], cv2.resize(gray[30:50, 4:44], (48, 48),
                                                                 interpolation=cv2.INTER_LINEAR))


def test_a_lone_request_is_classified_on_every_core_and_requests_under_load_on_one(tmp_path):
    clf = EmotionClassifier.load(build_onnx(tmp_path / "m.onnx"), intra_threads=1, idle_threads=2)
    parallel = clf.parallel_session()
    assert parallel is not None and parallel.get_session_options().intra_op_num_threads == 2
    assert clf.session.get_session_options().intra_op_num_threads == 1
    used = []
    for name, session in (("serial", clf.session), ("parallel", parallel)):
        real = session.run
        spy = type("Spy", (), {"run": lambda self, *a, _n=name, _r=real: used.append(_n) or _r(*a)})()
        setattr(clf, "_session" if name == "serial" else "_parallel", spy)
    batch = np.zeros((1, 48, 48, 1), np.float32)
    clf.classify(batch, alone=True)
    clf.classify(batch, alone=False)
    assert used == ["parallel", "serial"]
    one_core = EmotionClassifier.load(tmp_path / "m.onnx", intra_threads=1, idle_threads=1)
    assert one_core.parallel_session() is None  # no more threads than the serial session: no second session
    np.testing.assert_allclose(one_core.classify(batch, alone=True).sum(), 1.0, rtol=1e-6)


def test_the_pipeline_says_alone_only_when_no_other_request_is_in_the_process(tmp_path, astronaut):
    from service.config import Settings
    from service.detectors import create_detector
    from service.pipeline import Pipeline

    clf = EmotionClassifier.load(build_onnx(tmp_path / "m.onnx"))
    seen = []
    real = clf.classify
    clf.classify = lambda batch, alone=False: seen.append(alone) or real(batch, alone)  # type: ignore[method-assign]
    pipeline = Pipeline(create_detector(Settings(detector="haar")), clf, 50_000_000)
    _, data = cv2.imencode(".png", astronaut[..., ::-1])
    pipeline.run_bytes(data.tobytes(), 5, 24)
    with pipeline.detector.occupancy:  # another request is in the process
        pipeline.run_bytes(data.tobytes(), 5, 24)
    assert seen == [True, False]
