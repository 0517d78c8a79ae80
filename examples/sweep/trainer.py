"""The `train` task's python action: ``python "trainer:main"`` in sweep.xpm.

xpmbuild calls ``main`` in the job directory with one keyword argument per parameter and
per output: ``data`` is the `prepare` job (its attribute ``tokens`` is the absolute path of
its output), ``opt`` the Optimizer config (read-only attributes), ``model`` the output path
(a pathlib.Path), ``device`` the option. A deterministic toy: "training" fits add-k
smoothed unigram counts, with k decreasing over epochs at a rate set by lr.
"""
import json
import random
from collections import Counter
from pathlib import Path


def main(data, opt, epochs, seed, device, model, **_ignored):
    tokens = Path(data.tokens).read_text(encoding="utf-8").split()
    rng = random.Random(seed)
    order = list(range(len(tokens)))
    rng.shuffle(order)
    n_held = max(len(tokens) // 5, 1)
    held, train = order[:n_held], order[n_held:]
    dev = [tokens[i] for i in held[: n_held // 2]]
    test = [tokens[i] for i in held[n_held // 2:]]
    counts = Counter(tokens[i] for i in train)
    k = 1.0
    for _ in range(epochs):          # "optimization": shrink the smoothing constant
        k = max(k * (1.0 - min(opt.lr * 100, 0.9)), 0.01)
    Path(model).write_text(json.dumps({
        "counts": counts, "k": k, "seed": seed, "lr": opt.lr, "betas": list(opt.betas),
        "device": device, "dev": dev, "test": test,
    }, sort_keys=True), encoding="utf-8")
    print(f"trained on {len(train)} tokens, k={k:.4f}, device={device}")
