"""Weight files: layout detection, num_batches_tracked, clear misfit errors."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch", reason="needs torch (the export extra)")

from safetensors.torch import load_file, save_file

from edgecam.models.zoo import create_model
from edgecam.models.zoo.weights import detect_format, load_into, map_state_dict, read_state_dict
from edgecam.util.errors import EdgecamError


@pytest.fixture(scope="module")
def tv_state(reference_dir):
    return load_file(str(reference_dir / "tv_mobilenet_v2.safetensors"))


@pytest.fixture(scope="module")
def mixnet_state(reference_dir):
    return load_file(str(reference_dir / "timm_mixnet_s.safetensors"))


def test_detects_each_layout(tv_state, mixnet_state):
    assert detect_format(tv_state) == "torchvision"
    assert detect_format(mixnet_state) == "timm"
    lite = create_model("efficientnet_lite0")
    assert detect_format(lite.state_dict()) == "edgecam"
    with pytest.raises(EdgecamError, match="unrecognised weights layout"):
        detect_format({"foo.weight": torch.zeros(1)})


def test_key_order_does_not_matter(mixnet_state):
    model = create_model("mixnet_s")
    keys = list(mixnet_state)
    random.Random(0).shuffle(keys)
    shuffled = {k: mixnet_state[k] for k in keys}
    a = map_state_dict(mixnet_state, model, "mixnet_s")
    b = map_state_dict(shuffled, model, "mixnet_s")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_grouped_pointwise_parts_are_concatenated_in_order(mixnet_state):
    model = create_model("mixnet_s")
    mapped = map_state_dict(mixnet_state, model, "mixnet_s")
    w0 = mixnet_state["blocks.1.0.conv_pw.0.weight"]
    w1 = mixnet_state["blocks.1.0.conv_pw.1.weight"]
    assert torch.equal(mapped["blocks.1.expand.conv.weight"], torch.cat([w0, w1]))


@pytest.mark.parametrize("with_counter", [True, False])
def test_num_batches_tracked_optional(tmp_path, tv_state, with_counter):
    state = dict(tv_state)
    if with_counter:
        for key in list(state):
            if key.endswith("running_var"):
                state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(7)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    loaded = load_into(create_model("mobilenet_v2"), path, "mobilenet_v2 alpha 1.0")
    assert loaded.format == "torchvision"
    assert len(loaded.sha256) == 64


def test_wrapped_checkpoint_and_module_prefix(tmp_path, tv_state):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in tv_state.items()}, "epoch": 3}, path)
    assert detect_format(read_state_dict(path)) == "torchvision"


@pytest.mark.slow
def test_edgecam_own_layout_round_trip(tmp_path):
    model = create_model("mixnet_m", 0.75)
    path = tmp_path / "own.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    other = create_model("mixnet_m", 0.75)
    assert load_into(other, path, "mixnet_m").format == "edgecam"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), other(x))


def test_wrong_alpha_names_the_first_misfit(tv_state):
    model = create_model("mobilenet_v2", 0.5)
    with pytest.raises(EdgecamError) as err:
        map_state_dict(tv_state, model, "mobilenet_v2 alpha 0.5")
    msg = str(err.value)
    assert "stem.conv.weight is [32, 3, 3, 3]" in msg and "[16, 3, 3, 3]" in msg
    assert "\n" not in msg


def test_wrong_arch_names_a_missing_tensor(mixnet_state):
    model = create_model("mixnet_m")
    with pytest.raises(EdgecamError, match="weights do not fit mixnet_m"):
        map_state_dict(mixnet_state, model, "mixnet_m")


def test_truncated_state_names_the_first_missing_tensor(tv_state):
    state = {k: v for k, v in tv_state.items() if not k.startswith("classifier")}
    with pytest.raises(EdgecamError, match="no tensor for classifier.weight"):
        map_state_dict(state, create_model("mobilenet_v2"), "mobilenet_v2")


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(EdgecamError, match="cannot read weights file"):
        read_state_dict(bad)
    with pytest.raises(EdgecamError, match="not found"):
        read_state_dict(tmp_path / "missing.pth")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 20)
    with pytest.raises(EdgecamError, match="cannot read weights file"):
        read_state_dict(bad_st)
