"""The cost of code tracking: the no-op of N jobs whose command names a script that imports
local modules, beside the same jobs naming no script.

    python bench/code_tracking.py [--n 10000] [--repeat 5]

Each figure is the real `xpmbuild` command in a fresh process (median of --repeat runs):

- ``noop``: the fast path (the manifest stats every file, code files included);
- ``noop-full``: the same run without the manifest (parse, evaluate, fingerprint every job,
  code hashed once per task and run);
- ``plan-edited``: `plan` after a helper module two imports deep changed (every job stale).

The `code` variant's command is ``test -f {here}/prep.py && echo {i} > {out}``, prep.py
importing five local modules (two of them through a package); the `plain` variant's is
``echo {i} > {out}``.
"""
from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

XPM = """
arg n: int = 1000
task leaf {{
    i: int
    output out = "out.txt"
    shell "{command}"
}}
for i in range(n) {{ leaf(i=i) }}
"""

COMMANDS = {"code": "test -f {here}/prep.py && echo {i} > {out}",
            "plain": "echo {i} > {out}"}


def sh(cmd, cwd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return time.perf_counter() - t0


def project(root, variant, n):
    os.makedirs(os.path.join(root, "lib"), exist_ok=True)
    with open(os.path.join(root, "exp.xpm"), "w") as f:
        f.write(XPM.format(command=COMMANDS[variant]).replace("1000", str(n)))
    files = {"prep.py": "import a\nimport b\nfrom lib import c\n",
             "a.py": "import d\n", "b.py": "X = 1\n", "d.py": "Y = 1\n",
             "lib/__init__.py": "", "lib/c.py": "from . import e\n", "lib/e.py": "Z = 1\n"}
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    xpm = [sys.executable, "-m", "xpmbuild.cli"]
    base = tempfile.mkdtemp(prefix="xpm-bench-code-")
    print(f"N={args.n}, median of {args.repeat} (fresh folders under {base})")
    for variant in ("plain", "code"):
        root = os.path.join(base, variant)
        project(root, variant, args.n)
        run = xpm + ["run", "exp.xpm", "-w", "ws", "-j", "2"]
        full = sh(run, root)
        noop = statistics.median(sh(run, root) for _ in range(args.repeat))
        fulls = []
        for _ in range(args.repeat):
            for m in glob.glob(os.path.join(root, "ws", ".xpm", "noop-*")):
                os.unlink(m)
            fulls.append(sh(run, root))
        line = (f"{variant:5}  full-build={full:6.2f}s  noop={noop:5.3f}s  "
                f"noop-full={statistics.median(fulls):5.3f}s")
        if variant == "code":
            with open(os.path.join(root, "lib", "e.py"), "a") as f:
                f.write("# edited\n")
            plan = sh(xpm + ["plan", "exp.xpm", "-w", "ws", "--json"], root)
            line += f"  plan-edited={plan:5.3f}s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
