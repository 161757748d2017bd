"""ImageNet weights from the Hugging Face Hub through huggingface_hub, against a local Hub
stand-in on 127.0.0.1 (``HF_ENDPOINT``) serving a random-weight checkpoint with timm's keys:
the download, its cache, resuming, offline use, a file copied by hand, and the one-line errors.
Nothing leaves the machine: the endpoint is local and huggingface_hub's telemetry is off."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("huggingface_hub", reason="needs huggingface_hub (the hub extra)")

from edgecam.models.at_hand import weights_at_hand
from edgecam.models.catalog import weight_source
from edgecam.util.errors import EdgecamError

from conftest import REFERENCE, assert_one_line_error, needs_torch, run_cli
from hub_server import COMMIT, HubServer

ARCH = "mobilenet_v4_conv_small"
SRC = weight_source(ARCH, 1.0)
FILE = "model.safetensors"


@pytest.fixture()
def checkpoint(reference_dir) -> bytes:
    """The reference snapshot: random weights saved by timm, so its keys are the Hub file's."""
    return (reference_dir / "timm_mobilenetv4_conv_small.safetensors").read_bytes()


@pytest.fixture()
def hub(tmp_path, monkeypatch, checkpoint):
    """A local Hub holding the checkpoint, an empty huggingface_hub cache and edgecam cache."""
    server = HubServer()
    server.files[(SRC.hub_repo, FILE)] = checkpoint
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "EDGECAM_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.close()


def test_catalog_names_the_hub_checkpoints():
    for arch in ("mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v4_conv_small",
                 "mobilenet_v4_conv_medium"):
        src = weight_source(arch, 1.0)
        assert src is not None and src.hub_repo.startswith("timm/")
        assert src.hub_file == FILE and src.revision and src.top1 > 60


def test_download_goes_to_huggingface_hubs_cache(hub, tmp_path, checkpoint):
    from edgecam.models import hub as hubmod

    assert not weights_at_hand(SRC)
    path = hubmod.fetch(SRC)
    assert path.read_bytes() == checkpoint
    snapshot = (tmp_path / "hf" / "hub" / "models--timm--mobilenetv4_conv_small.e2400_r224_in1k"
                / "snapshots" / COMMIT / FILE)
    assert path == snapshot
    blob = path.resolve()  # named by the ETag: the file's sha256
    assert blob.name == hashlib.sha256(checkpoint).hexdigest()
    wanted = hub.path(SRC.hub_repo, FILE, SRC.revision)
    assert [(r.method, r.path) for r in hub.requests] == [("HEAD", wanted), ("GET", wanted)]
    assert weights_at_hand(SRC)

    hub.requests.clear()  # cached: later fetches do not ask the Hub, online or offline
    assert hubmod.fetch(SRC) == path and hub.requests == []
    hub.close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECAM_OFFLINE", "1")
        assert hubmod.fetch(SRC) == path
    assert hub.requests == []


def test_a_dropped_connection_is_resumed(hub, reference_dir):
    """huggingface_hub resumes with a Range request (it keeps what it got in 10 MB chunks,
    so the file must be larger than that: the 39 MB MobileNetV4-Conv-M snapshot)."""
    from edgecam.models import hub as hubmod

    src = weight_source("mobilenet_v4_conv_medium", 1.0)
    data = (reference_dir / "timm_mobilenetv4_conv_medium.safetensors").read_bytes()
    hub.files[(src.hub_repo, FILE)] = data
    wanted = hub.path(src.hub_repo, FILE, src.revision)
    hub.drop_once.add(wanted)
    path = hubmod.fetch(src)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
    gets = [r for r in hub.requests if r.method == "GET" and r.path == wanted]
    assert len(gets) == 2 and gets[0].range is None
    assert gets[1].range is not None and int(gets[1].range.split("=")[1].rstrip("-")) > 0


def test_offline_and_not_cached_says_what_to_fetch(hub):
    from edgecam.models import hub as hubmod

    for env in ("EDGECAM_OFFLINE", "HF_HUB_OFFLINE"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(env, "1")
            with pytest.raises(EdgecamError) as err:
                hubmod.fetch(SRC)
        text = str(err.value)
        assert "\n" not in text
        assert SRC.hub_repo in text and FILE in text and "offline" in text
        assert f"hf download {SRC.hub_repo} {FILE} --revision {SRC.revision}" in text
    assert hub.requests == []


def test_missing_on_the_hub_is_one_line(hub):
    from edgecam.models import hub as hubmod

    src = weight_source("mobilenet_v3_small", 1.0)  # the local Hub does not have it
    with pytest.raises(EdgecamError) as err:
        hubmod.fetch(src)
    text = str(err.value)
    assert "\n" not in text and "download failed" in text and src.hub_repo in text


def test_a_corrupt_cached_file_is_refused(hub):
    from edgecam.models import hub as hubmod

    blob = hubmod.fetch(SRC).resolve()
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECAM_OFFLINE", "1")
        with pytest.raises(EdgecamError, match="does not match its sha256"):
            hubmod.fetch(SRC)


def test_a_file_copied_by_hand_is_used(hub, tmp_path, checkpoint):
    from edgecam.models import hub as hubmod

    hub.close()  # no Hub at all
    by_hand = tmp_path / "xdg" / "edgecam" / f"{SRC.hub_repo.split('/')[1]}-{FILE}"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_bytes(checkpoint)
    assert weights_at_hand(SRC)
    assert hubmod.fetch(SRC) == by_hand
    assert hub.requests == []


def test_tune_searches_hub_weights_once_they_are_here(hub):
    """tune's default families are those whose weights are at hand: MobileNetV4-Conv-S joins
    once its checkpoint is in huggingface_hub's cache, at the width that is cached; its
    native-size FP32 figure is the checkpoint's own (timm's results table)."""
    from edgecam.models import hub as hubmod
    from edgecam.tune.request import TuneOptions
    from edgecam.tune.space import zoo_candidates

    opts = TuneOptions(target_fps=30, weights="imagenet", precisions=["fp32"], threads=[1])
    assert not any(c.arch == ARCH for c in zoo_candidates(opts))
    hubmod.fetch(SRC)
    mine = [c for c in zoo_candidates(opts) if c.arch == ARCH]
    assert {c.alpha for c in mine} == {1.0} and {96, 128, 224} <= {c.resolution for c in mine}
    native = next(c for c in mine if c.resolution == 224)
    assert (native.prior.top1, native.prior.source) == (73.8, "published")
    assert native.weights == f"imagenet:timm/{SRC.model}"
    assert hub.requests and all(r.path.startswith(f"/{SRC.hub_repo}/") for r in hub.requests)


@needs_torch
@pytest.mark.parametrize("finetune", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_train_takes_a_hub_backbone(hub, tmp_path, finetune):
    """``train --arch mobilenet_v4_conv_small``: the backbone comes through the Hub, the
    tapped recipe reads its stages and the efficient head, ``--finetune`` trains its last
    stage and head (~18 s), and the file runs in the runtime (the snapshot's random weights:
    no accuracy is claimed)."""
    from edgecam.runtime.engine import Engine
    from edgecam.train.trainer import TrainOptions, train_models

    from labelled_data import digits

    train, _ = digits(tmp_path / "digits", per_class=6, held_out=2)
    out = tmp_path / "d.onnx"
    report = train_models(TrainOptions(data=train, arch=ARCH, resolutions=[64], epochs=2,
                                       finetune=finetune, views=1, output=out))
    (model,) = report["models"]
    assert model["parity"] <= 1e-4 and 0.0 <= model["val_accuracy"] <= 1.0
    meta = Engine(out).meta
    assert (meta.arch, meta.resolution, len(meta.labels)) == (ARCH, 64, 10)
    assert meta.weights == f"trained:{train.name} from imagenet:timm/{SRC.model}"


@needs_torch
def test_export_from_the_hub_matches_timm(hub, tmp_path):
    """``weights=imagenet`` fetches through the Hub; the ONNX file gives timm's logits."""
    import numpy as np
    import onnxruntime as ort
    from safetensors.numpy import load_file

    from edgecam.models.export import export_model
    from edgecam.runtime.engine import Engine

    out = tmp_path / "v4s.onnx"
    report = export_model(ARCH, 1.0, 224, weights="imagenet", output=out)
    assert report["weights"] == f"imagenet:timm/{SRC.model}"
    io = load_file(str(REFERENCE / "timm_mobilenetv4_conv_small.io.safetensors"))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": io["input"]})[0]
    assert np.abs(got - io["logits"]).max() <= 1e-4 * np.abs(io["logits"]).max()
    meta = Engine(out, 1).meta
    assert meta.weights_sha256 == hashlib.sha256(
        (REFERENCE / "timm_mobilenetv4_conv_small.safetensors").read_bytes()).hexdigest()
    assert (meta.interpolation, meta.crop_pct) == ("bicubic", 0.875)


@needs_torch
def test_cli_offline_without_the_file_is_one_line(tmp_path):
    proc = run_cli("export", ARCH, "-o", str(tmp_path / "x.onnx"),
                   env={"HF_HOME": str(tmp_path / "hf"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
                        "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"})
    line = assert_one_line_error(proc)
    assert line.startswith("edgecam: error: ") and SRC.hub_repo in line and "hf download" in line
    assert not (tmp_path / "x.onnx").exists()

