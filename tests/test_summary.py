"""Sequential.summary(): prints once by default, returns the table as a str with rows and an HTML view."""

import numpy as np
import pytest

from fastnet import Sequential, zoo
from fastnet.layers import BatchNorm2d, Conv1d, Conv2d, Dense, Flatten, GlobalAvgPool2d, ReLU
from fastnet.model import Summary


def test_prints_once_by_default_and_returns_the_table(capsys):
    result = zoo.lenet5().summary((1, 8, 8))
    out = capsys.readouterr().out
    assert out == str(result) + "\n"                          # printed once, as Keras does
    assert isinstance(result, Summary) and isinstance(result, str)
    assert "Total params: 19,754" in result and result.total_params == 19_754
    quiet = zoo.lenet5().summary((1, 8, 8), print_fn=None)
    assert capsys.readouterr().out == "" and quiet == result
    print(quiet)
    assert capsys.readouterr().out.count("Total params") == 1
    lines = []
    zoo.lenet5().summary((1, 8, 8), print_fn=lines.append)
    assert lines == [str(result)]
    with pytest.raises(TypeError, match="print_fn"):
        zoo.lenet5().summary((1, 8, 8), print_fn="yes")


def test_rows_html_and_formulas():
    model = Sequential([Conv2d(3, 8, 5, seed=0), BatchNorm2d(8), ReLU(), GlobalAvgPool2d(), Dense(8, 4, seed=1)])
    result = model.summary((3, 12, 12), print_fn=None)
    assert [r["output_shape"] for r in result.rows] == [(8, 8, 8), (8, 8, 8), (8, 8, 8), (8,), (4,)]
    assert result.rows[0]["weights_formula"] == "(5x5x3)x8 = 600" and result.rows[0]["params"] == 608
    assert result.rows[1]["weights_formula"] == "" and result.rows[1]["params"] == 16     # gamma, beta
    assert result.rows[4]["weights_formula"] == "8x4 = 32"
    html = result._repr_html_()
    assert html.count("<tr>") == 1 + 5 + 1 and "(5x5x3)x8 = 600" in html and "Total params: 660" in html
    printed = []

    class Printer:
        def text(self, value):
            printed.append(value)

    result._repr_pretty_(Printer(), False)
    assert printed == [str(result)]
    flat = Sequential([Conv1d(2, 3, 3, seed=0), Flatten(), Dense(3 * 6, 2, seed=1)])
    rows = flat.summary((2, 8), print_fn=None).rows
    assert rows[0]["weights_formula"] == "(3x2)x3 = 18"
    assert rows[2]["weights_formula"] == "(6x3)x2 = 36"        # the lectures' (W x C) x out after Flatten
    assert np.sum([r["params"] for r in rows]) == flat.num_parameters()
