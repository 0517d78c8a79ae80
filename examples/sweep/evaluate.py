"""Perplexity of a trained unigram model on its held-out split (JSON on stdout)."""
import argparse
import json
import math
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--split", choices=["dev", "test"], default="dev")
    args = ap.parse_args(argv)
    with open(args.model, encoding="utf-8") as f:
        model = json.load(f)
    counts, k = model["counts"], model["k"]
    vocab = len(counts) + 1                      # + the unknown token
    total = sum(counts.values()) + k * vocab
    tokens = model[args.split]
    nll = -sum(math.log((counts.get(t, 0) + k) / total) for t in tokens)
    ppl = math.exp(nll / max(len(tokens), 1))
    json.dump({"split": args.split, "tokens": len(tokens), "perplexity": round(ppl, 4),
               "lr": model["lr"], "seed": model["seed"]}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
