"""The runtime with real parts: onnxruntime sessions, OpenCV resizing, a real pretrained model
on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from edgecam.pipeline.metrics import RateMeter, StageTimes, rss_mb
from edgecam.pipeline.overlay import draw_overlay, text_scale
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor, Prediction, softmax
from edgecam.runtime.preprocess import Preprocessor, crop_box
from edgecam.runtime.unknown import Rejection
from edgecam.util.errors import EdgecamError

from tiny_models import tiny_classifier, tiny_meta


def photo(name: str) -> np.ndarray:
    return cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR)


# --- preprocessing ----------------------------------------------------------------------------


def numpy_reference(frame_bgr: np.ndarray, meta) -> np.ndarray:
    """The plain definition: center crop (shorter side * crop_pct), resize, RGB, (x-mean)/std."""
    h, w = frame_bgr.shape[:2]
    side = int(round(min(h, w) * meta.crop_pct))
    y, x = (h - side) // 2, (w - side) // 2
    crop = frame_bgr[y:y + side, x:x + side].astype(np.float64)
    r = meta.resolution
    # area average over each output pixel's footprint, the definition of a box downscale
    edges = np.linspace(0, side, r + 1)
    out = np.empty((r, r, 3))
    for i in range(r):
        for j in range(r):
            y0, y1 = int(edges[i]), max(int(edges[i]) + 1, int(edges[i + 1]))
            x0, x1 = int(edges[j]), max(int(edges[j]) + 1, int(edges[j + 1]))
            out[i, j] = crop[y0:y1, x0:x1].mean(axis=(0, 1))
    rgb = out[:, :, ::-1] / 255.0
    x = (rgb - np.array(meta.mean)) / np.array(meta.std)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def test_preprocess_matches_numpy_reference_on_a_smooth_photo():
    meta = tiny_meta(resolution=56)
    frame = cv2.GaussianBlur(photo("coffee"), (0, 0), 8)  # smooth: resampling choices agree
    got = Preprocessor(meta)(frame)
    want = numpy_reference(frame, meta)
    assert got.shape == (1, 3, 56, 56) and got.dtype == np.float32
    # sampling grids differ slightly (the two-step resize); on a smooth picture that is under
    # two grey levels on average (one level = 1 / (255 * std) ~ 0.017 here), with no bias
    diff = got - want
    assert np.abs(diff).mean() < 0.03
    assert np.abs(diff).max() < 0.3
    assert abs(diff.mean()) < 0.005


def test_preprocess_is_an_exact_box_average_for_integer_factors():
    """448 px -> crop 392 -> 56: a 7x7 area average, equal to the reference up to rounding."""
    meta = tiny_meta(resolution=56)
    frame = np.random.default_rng(2).integers(0, 256, (448, 448, 3), dtype=np.uint8)
    got = Preprocessor(meta)(frame)
    np.testing.assert_allclose(got, numpy_reference(frame, meta), atol=0.5 / 255 / 0.224 + 1e-4)


def test_preprocess_exact_when_no_resize_is_needed():
    """A frame already R x R after cropping: the arithmetic alone, bit for bit."""
    meta = tiny_meta(resolution=64, crop_pct=1.0)
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    got = Preprocessor(meta)(frame)
    rgb = frame[:, :, ::-1].astype(np.float64) / 255.0
    want = ((rgb - meta.mean) / meta.std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_preprocess_lite_rule():
    meta = tiny_meta(resolution=32, crop_pct=1.0, mean=(127 / 255,) * 3, std=(128 / 255,) * 3,
                     normalization="lite")
    frame = np.full((32, 32, 3), (0, 127, 255), np.uint8)  # B, G, R
    x = Preprocessor(meta)(frame)
    np.testing.assert_allclose(x[0, :, 0, 0], [(255 - 127) / 128, 0.0, -127 / 128], atol=1e-6)


def test_crop_box_centered_and_sized():
    assert crop_box(640, 480, 224, 0.875) == (110, 30, 420, 420)
    assert crop_box(100, 100, 32, 1.0) == (0, 0, 100, 100)


@pytest.mark.parametrize("shape", [(240, 320), (480, 640), (1080, 1920), (50, 60), (300, 200)])
def test_preprocess_any_frame_size_reuses_buffers(shape):
    pre = Preprocessor(tiny_meta(resolution=64))
    frame = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = pre.new_buffer()
    assert pre(frame, out) is out
    assert np.isfinite(out).all()


# --- postprocessing ---------------------------------------------------------------------------


def test_softmax_top_k_and_unknown():
    labels = [f"c{i}" for i in range(10)]
    logits = np.arange(10, dtype=np.float32)
    top = Postprocessor(labels, top_k=3)(logits)
    assert [p.index for p in top] == [9, 8, 7]
    assert top[0].label == "c9"
    np.testing.assert_allclose(sum(softmax(logits[None])[0]), 1.0, rtol=1e-6)
    assert top[0].to_dict() == {"label": "c9", "index": 9, "score": round(top[0].score, 5)}
    # a rule judges the top-1 (0.63 here) and keeps the whole top-k, scores below it too
    strict = Postprocessor(labels, 3, rejection=Rejection((0.7,) * 10))
    assert strict.answers(logits[None]) == [(top, True)]
    lenient = Postprocessor(labels, 3, rejection=Rejection((0.7,) * 9 + (0.6,)))
    assert lenient.answers(logits[None]) == [(top, False)]
    assert Postprocessor(labels, 3).answers(logits[None]) == [(top, False)]


def test_smoothing_holds_a_label_through_one_noisy_frame():
    labels = ["cat", "dog"]
    post = Postprocessor(labels, top_k=1, smoothing=0.8)
    cat, dog = np.array([4.0, 0.0]), np.array([0.0, 4.0])
    for _ in range(10):
        post(cat)
    assert post(dog)[0].label == "cat"  # one contrary frame does not flip it
    for _ in range(10):
        last = post(dog)
    assert last[0].label == "dog"  # sustained evidence does
    plain = Postprocessor(labels, top_k=1)
    plain(cat)
    assert plain(dog)[0].label == "dog"


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"smoothing": 1.0}])
def test_postprocess_rejects_bad_options(kwargs):
    with pytest.raises(EdgecamError):
        Postprocessor(["a"], **kwargs)


# --- engine -----------------------------------------------------------------------------------


def test_engine_runs_a_real_session(tmp_path):
    engine = Engine(tiny_classifier(tmp_path / "t.onnx", resolution=48), threads=1)
    assert engine.meta.resolution == 48 and len(engine.meta.labels) == 1000
    logits = engine.run(np.zeros((2, 3, 48, 48), np.float32))
    assert logits.shape == (2, 1000)


def test_engine_rejects_wrong_signature(tmp_path):
    bad = tiny_classifier(tmp_path / "bad.onnx", resolution=48, input_shape=["N", 3, 64, 64])
    with pytest.raises(EdgecamError, match="metadata says"):
        Engine(bad)
    few = tiny_classifier(tmp_path / "few.onnx", resolution=48, classes=10)
    with pytest.raises(EdgecamError, match="labels"):
        Engine(few)


def test_engine_rejects_non_onnx_and_foreign_onnx(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(EdgecamError, match="not a loadable ONNX"):
        Engine(junk)
    with pytest.raises(EdgecamError, match="no edgecam metadata"):
        Engine(tiny_classifier(tmp_path / "plain.onnx", metadata=False))
    with pytest.raises(EdgecamError, match="not found"):
        Engine(tmp_path / "missing.onnx")


def test_pretrained_default_labels_real_photos(lite0_onnx):
    engine = Engine(lite0_onnx, threads=2)
    pre, post = Preprocessor(engine.meta), Postprocessor(engine.meta.labels, top_k=3)
    expected = {
        "chelsea": {"tabby", "tiger cat", "Egyptian cat"},
        "coffee": {"espresso", "cup", "coffee mug"},
        "rocket": {"missile", "projectile", "space shuttle"},
    }
    for name, accept in expected.items():
        top = post(engine.run(pre(photo(name)))[0])
        assert top[0].label in accept, (name, top)
        assert top[0].index == engine.meta.labels.index(top[0].label)


# --- overlay and metrics ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1920, 1080)])
def test_overlay_draws_legible_text_at_every_size(size):
    w, h = size
    image = np.full((h, w, 3), 200, np.uint8)
    top = [Prediction("tabby", 281, 0.91), Prediction("tiger cat", 282, 0.05)]
    draw_overlay(image, top, fps=29.7, infer_ms=3.1, status=["reconnecting"])
    # the panel behind the labels is darkened and the top-1 text is drawn in green
    scale, _ = text_scale(h)
    assert image[2, 2].max() < 200
    green = (image[..., 1] > 200) & (image[..., 0] < 150) & (image[..., 2] < 150)
    assert green[: h // 3].sum() > 20 * scale
    # footer at the bottom: darkened, with white text somewhere
    bottom = image[int(h * 0.8):]
    assert (bottom == 100).all(axis=2).any() and (bottom > 230).all(axis=2).any()
    # the middle of the picture is untouched
    assert (image[h // 2, w // 2] == 200).all()
    assert text_scale(1080)[0] > text_scale(240)[0]


def test_rate_meter_and_stage_times():
    meter = RateMeter(window_s=1.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)
    assert meter.fps == pytest.approx(10.0)
    times = StageTimes()
    for v in (1.0, 2.0, 3.0):
        times.add("infer", v)
    assert times.mean("infer") == 2.0 and times.percentile("infer", 50) == 2.0
    assert times.means() == {"infer": 2.0}
    assert rss_mb() > 10
def test_postprocess_batch_equals_rows_one_by_one():
    """A batch's top-k and its smoothing (in row order) equal frame-by-frame postprocessing."""
    labels = [f"c{i}" for i in range(50)]
    logits = np.random.default_rng(3).normal(size=(6, 50)).astype(np.float32) * 4
    rule = Rejection((0.5,) * 50)
    for kwargs in ({"top_k": 5}, {"top_k": 50}, {"top_k": 3, "rejection": rule},
                   {"top_k": 2, "smoothing": 0.7, "rejection": rule}):
        one_by_one = Postprocessor(labels, **kwargs)
        batched = Postprocessor(labels, **kwargs).answers(logits)
        assert batched == [one_by_one.answers(row[None])[0] for row in logits]
        assert any(unknown for _, unknown in batched) == ("rejection" in kwargs)
