"""Compare two metrics.json files: which model is more accurate."""
import json
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: compare.py BASELINE_METRICS CANDIDATE_METRICS", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        base = json.load(f)
    with open(argv[1], encoding="utf-8") as f:
        cand = json.load(f)
    delta = cand["accuracy"] - base["accuracy"]
    verdict = "better" if delta > 0 else "worse" if delta < 0 else "as good"
    print(f"baseline  {base['kind']:<7} accuracy {base['accuracy']:.4f}")
    print(f"candidate {cand['kind']:<7} accuracy {cand['accuracy']:.4f}")
    print(f"candidate is {verdict} ({delta:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
