"""The tutorial's code (docs/tutorial.rst) runs as written, in order, in one interpreter.

Its ``.. code-block:: python`` blocks are joined and run in a subprocess (timeout, one thread).
Only the epoch counts are cut to keep the test short: ``epochs=N`` and ``epochs = N`` become 2, and
the accuracies it prints are not checked here (the examples' tests check training quality).
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.rst"


def tutorial_code():
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?: {4}.*)?\n)+)", text)
    assert len(blocks) >= 5, "the tutorial's code blocks were not found"
    return "\n".join(textwrap.dedent(block) for block in blocks)


def test_tutorial_code_runs(tmp_path):
    code = tutorial_code()
    quick = re.sub(r"\bepochs( ?= ?)\d+", r"epochs\g<1>2", code)
    assert quick != code and "range(300)" in quick
    script = tmp_path / "tutorial.py"
    script.write_text(quick.replace("range(300)", "range(2)"), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for expected in ["w = ", "hand-written loop: error", "(1295, 64) float32 (1295,) int64",
                     "validation accuracy per epoch", "last lr", "AdamW"]:
        assert expected in out, f"{expected!r} missing from the tutorial's output:\n{out}"
