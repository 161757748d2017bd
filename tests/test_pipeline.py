"""The shared loop with real onnxruntime sessions: every frame of a file in order through the
decode-ahead thread, a model swapped mid-run (the run-time adaptation) at another size, and
``edgecam.predict``, the loop as a Python iterator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgecam
from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.model import Model
from edgecam.pipeline.result import Result, Stats
from edgecam.run.driver import ModelSpec, OutputSpec, Run
from edgecam.runtime.engine import Engine
from edgecam.sinks.base import Sink
from edgecam.sources.files import SyntheticSource

from tiny_models import tiny_classifier


class Collect(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[Result] = []

    def write(self, result: Result) -> None:
        self.results.append(result)


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
    pipeline = Pipeline(model)
    results = list(pipeline.results(Frames(40), prefetch=3))
    assert [r.frame.index for r in results] == list(range(40))
    assert set(pipeline.times.means()) >= {"decode", "preprocess", "infer", "postprocess"}
    # each result carries the run's stats as of that frame: sinks never ask the pipeline
    assert [r.stats.frames for r in results] == list(range(1, 41))
    assert results[-1].stats.model == model.name


def test_predict_yields_what_sinks_get(tmp_path: Path):
    """The public iterator: the same results (frame, top-k, stage times, stats) a sink gets
    from a run over the same frames, and leaving the loop early is fine."""
    path = tiny_classifier(tmp_path / "a.onnx", resolution=32)
    got = list(edgecam.predict(Frames(12), path, threads=1, top_k=3))
    sink = Collect()
    with Run(ModelSpec(model=Engine(path, 1), top_k=3), OutputSpec(extra=[sink])) as run:
        assert run.feed(Frames(12)) == 12
    assert [r.frame.index for r in got] == [r.frame.index for r in sink.results]
    assert [[p.index for p in r.top] for r in got] == [[p.index for p in r.top]
                                                       for r in sink.results]
    assert all(len(r.top) == 3 and r.label == r.top[0].label for r in got)
    assert got[-1].stats.frames == 12 and set(got[0].ms) >= {"decode", "infer"}
    seen = []
    for result in edgecam.predict(Frames(1000), path, threads=1, workers=2):
        seen.append(result.frame.index)
        if len(seen) == 5:
            break  # leaving early closes the source and the decode thread
    assert seen == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("batch", [1, 8])
def test_model_swapped_mid_file_at_another_resolution(tmp_path: Path, batch: int):
    """Also inside a batch of 8: the rest of the batch runs again on the new model."""
    small = Model(Engine(tiny_classifier(tmp_path / "s.onnx", resolution=32), threads=1))
    big = Model(Engine(tiny_classifier(tmp_path / "b.onnx", resolution=80, seed=1), threads=1))
    sink = Collect()
    seen: list[tuple[int, int]] = []  # frame index and model_frames the controller saw

    def controller(stats: Stats, model: Model) -> Model | None:
        """What adapt does when the device slows down: a faster model after frame 5."""
        seen.append((stats.frames, stats.model_frames))
        return small if stats.frames == 6 else None

    pipeline = Pipeline(big, controller=controller)
    sink.results = list(pipeline.results(Frames(30), prefetch=3, batch=batch))
    assert pipeline.model is small and pipeline.switches == [small.name]
    assert seen[5:8] == [(6, 6), (7, 1), (8, 2)]  # the new model's frames counted afresh
    assert [r.frame.index for r in sink.results] == list(range(30))
    # frames 0-5 ran on the big model; those prepared ahead at 80 px were prepared again at
    # 32 px for the small one
    pattern = Frames(30)
    for r in sink.results:
        model = big if r.frame.index < 6 else small
        logits = model.engine.run(model.pre(pattern.frame(r.frame.index)))
        assert r.top[0].index == int(np.argmax(logits[0]))


def test_batched_file_run_gives_the_per_frame_results(tmp_path: Path):
    """Eight frames per session call, a short last batch, a frame limit inside a batch, and
    two or three batches in onnxruntime at once (their input buffers must not be reused while
    they run): the same frames, in order, with the predictions of one frame at a time."""
    model = Model(Engine(tiny_classifier(tmp_path / "a.onnx", resolution=32), threads=1))
    runs: dict[tuple, list[Result]] = {}
    for batch, prefetch, workers in ((1, 0, 1), (8, 3, 1), (8, 0, 1), (1, 3, 2), (3, 1, 3)):
        for limit in (None, 13):
            results = list(Pipeline(model).results(Frames(21), limit, prefetch=prefetch,
                                                   batch=batch, workers=workers))
            assert len(results) == (limit or 21)
            runs[(batch, prefetch, workers, limit)] = results
    assert len({r.top[0].score for r in runs[(1, 0, 1, None)]}) > 10  # frames tell apart
    for (*_, limit), seen in runs.items():
        reference = runs[(1, 0, 1, limit)]
        assert [r.frame.index for r in seen] == list(range(limit or 21))
        for got, want in zip(seen, reference):
            assert [p.index for p in got.top] == [p.index for p in want.top]
            np.testing.assert_allclose([p.score for p in got.top],
                                       [p.score for p in want.top], rtol=1e-5)
            assert set(got.ms) == {"decode", "preprocess", "infer", "postprocess"}


def test_parallel_buffers_are_not_reused_while_inferred(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    """Inference slower than decoding (each call waits a little before it reads its input):
    the decode thread runs far ahead, and still no batch's tensor is refilled while a worker
    has yet to read it, so every frame gets its own predictions."""
    import time

    model = Model(Engine(tiny_classifier(tmp_path / "a.onnx", resolution=32), threads=1))
    reference = list(Pipeline(model).results(Frames(24), prefetch=0))
    real = model.engine.run

    def slow_run(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.02)
        return real(batch)

    monkeypatch.setattr(model.engine, "run", slow_run)
    results = list(Pipeline(model).results(Frames(24), prefetch=6, workers=2))
    assert [r.frame.index for r in results] == list(range(24))
    for got, want in zip(results, reference):
        assert [p.index for p in got.top] == [p.index for p in want.top]
        np.testing.assert_allclose([p.score for p in got.top], [p.score for p in want.top],
                                   rtol=1e-5)


def test_parallel_file_run_stops_and_raises(tmp_path: Path):
    """With two inferences at once, a sink asking to stop ends the run after whole results,
    and a failing sink's error reaches the caller (no frame after it is delivered)."""
    from edgecam.util.signals import EndOfRun

    model = Model(Engine(tiny_classifier(tmp_path / "a.onnx", resolution=32), threads=1))

    class StopAt(Collect):
        def __init__(self, at: int, error: type[BaseException]) -> None:
            super().__init__()
            self.at, self.error = at, error

        def write(self, result: Result) -> None:
            super().write(result)
            if len(self.results) == self.at:
                raise self.error("stop here")

    sink = StopAt(7, EndOfRun)
    with Run(ModelSpec(model=model.engine), OutputSpec(extra=[sink])) as run:
        done = run.feed(Frames(40), workers=2)
    assert done == len(sink.results) == 7
    assert [r.frame.index for r in sink.results] == list(range(7))
    sink = StopAt(5, RuntimeError)
    with pytest.raises(RuntimeError, match="stop here"), \
            Run(ModelSpec(model=model.engine), OutputSpec(extra=[sink])) as run:
        run.feed(Frames(40), workers=2)
    assert len(sink.results) == 5

