"""The fuzz worker: checks many inputs in one process (tests/fuzz/test_fuzz.py).

Reads requests from stdin, one JSON line each: {"dir": folder, "data": base64 bytes};
writes the input to FOLDER/__fuzz__.xpm, runs the library entry point the command line
uses (``xpmbuild.language.evaluate``) and answers one JSON line: {"result": "ok"} /
{"result": "error", "problem": None or what is wrong with the rendered error} /
{"result": "crash", "detail": traceback}. The parent sets RLIMIT_AS and a timeout per
input, and restarts the worker when it dies.
"""
from __future__ import annotations

import base64
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzzcheck import check_rendered  # noqa: E402
from xpmbuild.language import XpmError, evaluate  # noqa: E402
from xpmbuild.language.errors import display_path  # noqa: E402


def main():
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        data = base64.b64decode(req["data"])
        path = os.path.join(req["dir"], "__fuzz__.xpm")
        with open(path, "wb") as f:
            f.write(data)
        try:
            evaluate(path)
            answer = {"result": "ok"}
        except XpmError as err:
            rendered = err.render()
            files = {}

            def read(shown):
                if shown in files:
                    return files[shown]
                for candidate in (shown, os.path.abspath(shown)):
                    if os.path.isfile(candidate):
                        with open(candidate, "rb") as f:
                            files[shown] = f.read()
                        return files[shown]
                return None
            problem = check_rendered(rendered, read)
            if err.file and display_path(err.file) != rendered.split(":", 1)[0]:
                problem = problem or "the file shown is not the error's file"
            answer = {"result": "error", "problem": problem, "rendered": rendered[:1500]}
        except BaseException:   # noqa: BLE001 - any other exception is what we look for
            answer = {"result": "crash", "detail": traceback.format_exc()[-3000:]}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
