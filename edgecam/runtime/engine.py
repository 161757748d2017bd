"""An onnxruntime session around an edgecam ONNX file, on the execution provider asked for
(``edgecam.runtime.providers``), with its signature checked against the metadata so a wrong
file fails at load time, not on the first frame."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgecam.models.foreign import assumed_props
from edgecam.models.metadata import FORMAT, ModelMeta
from edgecam.runtime.providers import (
    CPU,
    ProviderChoice,
    parse_provider,
    session_providers,
    short_name,
)
from edgecam.util.device import default_threads
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)


class Engine:
    """One model, one session: ``Engine(path, threads, provider).run(batch) -> logits``.

    ``provider`` is a ``--provider`` value (default ``auto``: an accelerator when this
    onnxruntime has one, else the CPU); ``self.provider`` names the one that runs the model.
    ``spin=False`` lets onnxruntime's idle threads sleep instead of busy-waiting for the next
    operator: what a run with its own decode thread wants (the spinning would take the core
    that decodes the next frames), and a large win on a shared CPU. Live runs keep spinning,
    which saves a little latency per frame."""

    def __init__(self, path: str | Path, threads: int | None = None,
                 provider: str | ProviderChoice | None = None, spin: bool = True,
                 labels: str | Path | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise EdgecamError(f"model file not found: {self.path}")
        self.threads = threads or default_threads()  # checked where the user gave it
        choice = provider if isinstance(provider, ProviderChoice) else parse_provider(provider)
        providers = session_providers(choice, self.threads)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path), opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EdgecamError(
                f"{self.path} is not a loadable ONNX model ({reason[:160]})"
            ) from None
        active = self.session.get_providers()
        if providers[0][0] != CPU and (not active or active[0] != providers[0][0]):
            raise EdgecamError(
                f"provider {short_name(providers[0][0])} is installed but did not start "
                f"(onnxruntime fell back to {', '.join(map(short_name, active))}); check its "
                "drivers and libraries (CUDA, cuDNN, TensorRT, OpenVINO)")
        name = short_name(active[0]) if active else "cpu"
        self.provider = str(ProviderChoice(
            name, choice.modifiers if name == choice.name else frozenset()))
        props = self.session.get_modelmeta().custom_metadata_map
        note = ""
        if labels is not None:  # a classifier from elsewhere (edgecam.models.foreign)
            if props.get("format") == FORMAT:
                raise EdgecamError(f"{self.path} carries its own labels (edgecam metadata); "
                                   "--labels is for models without it")
            props, note = assumed_props(self.session.get_inputs()[0].shape,
                                        self.session.get_outputs()[0].shape, labels, self.path)
        self.meta = ModelMeta.from_props(props, source=str(self.path))
        self._check_signature()
        if note:  # once the model is known to fit what was assumed
            log.info("%s", note)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        first = self.session.get_inputs()[0].shape[0]
        # a model exported for N frames per call only (``[1,3,R,R]``): every call gets N rows
        self.fixed_batch: int | None = first if isinstance(first, int) and first > 0 else None

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        res, classes = self.meta.resolution, len(self.meta.labels)
        want_in = f"float32 [N,3,{res},{res}]"
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgecamError(
                f"{self.path} has {len(inputs)} inputs and {len(outputs)} outputs; "
                f"edgecam models have one input {want_in} and one output [N,{classes}]"
            )
        shape = list(inputs[0].shape)
        if (inputs[0].type != "tensor(float)" or len(shape) != 4 or any(
                isinstance(have, int) and have != want  # a named dimension takes any size
                for have, want in zip(shape[1:], [3, res, res]))):
            raise EdgecamError(
                f"{self.path} input is {inputs[0].type} {shape}, but its metadata says {want_in}"
            )
        out_shape = list(outputs[0].shape)
        if len(out_shape) != 2 or out_shape[1] != classes:
            raise EdgecamError(
                f"{self.path} output is {out_shape}, but it has {classes} labels "
                f"(expected [N,{classes}])"
            )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits [N, classes] for a preprocessed float32 batch [N, 3, R, R]; a model with a
        fixed batch gets exactly its size per call (the last call padded), whatever N is."""
        fixed = self.fixed_batch
        if fixed is None or len(batch) == fixed:
            return self.session.run([self.output_name], {self.input_name: batch})[0]
        out = []
        for i in range(0, len(batch), fixed):
            part = batch[i:i + fixed]
            if len(part) < fixed:
                pad = np.zeros((fixed - len(part), *part.shape[1:]), part.dtype)
                part = np.concatenate([part, pad])
            out.append(self.session.run([self.output_name], {self.input_name: part})[0])
        return np.concatenate(out)[:len(batch)]
