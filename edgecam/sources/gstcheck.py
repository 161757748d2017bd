"""What GStreamer itself says about a pipeline, through libgstreamer with ctypes (OpenCV's
GStreamer backend links it, so it is there whenever GStreamer capture is; no PyGObject needed).

OpenCV cannot be trusted to report a bad pipeline: the 4.6 in Debian bookworm (and Raspberry
Pi OS) blocks forever on a pipeline that names an element that is not installed, waiting for
a preroll that never comes, and newer ones only log a warning and say "not opened". So a
pipeline is parsed here first (``parse_problem``), and when OpenCV still fails to open it, it
is played here briefly to fetch the error GStreamer posted (``play_problem``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re

GST_STATE_NULL, GST_STATE_PLAYING = 1, 4
GST_MESSAGE_ERROR = 2
SECOND_NS = 1_000_000_000


class _GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int),
                ("message", ctypes.c_char_p)]


@functools.cache
def _gst():
    """libgstreamer with the prototypes used here, initialised; None when not installed."""
    name = ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0"
    try:
        lib = ctypes.CDLL(name)
        glib = ctypes.CDLL(ctypes.util.find_library("glib-2.0") or "libglib-2.0.so.0")
    except OSError:
        return None
    p, err = ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(_GError))
    lib.gst_init.argtypes = [p, p]
    lib.gst_parse_launch.argtypes, lib.gst_parse_launch.restype = [ctypes.c_char_p, err], p
    lib.gst_object_unref.argtypes = [p]
    lib.gst_element_set_state.argtypes, lib.gst_element_set_state.restype = [p, ctypes.c_int], \
        ctypes.c_int
    lib.gst_element_get_bus.argtypes, lib.gst_element_get_bus.restype = [p], p
    lib.gst_bus_timed_pop_filtered.argtypes = [p, ctypes.c_uint64, ctypes.c_int]
    lib.gst_bus_timed_pop_filtered.restype = p
    lib.gst_message_parse_error.argtypes = [p, err, ctypes.POINTER(p)]
    lib.gst_mini_object_unref.argtypes = [p]
    glib.g_error_free.argtypes = [ctypes.POINTER(_GError)]
    glib.g_free.argtypes = [p]
    lib.gst_init(None, None)
    lib.glib = glib
    return lib


def _take_message(lib, error) -> str:
    text = error.contents.message.decode(errors="replace") if error else ""
    if error:
        lib.glib.g_error_free(error)
    return text


def parse_problem(pipeline: str) -> str | None:
    """Why GStreamer cannot build this pipeline (an element that is not installed, a syntax
    error, elements that cannot link), or None when it builds (or GStreamer is not here)."""
    lib = _gst()
    if lib is None:
        return None
    error = ctypes.POINTER(_GError)()
    element = lib.gst_parse_launch(pipeline.encode(), ctypes.byref(error))
    problem = _take_message(lib, error) or None
    if element:
        lib.gst_object_unref(element)
    return problem


def play_problem(pipeline: str, timeout_s: float = 3.0) -> str | None:
    """The first error the pipeline posts within ``timeout_s`` of starting (a camera that is
    absent or busy, caps that do not negotiate), or None."""
    lib = _gst()
    if lib is None:
        return None
    error = ctypes.POINTER(_GError)()
    element = lib.gst_parse_launch(pipeline.encode(), ctypes.byref(error))
    if error or not element:
        problem = _take_message(lib, error) or "the pipeline could not be built"
        if element:
            lib.gst_object_unref(element)
        return problem
    bus = lib.gst_element_get_bus(element)
    try:
        lib.gst_element_set_state(element, GST_STATE_PLAYING)
        msg = lib.gst_bus_timed_pop_filtered(bus, int(timeout_s * SECOND_NS), GST_MESSAGE_ERROR)
        if not msg:
            return None
        gerror, debug = ctypes.POINTER(_GError)(), ctypes.c_void_p()
        lib.gst_message_parse_error(msg, ctypes.byref(gerror), ctypes.byref(debug))
        lib.gst_mini_object_unref(msg)
        text = _take_message(lib, gerror) or "an unnamed error"
        details = ctypes.string_at(debug).decode(errors="replace") if debug.value else ""
        lib.glib.g_free(debug)
        reason = re.search(r"reason (\S+ \(-?\d+\))", details)
        return text.rstrip(".") + (f" (streaming stopped, {reason.group(1)})" if reason else "")
    finally:
        lib.gst_element_set_state(element, GST_STATE_NULL)
        lib.gst_object_unref(bus)
        lib.gst_object_unref(element)
