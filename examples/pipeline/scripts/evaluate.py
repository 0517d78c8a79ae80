"""Accuracy of a trained perceptron on a labelled TSV; JSON on stdout."""
import argparse
import json
import sys

from features import features, read_tsv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args(argv)
    with open(args.weights, encoding="utf-8") as f:
        model = json.load(f)
    w, labels = model["weights"], model["labels"]
    rows = read_tsv(args.data)
    correct = 0
    for label, text in rows:
        score = sum(w.get(f, 0.0) for f in features(text, model["kind"], model["lowercase"]))
        correct += (labels[-1] if score > 0 else labels[0]) == label
    json.dump({"examples": len(rows), "accuracy": round(correct / max(len(rows), 1), 4),
               "kind": model["kind"]}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
