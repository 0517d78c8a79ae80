"""Mutation fuzzing of the language front end: 10,000 seeded inputs, deterministic.

Seeds are the examples (examples/*/*.xpm and their imported files) and the corpus of
tests/fuzz/corpus/. Each input is a seed with 1 to 4 mutations: byte flips, deletions,
insertions of hostile fragments (\\f \\v U+0085 U+2028 NUL, braces, quotes, backslashes,
huge numbers, deep nesting, invalid UTF-8) and splices of other seeds.

Inputs run in-process in worker processes (tests/fuzz/worker.py), many per process,
with a 2 GB address-space limit; each must either succeed or raise an XpmError rendered
as FILE:LINE:COL with the caret under the right line. Any other exception, a dead
worker, or more than TIMEOUT seconds for one input fails the test, printing the input.
"""
from __future__ import annotations

import base64
import json
import os
import random
import resource
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
N_INPUTS = int(os.environ.get("XPM_FUZZ_INPUTS", "10000"))
SEED = int(os.environ.get("XPM_FUZZ_SEED", "8"))
WORKERS = 2
TIMEOUT = 20.0              # seconds for one input (generous: CI machines are shared)
MEMORY = 2 * 1024 ** 3

FRAGMENTS = [
    b"\x0c", b"\x0b", "\x85".encode(), "\u2028".encode(), "\u2029".encode(), b"\x00",
    b"\r", b"\n", b"\t", b"{", b"}", b"{{", b"}}", b"{x}", b'"', b"'", b'"""', b"\\",
    b"\\N{", b"\\x", b"\\u12", b"\\q", b"\\0", b"\\\n", b"9" * 4400, b"1e999", b"1e308 * 10",
    b"* 10000000000", b"* 99999999999999999999", b"(" * 150, b"[" * 150, b"{" * 150,
    b")" * 150, b"]" * 150, b"-" * 150, b" + 1" * 150, b"not " * 150, b"if True {\n" * 120,
    b"range(1000000000)", b"\xff", b"\xc3", b"\xe2\x82", "é".encode(), b"#", b" $ ",
    b"\nx = [0] * 2000000000\n", b'\nx = "%999999999d" % 1\n', b"import \"nope.xpm\"\n",
    b'import "__fuzz__.xpm"\n', b"str(", b"tag(", b" or ", b" // 0", b"[0]", b"=",
]


def _seeds():
    seeds = []
    for path in sorted(REPO.glob("examples/*/*.xpm")) + sorted(REPO.glob("examples/*/lib/*.xpm")):
        seeds.append((path.parent.relative_to(REPO / "examples").parts[0], path.read_bytes()))
    for path in sorted((HERE / "corpus").glob("*.xpm")):
        data = path.read_bytes()
        if len(data) <= 20000:
            seeds.append(("corpus", data))
    return seeds


def mutate(rng: random.Random, data: bytes, seeds) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randint(0, len(buf))
        if op < 0.25 and buf:                       # flip / replace a byte
            i = min(pos, len(buf) - 1)
            buf[i] = buf[i] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else \
                rng.randrange(256)
        elif op < 0.35 and buf:                     # delete a range
            del buf[pos:pos + rng.randint(1, 16)]
        elif op < 0.8:                              # insert a hostile fragment
            buf[pos:pos] = rng.choice(FRAGMENTS)
        elif op < 0.9:                              # splice a piece of another seed
            other = rng.choice(seeds)[1]
            a = rng.randint(0, len(other))
            buf[pos:pos] = other[a:a + rng.randint(1, 200)]
        else:                                       # duplicate a line
            lines = bytes(buf).split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


class Worker:
    def __init__(self, env):
        self.env = env
        self.start()

    def start(self):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=self.env,
                                     preexec_fn=_limit)
        self.started = None

    def send(self, folder, data):
        req = {"dir": folder, "data": base64.b64encode(data).decode()}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        self.started = time.monotonic()

    def restart(self):
        self.proc.kill()
        self.proc.wait()
        self.start()


@pytest.mark.slow
def test_mutation_fuzz(tmp_path):
    seeds = _seeds()
    rng = random.Random(SEED)
    inputs = []
    for _ in range(N_INPUTS):
        folder, data = rng.choice(seeds)
        inputs.append((folder, mutate(rng, data, seeds)))
    # each worker has its own copy of the examples (imports resolve beside the input)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    dirs = []
    for w in range(WORKERS):
        root = tmp_path / f"w{w}"
        shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("data"))
        (root / "corpus").mkdir()
        shutil.copytree(HERE / "corpus" / "lib", root / "corpus" / "lib")
        dirs.append(root)
    workers = [Worker(env) for _ in range(WORKERS)]
    failures, counts = [], {"ok": 0, "error": 0, "crash": 0, "hang": 0, "died": 0}
    pending = {}        # worker index -> input index
    next_input = 0
    started = time.monotonic()
    while next_input < len(inputs) or pending:
        for w, worker in enumerate(workers):
            if w not in pending and next_input < len(inputs):
                folder, data = inputs[next_input]
                worker.send(str(dirs[w] / folder), data)
                pending[w] = next_input
                next_input += 1
        ready, _, _ = select.select([workers[w].proc.stdout for w in pending], [], [], 0.5)
        now = time.monotonic()
        for w in list(pending):
            worker, i = workers[w], pending[w]
            if worker.proc.stdout in ready:
                line = worker.proc.stdout.readline()
                if not line:                # the worker died (a crash below Python)
                    counts["died"] += 1
                    failures.append((i, "worker died", ""))
                    worker.restart()
                    del pending[w]
                    continue
                answer = json.loads(line)
                counts[answer["result"]] += 1
                if answer["result"] == "crash":
                    failures.append((i, "exception", answer["detail"]))
                elif answer["result"] == "error" and answer["problem"]:
                    failures.append((i, answer["problem"], answer["rendered"]))
                del pending[w]
            elif now - worker.started > TIMEOUT:
                counts["hang"] += 1
                failures.append((i, f"no answer in {TIMEOUT} s", ""))
                worker.restart()
                del pending[w]
    for worker in workers:
        worker.proc.stdin.close()
        worker.proc.wait()
    elapsed = time.monotonic() - started
    print(f"\nfuzz: {len(inputs)} inputs in {elapsed:.0f} s: {counts}")
    report = []
    for i, what, detail in failures[:10]:
        report.append(f"--- input {i} (seed {SEED}): {what}\n{inputs[i][1][:600]!r}\n{detail}")
    assert not failures, f"{len(failures)} failures\n" + "\n".join(report)
