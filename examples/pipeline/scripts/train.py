"""Train a binary perceptron over the features of a vocabulary; write weights as JSON."""
import argparse
import json
import random
import sys

from features import features, read_tsv, truthy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--kind", choices=["bow", "bigram"], default="bow")
    ap.add_argument("--lowercase", default="True")
    ap.add_argument("--max-features", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    lowercase = truthy(args.lowercase)
    with open(args.vocab, encoding="utf-8") as f:
        counts = json.load(f)
    ranked = sorted(counts, key=lambda feat: (-counts[feat], feat))
    allowed = set(
        [f for f in ranked if args.kind == "bigram" or "_" not in f][: args.max_features])
    rows = read_tsv(args.train)
    labels = sorted({label for label, _ in rows})
    weights = {}
    rng = random.Random(args.seed)
    for _ in range(args.epochs):
        rng.shuffle(rows)
        for label, text in rows:
            feats = [f for f in features(text, args.kind, lowercase) if f in allowed]
            y = 1 if label == labels[-1] else -1
            if y * sum(weights.get(f, 0.0) for f in feats) <= 0:
                for f in feats:
                    weights[f] = weights.get(f, 0.0) + args.lr * y
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"labels": labels, "kind": args.kind, "lowercase": lowercase,
                   "weights": weights}, f, sort_keys=True)
    print(f"{len(weights)} weights, {args.epochs} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
