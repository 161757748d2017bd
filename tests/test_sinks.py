"""The sink factory and the pieces under it, on real files: URI kinds, distinct names in a
directory, JSON lines in input order from streams that finish out of order, temporaries that
are whole or gone, and leftovers told apart from a run still writing."""

from __future__ import annotations

import fcntl
import json
import os

import numpy as np
import pytest

from edgecam.pipeline.loop import Result
from edgecam.runtime.postprocess import Prediction
from edgecam.sinks.factory import flag_sinks, open_sink, sink_kind
from edgecam.sinks.folder import output_names
from edgecam.sinks.staging import mention_leftovers
from edgecam.sources.frames import Frame, Stream
from edgecam.util.atomic import Staged
from edgecam.util.errors import EdgecamError


@pytest.mark.parametrize("uri, kind", [
    ("-", "jsonl"), ("p.jsonl", "jsonl"), ("P.NDJSON", "jsonl"), ("o.mp4", "video"),
    ("o.AVI", "video"), ("dir/", "folder"), ("annotated", "folder"), (os.devnull, "null"),
    ("display://0", "display"), ("http://127.0.0.1:8080", "http"),
    ("mqtt://localhost/edgecam", "mqtt"),
])
def test_uri_kinds(uri, kind):
    assert sink_kind(uri) == kind


def test_unknown_outputs_and_shared_files_are_one_clear_error(tmp_path):
    for bad in ("x.txt", "ftp://host/x"):
        with pytest.raises(EdgecamError, match="neither a video file"):
            sink_kind(bad)
    with pytest.raises(EdgecamError, match="both write"):
        from edgecam.sinks.base import SinkOptions

        flag_sinks(SinkOptions(), json_out=str(tmp_path / "p.jsonl"),
                   uris=[str(tmp_path / "p.jsonl")])


def test_distinct_names_in_one_directory(tmp_path):
    names = output_names(["s1/x.jpg", "s2/x.jpg", "a.mp4", "a.avi", "b.png", "v/b.mp4"])
    assert names == {"s1/x.jpg": "s1/x.jpg", "s2/x.jpg": "s2/x.jpg",
                     "a.mp4": "a-mp4.labeled.mp4", "a.avi": "a-avi.labeled.mp4",
                     "b.png": "b.png", "v/b.mp4": "b.labeled.mp4"}
    assert len(set(names.values())) == len(names)


def result(source: str, index: int, stream: int) -> Result:
    return Result(Frame(np.zeros((4, 4, 3), np.uint8), index, source, 0.0),
                  [Prediction("tabby", 281, 0.5)], stream=Stream(source, stream))


def test_json_lines_follow_input_order_whatever_finishes_first(tmp_path):
    """Input 1 finishes before input 0 has written anything: its lines wait."""
    path = tmp_path / "p.jsonl"
    sink = open_sink(str(path))
    first, second = Stream("a.mp4", 0), Stream("b.mp4", 1)
    for s in (first, second):
        sink.open(s)
    sink.write(result("b.mp4", 0, 1))
    sink.write(result("b.mp4", 1, 1))
    sink.end(second, True)
    sink.write(result("a.mp4", 0, 0))
    sink.end(first, True)
    assert not path.exists()  # whole only at the end
    sink.close(True)
    order = [(r["source"], r["frame"]) for r in map(json.loads, path.read_text().splitlines())]
    assert order == [("a.mp4", 0), ("b.mp4", 0), ("b.mp4", 1)]
    assert sink.written == [str(path)]


def test_staged_file_is_whole_or_gone(tmp_path):
    final = tmp_path / "out.jsonl"
    final.write_text("previous\n")
    staged = Staged(final)
    staged.create().write_text("new\n")
    assert final.read_text() == "previous\n"  # until committed
    staged.commit()
    assert final.read_text() == "new\n" and not staged.temp.exists()
    other = Staged(final)
    other.create().write_text("half")
    other.discard()
    assert final.read_text() == "new\n" and not other.temp.exists()


def test_leftovers_are_named_but_a_running_writer_is_not_one(tmp_path, caplog):
    final = tmp_path / "o.mp4"
    stale = tmp_path / ".o.edgecam-partial-99999.mp4"
    stale.write_bytes(b"x")
    live = tmp_path / ".o.edgecam-partial-88888.mp4"
    live.write_bytes(b"y")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with caplog.at_level("WARNING", logger="edgecam"):
            assert mention_leftovers(tmp_path, final) == [stale]
    assert "another edgecam run is writing" in caplog.text
    assert str(stale) in caplog.text
