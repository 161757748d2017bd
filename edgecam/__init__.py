"""edgecam: real-time image classification on small CPUs.

``for result in edgecam.predict("clip.mp4"): ...`` is the Python entry point
(``edgecam.run.predict``). The package root stays import-light: ``predict`` is imported
on first use, the runtime needs numpy, OpenCV and onnxruntime only, and torch is imported
solely by ``edgecam.models.zoo``, ``edgecam.models.export`` and ``edgecam.train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgecam.run.predict import predict

__version__ = "0.1.0"
__all__ = ["__version__", "predict"]


def __getattr__(name: str) -> Any:
    if name == "predict":
        from edgecam.run.predict import predict

        return predict
    raise AttributeError(f"module 'edgecam' has no attribute {name!r}")
