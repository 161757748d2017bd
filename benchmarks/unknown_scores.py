"""Which score tells never-seen pictures apart best, and an extra "unknown" class against
outlier exposure: the measurement behind ``edgecam.train.rejection`` and ``head``.

    .venv/bin/python benchmarks/unknown_scores.py [--seeds 0,1,2] [--resolution 128]

scikit-learn's digits as 64 px blocks (tests/labelled_data.py ``blocky_digits``), split 60 / 40
per class by seed; the 60% split again 80 / 20 into training and validation as ``edgecam
train`` does. Known: zero..four; five and six are the unknown folder (training side) where a
row says so; seven..nine on the held-out side are the never-seen pictures. Features: the
classifier's input ``edgecam train`` computes (every stage of EfficientNet-Lite0, plain views,
through onnxruntime); classifier: ``train.head.train_head`` with its defaults. Scores of the
held-out known vs never-seen pictures: AUROC (1 = fully apart), and with the threshold that
keeps 95% of the validation known pictures, the share kept on their right label and the share
of never-seen pictures rejected. Results: benchmarks/results/unknown-scores.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import CACHE_DIR, RESULTS_DIR, log, machine, write_json  # noqa: E402

from labelled_data import DIGIT_NAMES, blocky_digits  # noqa: E402

KNOWN, UNKNOWN_FOLDER, NEVER = DIGIT_NAMES[:5], DIGIT_NAMES[5:7], DIGIT_NAMES[7:]


def features(seed: int, resolution: int):
    """(vectors, digit) of every picture of the seed's split: train side and held-out side."""
    import numpy as np

    from edgecam.models.catalog import preprocess_for
    from edgecam.models.metadata import ModelMeta
    from edgecam.models.zoo import create_model
    from edgecam.models.zoo.weights import load_imagenet
    from edgecam.sources.media import read_image
    from edgecam.train.augment import Augment
    from edgecam.train.features import Embedder, ViewMaker
    from edgecam.train.tapped import Tapped

    root = CACHE_DIR / f"recipe-digits-{seed}"
    if not (root / "heldout").is_dir():
        blocky_digits(root, seed)
    net = create_model("efficientnet_lite0")
    load_imagenet(net, "efficientnet_lite0", 1.0)
    model = Tapped(net, 2).eval()
    pre = preprocess_for("efficientnet_lite0", 1.0, "imagenet")
    meta = ModelMeta(arch="efficientnet_lite0", alpha=1.0, resolution=resolution,
                     mean=pre.mean, std=pre.std, normalization=pre.normalization,
                     crop_pct=pre.crop_pct, interpolation=pre.interpolation, labels=[])
    maker, embed = ViewMaker(meta, Augment(), 0), Embedder(model, resolution)
    out = {}
    for side in ("train", "heldout"):
        paths = sorted((root / side).glob("*/*.png"))
        vecs = np.concatenate([embed([maker.plain(read_image(str(p))) for p in paths[i:i + 32]])
                               for i in range(0, len(paths), 32)])
        out[side] = (vecs, np.array([DIGIT_NAMES.index(p.parent.name) for p in paths]))
    return out


def auroc(known, never) -> float:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(known)), np.zeros(len(never))],
                               np.r_[known, never]))


def scores(head, vecs, train_known, train_labels, classes: int) -> dict:
    """Higher = more like a known picture, for each score measured."""
    import numpy as np
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    from edgecam.train.rejection import top1_probability

    logits = head.logits(vecs)
    top = logits.max(1)
    energy = top + np.log(np.exp(logits - top[:, None]).sum(1))
    mu, sd = train_known.mean(0), train_known.std(0) + 1e-6
    z, zt = (vecs - mu) / sd, (train_known - mu) / sd
    means = np.stack([zt[train_labels == c].mean(0) for c in range(classes)])
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    unit_t = zt / np.linalg.norm(zt, axis=1, keepdims=True)
    unit_m = means / np.linalg.norm(means, axis=1, keepdims=True)
    pca = PCA(64, random_state=0).fit(zt)
    pz, pzt = pca.transform(z), pca.transform(zt)
    pm = np.stack([pzt[train_labels == c].mean(0) for c in range(classes)])
    precision = LedoitWolf().fit(pzt - pm[train_labels]).precision_
    diff = pz[:, None] - pm[None]
    near = np.sort(unit @ unit_t.T, axis=1)[:, -5]
    return {
        "top-1 probability": top1_probability(logits),
        "largest logit": top,
        "energy (log-sum-exp)": energy,
        "cosine to the nearest class mean": (unit @ unit_m.T).max(1),
        "Euclidean to the nearest class mean": -((z[:, None] - means[None]) ** 2).sum(2).min(1),
        "Mahalanobis (64 PCs, Ledoit-Wolf)": -np.einsum("nkd,de,nke->nk", diff, precision,
                                                        diff).min(1),
        "cosine to the 5th nearest neighbour": near,
    }


def one_seed(seed: int, resolution: int) -> list[dict]:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from edgecam.train.dataset import UNKNOWN
    from edgecam.train.features import Features
    from edgecam.train.head import HeadConfig, train_head
    from edgecam.train.rejection import threshold_keeping
    from edgecam.util.signals import StopFlag

    feats = features(seed, resolution)
    x, digit = feats["train"]
    hx, hdigit = feats["heldout"]
    idx = np.arange(len(digit))
    tr, va = train_test_split(idx, test_size=0.2, stratify=digit, random_state=seed)
    k = len(KNOWN)
    known_ids = list(range(k))
    unknown_ids = [DIGIT_NAMES.index(n) for n in UNKNOWN_FOLDER]
    held_known = np.isin(hdigit, known_ids)
    never = np.isin(hdigit, [DIGIT_NAMES.index(n) for n in NEVER])
    rows = []
    ways = {"rule alone": None, "unknown folder, outlier exposure": "oe",
            "unknown folder, an extra class": "class"}
    for how, way in ways.items():
        used = known_ids + (unknown_ids if way else [])
        t, v = tr[np.isin(digit[tr], used)], va[np.isin(digit[va], used)]

        def label(d, way=way):
            return np.where(d < k, d, UNKNOWN if way == "oe" else k)

        classes = k + (1 if way == "class" else 0)
        with StopFlag() as stop:
            head = train_head(Features(x[t][None], label(digit[t]), x[v], label(digit[v])),
                              classes, HeadConfig(), seed, stop)
        tk = t[digit[t] < k]
        got = scores(head, np.concatenate([x[va], hx]), x[tk], digit[tk], k)
        n_val = len(va)
        val_known = np.isin(digit[va], known_ids)
        answer = head.logits(hx).argmax(1)
        for name, s in got.items():
            sv, sh = s[:n_val], s[n_val:]
            threshold = threshold_keeping(sv[val_known], 0.95)
            accepted = sh >= threshold
            if way == "class":  # the extra class answers unknown too
                accepted &= answer != k
            rows.append({
                "seed": seed, "how": how, "score": name,
                "auroc": round(auroc(sh[held_known], sh[never]), 4),
                "kept": round(float((accepted & (answer == hdigit))[held_known].mean()), 4),
                "never_unknown": round(float((~accepted[never]).mean()), 4),
            })
        log(f"seed {seed}, {how}: done")
    return rows


def table(rows: list[dict]) -> list[str]:
    import statistics

    lines = ["| classifier | score | AUROC known vs never seen | kept on right label | "
             "never seen -> unknown |", "| --- | --- | ---: | ---: | ---: |"]
    for how, score in dict.fromkeys((r["how"], r["score"]) for r in rows):
        rs = [r for r in rows if (r["how"], r["score"]) == (how, score)]
        auc, kept, never = (statistics.mean(r[key] for r in rs)
                            for key in ("auroc", "kept", "never_unknown"))
        lines.append(f"| {how} | {score} | {auc:.3f} | {kept:.1%} | {never:.1%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp())
    rows = [r for s in args.seeds.split(",") for r in one_seed(int(s), args.resolution)]
    lines = table(rows)
    write_json(RESULTS_DIR / "unknown-scores.json",
               {"machine": machine(threads=len(os.sched_getaffinity(0)), with_torch=True),
                "resolution": args.resolution, "rows": rows, "table": lines})
    md = "\n".join(lines) + "\n"
    (RESULTS_DIR / "unknown-scores.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
