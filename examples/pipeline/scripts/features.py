"""Text → features, shared by vocab.py, train.py and evaluate.py (stdlib only)."""
import re


def truthy(text) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def words(text: str, lowercase: bool = True) -> list:
    if lowercase:
        text = text.lower()
    return re.findall(r"[\w']+", text)


def features(text: str, kind: str = "bow", lowercase: bool = True) -> list:
    ws = words(text, lowercase)
    out = list(ws)
    if kind == "bigram":
        out += [f"{a}_{b}" for a, b in zip(ws, ws[1:])]
    return out


def read_tsv(path: str) -> list:
    """[(label, text)] from `label<TAB>text` lines."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                label, text = line.rstrip("\n").split("\t", 1)
                rows.append((label, text))
    return rows
