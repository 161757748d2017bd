"""The system libraries PyPI's opencv-python loads but does not ship. A Raspberry Pi OS Lite
or a minimal Debian lacks them, and ``import cv2`` then fails with a linker message; this turns
it into the one apt line that fixes it."""

from __future__ import annotations

import re

# shared object -> Debian/Raspberry Pi OS package (bookworm names)
PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libX11.so.6": "libx11-6",
    "libXext.so.6": "libxext6",
    "libxcb.so.1": "libxcb1",
    "libgomp.so.1": "libgomp1",
}
# what opencv-python needs on a bare system: all at once, so the user installs only once
OPENCV_PACKAGES = ("libgl1", "libglib2.0-0", "libsm6", "libice6", "libx11-6", "libxext6",
                   "libxcb1")

_MISSING = re.compile(r"(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file")


def missing_library_hint(exc: BaseException) -> str | None:
    """One line naming the apt packages for an ImportError caused by a missing system
    library, or None when the error is something else."""
    m = _MISSING.search(str(exc))
    if not m:
        return None
    lib = m.group(1)
    wanted = list(OPENCV_PACKAGES)
    extra = PACKAGES.get(lib)
    if extra and extra not in wanted:
        wanted.append(extra)
    module = getattr(exc, "name", None) or "a module"
    return (f"{module} cannot load the system library {lib}; install it with: "
            f"sudo apt install {' '.join(wanted)}")
