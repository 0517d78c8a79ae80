"""A toy training: fit y = 3x - 1 on noisy points by gradient descent, logging the loss
and the weights to TensorBoard at every step (events.py, standard library only)."""
from __future__ import annotations

import json
import random

from events import EventWriter


def main(data, lr, steps, seed, events, model):
    points = [tuple(map(float, line.split())) for line in open(data) if line.strip()]
    rng = random.Random(seed)
    w, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
    writer = EventWriter(str(events))
    for step in range(1, steps + 1):
        batch = rng.sample(points, min(16, len(points)))
        gw = gb = loss = 0.0
        for x, y in batch:
            err = w * x + b - y
            loss += err * err / len(batch)
            gw += 2 * err * x / len(batch)
            gb += 2 * err / len(batch)
        w, b = w - lr * gw, b - lr * gb
        writer.scalar("loss", loss, step)
        writer.scalar("weights/w", w, step)
        writer.scalar("weights/b", b, step)
    writer.close()
    model.write_text(json.dumps({"w": w, "b": b, "loss": loss}) + "\n")
