"""edgecam: real-time image classification on small CPUs.

The package root stays import-light: the runtime needs numpy, OpenCV and onnxruntime only;
torch is imported solely by ``edgecam.zoo`` and ``edgecam.export``.
"""

__version__ = "0.1.0"
