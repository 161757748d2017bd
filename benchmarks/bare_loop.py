"""The hand-written baseline edgecam has to beat: OpenCV decode + resize + onnxruntime, one
frame at a time, top-5 to JSON lines. Run as its own process so start-up is counted.

    python benchmarks/bare_loop.py MODEL.onnx VIDEO --threads 2 --json-out out.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", required=True)
    args = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    res = int(json.loads(meta["resolution"]))
    mean = np.array(json.loads(meta["mean"]), np.float32) * 255
    std = np.array(json.loads(meta["std"]), np.float32) * 255
    labels = json.loads(meta["labels"])
    cap = cv2.VideoCapture(args.video)
    first = None
    n = 0
    with open(args.json_out, "w") as out:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            img = cv2.resize(frame, (res, res))  # stretch, bilinear: the least work
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32)
            x = ((img - mean) / std).transpose(2, 0, 1)[None]
            logits = sess.run(None, {"input": np.ascontiguousarray(x)})[0][0]
            p = np.exp(logits - logits.max())
            p /= p.sum()
            top = np.argsort(-p)[:5]
            out.write(json.dumps({"frame": n, "top": [
                {"label": labels[i], "index": int(i), "score": float(p[i])} for i in top]}) + "\n")
            if first is None:
                first = time.perf_counter() - T0
            n += 1
    total = time.perf_counter() - T0
    print(json.dumps({"frames": n, "first_prediction_s": first, "wall_s": total}))


if __name__ == "__main__":
    main()
