"""Start-up of the command line: `--version`, `--help` (replayed from the help cache, and
rendered by rich-click with the cache unusable) and the bare interpreter, in fresh
processes, alternating, repeated; medians of wall time and of CPU time (user + system,
which a busy machine inflates less).

    python bench/startup.py --repeat 21
    python bench/startup.py --python /tmp/venv/bin/python     # another interpreter / install

Targets (issue 13): `xpmbuild --version` <= 40 ms, `--help` <= 60 ms. Compare each figure
with the floor `python -c pass` printed beside it: what the interpreter's site does before
xpmbuild runs (.pth files: an editable install's import hook, a sandbox's) is paid by every
command and is listed below the table, as is a PYTHONDONTWRITEBYTECODE that makes every
start compile xpmbuild's modules again when they have no bytecode cache yet.
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


def cases(python, cache_dir, no_cache):
    return {
        "python -S -c pass": ([python, "-S", "-c", "pass"], None),
        "python -c pass": ([python, "-c", "pass"], None),
        "xpmbuild --version": ([python, "-m", "xpmbuild.cli", "--version"], None),
        "xpmbuild --help": ([python, "-m", "xpmbuild.cli", "--help"], cache_dir),
        "xpmbuild --help, no cache": ([python, "-m", "xpmbuild.cli", "--help"], no_cache),
    }


def one(cmd, cache_dir, cwd):
    """(wall, cpu) of one run, in ``cwd`` (not the caller's folder: ``python -m`` would
    import a checkout found there instead of the interpreter's xpmbuild)."""
    env = dict(os.environ) if cache_dir is None else dict(os.environ, XDG_CACHE_HOME=cache_dir)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                         cwd=cwd)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t0, ru.ru_utime + ru.ru_stime


def site_hooks(python) -> list[str]:
    out = subprocess.run([python, "-c", "import site, sys; print('\\n'.join("
                          "site.getsitepackages() + [site.getusersitepackages()]))"],
                         capture_output=True, text=True).stdout.split()
    return sorted(os.path.basename(p) for d in out for p in glob.glob(os.path.join(d, "*.pth")))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter to start (default: this one)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = os.path.join(tmp, "cache")
        no_cache = os.path.join(tmp, "not-a-dir")
        with open(no_cache, "w"):
            pass                                    # a file: the help cache cannot be used
        table = cases(args.python, cache_dir, no_cache)
        one(table["xpmbuild --help"][0], cache_dir, tmp)  # fills the cache (not timed)
        runs = {k: [] for k in table}
        load0 = os.getloadavg()
        for _ in range(args.repeat):
            for k, (cmd, cache) in table.items():
                runs[k].append(one(cmd, cache, tmp))
    for k, rs in runs.items():
        print(f"{k:<27} wall {statistics.median(r[0] for r in rs) * 1000:6.0f} ms   "
              f"cpu {statistics.median(r[1] for r in rs) * 1000:6.0f} ms")
    print(f"python: {args.python}; site .pth files: {', '.join(site_hooks(args.python)) or 'none'}"
          f"; xpmbuild from {os.environ.get('PYTHONPATH') or 'the install'}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: modules without a bytecode cache are compiled "
              "at every start")
    print(f"load average: {load0} before, {os.getloadavg()} after")


if __name__ == "__main__":
    main()
