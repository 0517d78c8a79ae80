"""Count words and word bigrams of a training TSV; JSON {feature: count} on stdout."""
import argparse
import json
import sys
from collections import Counter

from features import features, read_tsv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("train")
    ap.add_argument("--min-count", type=int, default=1)
    args = ap.parse_args(argv)
    counts = Counter()
    for _, text in read_tsv(args.train):
        counts.update(features(text, "bigram", lowercase=False))
        counts.update(features(text, "bigram", lowercase=True))
    json.dump({f: c for f, c in sorted(counts.items()) if c >= args.min_count}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
