"""Shuffle a labelled TSV and write train.tsv, dev.tsv and test.tsv into --out."""
import argparse
import os
import random
import sys

from features import read_tsv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus")
    ap.add_argument("--dev", type=float, default=0.2)
    ap.add_argument("--test", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=".")
    args = ap.parse_args(argv)
    rows = read_tsv(args.corpus)
    random.Random(args.seed).shuffle(rows)
    n_dev, n_test = int(len(rows) * args.dev), int(len(rows) * args.test)
    parts = {"dev": rows[:n_dev], "test": rows[n_dev:n_dev + n_test],
             "train": rows[n_dev + n_test:]}
    for name, part in parts.items():
        with open(os.path.join(args.out, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(f"{label}\t{text}\n" for label, text in part)
        print(f"{name}: {len(part)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
