"""`python -m fastnet train`: options, errors, --save, and the default job's >= 97% accuracy."""

import re
import subprocess
import sys

import pytest

from fastnet import cli, datasets
from fastnet.model import load


def test_train_one_epoch_and_save(tmp_path, capsys):
    path = tmp_path / "lenet.npz"
    rc = cli.main(["train", "--epochs", "1", "--batch-size", "64", "--lr", "0.003", "--seed", "1", "--threads", "1",
                   "--save", str(path)])
    out, err = capsys.readouterr()
    assert rc == 0
    match = re.search(r"^test accuracy: (0\.\d{4}|1\.0000)$", out, re.M)
    assert match, out
    assert out.rstrip().splitlines()[-1].startswith("test accuracy: ")
    assert "epoch 1/1" in err and "samples/s" in err and "JIT" in err
    model = load(path)
    _, (x_test, y_test) = datasets.load_digits(seed=1)
    assert model.evaluate(x_test, y_test)["accuracy"] == pytest.approx(float(match.group(1)), abs=1e-4)


@pytest.mark.parametrize("args,match", [
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--lr", "0"], "--lr"),
    (["--seed", "-3"], "--seed"),
    (["--threads", "0"], "n: expected"),
])
def test_train_bad_arguments(args, match, capsys):
    assert cli.main(["train"] + args) == 2
    assert match in capsys.readouterr().err


def test_train_help_from_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "fastnet", "train", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--threads", "--save"):
        assert option in result.stdout


def test_default_job_reaches_97_percent(capsys):
    """The acceptance run: the default recipe, in-process (kernels already compiled by earlier tests)."""
    rc = cli.main(["train", "--no-progress"])
    out, _ = capsys.readouterr()
    assert rc == 0
    accuracy = float(re.search(r"^test accuracy: ([0-9.]+)$", out, re.M).group(1))
    assert accuracy >= 0.97, out
