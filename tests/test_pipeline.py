"""The shared loop with real onnxruntime sessions: every frame of a file in order through the
decode-ahead thread, and a model swapped mid-run (the run-time adaptation) at another size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecam.io.files import SyntheticSource
from edgecam.pipeline import Model, Pipeline, Result
from edgecam.runtime.engine import Engine

from tiny_models import tiny_classifier


class Frames(SyntheticSource):
    """The synthetic pattern cut to ``count`` frames, like a short video file."""

    def __init__(self, count: int) -> None:
        super().__init__("synthetic://96x72", (96, 72))
        self.count = count
        self.total = count

    def __iter__(self):
        for i, frame in enumerate(super().__iter__()):
            if i == self.count:
                return
            yield frame


def test_every_frame_in_order_with_decode_ahead(tmp_path: Path):
    model = Model(Engine(tiny_classifier(tmp_path / "a.onnx", resolution=32), threads=1))
    seen: list[int] = []
    pipeline = Pipeline(model, [lambda r: seen.append(r.frame.index)])
    assert pipeline.run_file(Frames(40), prefetch=3) == 40
    assert seen == list(range(40))
    assert set(pipeline.times.means()) >= {"decode", "preprocess", "infer", "postprocess"}


def test_model_swapped_mid_file_at_another_resolution(tmp_path: Path):
    small = Model(Engine(tiny_classifier(tmp_path / "s.onnx", resolution=32), threads=1))
    big = Model(Engine(tiny_classifier(tmp_path / "b.onnx", resolution=80, seed=1), threads=1))
    results: list[tuple[int, int, bool]] = []  # frame, top-1, run by the small model
    pipeline = Pipeline(big)

    def swap(result: Result) -> None:
        results.append((result.frame.index, result.top[0].index, pipeline.model is small))
        if result.frame.index == 5:
            pipeline.model = small  # what adapt does when the device slows down

    pipeline.handlers.append(swap)
    assert pipeline.run_file(Frames(30), prefetch=3) == 30
    assert [i for i, _, _ in results] == list(range(30))
    assert [s for _, _, s in results] == [False] * 6 + [True] * 24
    # frames prepared ahead at 80 px were prepared again at 32 px for the small model
    pattern = Frames(30)
    for index, top1, _ in results[6:]:
        logits = small.engine.run(small.pre(pattern.frame(index)))
        assert top1 == int(np.argmax(logits[0]))


def test_batched_file_run_gives_the_per_frame_results(tmp_path: Path):
    """Eight frames per session call, a short last batch and a frame limit inside a batch:
    the same frames, in order, with the predictions of one frame at a time."""
    model = Model(Engine(tiny_classifier(tmp_path / "a.onnx", resolution=32), threads=1))
    runs: dict[tuple, list] = {}
    for batch, prefetch in ((1, 0), (8, 3), (8, 0)):
        for limit in (None, 13):
            seen: list = []
            pipeline = Pipeline(model, [lambda r, seen=seen: seen.append(r)])
            assert pipeline.run_file(Frames(21), limit, prefetch=prefetch, batch=batch) == (
                limit or 21)
            runs[(batch, prefetch, limit)] = seen
    for (_, _, limit), seen in runs.items():
        reference = runs[(1, 0, limit)]
        assert [r.frame.index for r in seen] == list(range(limit or 21))
        for got, want in zip(seen, reference):
            assert [p.index for p in got.top] == [p.index for p in want.top]
            np.testing.assert_allclose([p.score for p in got.top],
                                       [p.score for p in want.top], rtol=1e-5)
            assert set(got.ms) == {"decode", "preprocess", "infer", "postprocess"}
