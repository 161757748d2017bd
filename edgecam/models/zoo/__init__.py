"""PyTorch model zoo: architectures as stage tables, one builder.

The tables, ``net_spec`` and the size counts import no torch; the builder does, so it is loaded
on first use of ``create_model``/``build``/``EdgeNet`` (``edgecam models`` and ``tune`` need
only the counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecam.models.catalog import arch_info, check_alpha_resolution
from edgecam.models.zoo.size import model_size, net_spec
from edgecam.models.zoo.spec import NetSpec

if TYPE_CHECKING:
    from edgecam.models.zoo.builder import EdgeNet, build


def create_model(arch: str, alpha: float = 1.0, resolution: int | None = None) -> EdgeNet:
    """Build ``arch`` in eval mode; ``resolution`` is only validated (the nets run at any rho)."""
    from edgecam.models.zoo.builder import build

    check_alpha_resolution(alpha, resolution or arch_info(arch).resolution)
    return build(net_spec(arch, alpha)).eval()


def __getattr__(name: str):
    if name in ("EdgeNet", "build"):
        from edgecam.models.zoo import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'edgecam.models.zoo' has no attribute {name!r}")


__all__ = ["EdgeNet", "NetSpec", "build", "create_model", "model_size", "net_spec"]
