"""Where results go. Every output is a ``Sink`` (open, write, end, close) built from a URI by
``open_sink``; files appear at their final path only when whole."""

from edgecam.sinks.base import NullSink, Sink, SinkOptions
from edgecam.sinks.factory import open_sink, sink_kind

__all__ = ["NullSink", "Sink", "SinkOptions", "open_sink", "sink_kind"]
