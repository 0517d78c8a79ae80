"""Python actions of wordcount.xpm.

xpmbuild calls each function in the job's directory with one keyword argument per
parameter and per output of the task:

- ``path`` parameters and outputs are ``pathlib.Path`` objects (outputs are inside the
  job directory, which is the current directory);
- configs are read-only objects with attribute access (``filter.min_length``);
- a dependency is an object whose attributes are the absolute paths of its outputs
  (``counts.counts``);
- options are passed too (``verbose``), though they are not part of the job's identity.
"""
import json
import re
from collections import Counter
from pathlib import Path


def count(text: Path, filter, verbose: bool, counts: Path) -> None:
    words = re.findall(r"[A-Za-z']+", Path(text).read_text(encoding="utf-8"))
    if filter.lowercase:
        words = [w.lower() for w in words]
    stop = set(filter.stopwords)
    kept = Counter(w for w in words if len(w) >= filter.min_length and w not in stop)
    Path(counts).write_text(json.dumps(dict(kept.most_common()), indent=1), encoding="utf-8")
    if verbose:
        print(f"{len(words)} words, {len(kept)} distinct kept")


def summarize(counts, top: int, summary: Path) -> None:
    table = json.loads(Path(counts.counts).read_text(encoding="utf-8"))
    lines = ["| word | count |", "|---|---|"]
    lines += [f"| {w} | {n} |" for w, n in list(table.items())[:top]]
    Path(summary).write_text("\n".join(lines) + "\n", encoding="utf-8")
