"""Tokenize a text file: one token per line on stdout (stdlib only)."""
import argparse
import re
import sys


def truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus")
    ap.add_argument("--lowercase", default="True")
    args = ap.parse_args(argv)
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    if truthy(args.lowercase):
        text = text.lower()
    for token in re.findall(r"\w+|[^\w\s]", text):
        sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
