"""Start-up of the command line: `--version`, `--help` and the bare interpreter, in fresh
processes, alternating, repeated; medians of wall time and of CPU time (user + system,
which a busy machine inflates less).

    python bench/startup.py --repeat 21

Targets (issue 13): `xpmbuild --version` <= 40 ms, `--help` <= 60 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -S -c pass": [sys.executable, "-S", "-c", "pass"],
    "xpmbuild --version": [sys.executable, "-m", "xpmbuild.cli", "--version"],
    "xpmbuild --help": [sys.executable, "-m", "xpmbuild.cli", "--help"],
}


def one(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t0, ru.ru_utime + ru.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=11)
    args = ap.parse_args(argv)
    runs = {k: [] for k in CASES}
    for _ in range(args.repeat):
        for k, cmd in CASES.items():
            runs[k].append(one(cmd))
    for k, rs in runs.items():
        print(f"{k:<22} wall {statistics.median(r[0] for r in rs) * 1000:6.0f} ms   "
              f"cpu {statistics.median(r[1] for r in rs) * 1000:6.0f} ms")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
