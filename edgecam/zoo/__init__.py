"""PyTorch model zoo (imports torch): architectures as stage tables, one builder."""

from __future__ import annotations

from edgecam.catalog import arch_info, check_alpha_resolution
from edgecam.zoo import efficientnet_lite, mixnet, mobilenet_v1, mobilenet_v2
from edgecam.zoo.builder import EdgeNet, build
from edgecam.zoo.spec import NetSpec


def net_spec(arch: str, alpha: float = 1.0) -> NetSpec:
    """The concrete network description of ``arch`` at width ``alpha``."""
    info = arch_info(arch)
    if info.family == "mobilenet_v1":
        return mobilenet_v1.spec(alpha)
    if info.family == "mobilenet_v2":
        return mobilenet_v2.spec(alpha)
    if info.family == "mixnet":
        return mixnet.spec(arch, alpha)
    return efficientnet_lite.spec(arch, alpha)


def create_model(arch: str, alpha: float = 1.0, resolution: int | None = None) -> EdgeNet:
    """Build ``arch`` in eval mode; ``resolution`` is only validated (the nets run at any rho)."""
    check_alpha_resolution(alpha, resolution or arch_info(arch).resolution)
    return build(net_spec(arch, alpha)).eval()


__all__ = ["EdgeNet", "NetSpec", "build", "create_model", "net_spec"]
