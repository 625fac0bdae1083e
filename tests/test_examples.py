"""The examples run (quick settings), and the sigmoid neuron reproduces the lecture's code."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def neuron():
    return load_example("sigmoid_neuron")


def test_sigmoid_neuron_matches_the_lecture_every_epoch(neuron):
    model, path = neuron.fastnet_gradient_descent(1000)
    reference = neuron.lecture_gradient_descent(1000)
    assert path.shape == reference.shape == (1000, 2)
    np.testing.assert_allclose(path, reference, rtol=0, atol=1e-12)
    # and the fit is the lecture's: f(0.5) ~ 0.2, f(2.5) ~ 0.9
    x = np.array([[0.5], [2.5]])
    np.testing.assert_allclose(model.predict(x)[:, 0], [0.2, 0.9], atol=1e-3)
    # not a tautology: the weights moved far from the start
    assert abs(path[-1, 0] - -2.0) > 1


def test_sigmoid_neuron_lecture_code_is_the_lecture(neuron):
    # one epoch by hand: w, b = -2, -2; dw = sum (fx - y) fx (1 - fx) x
    f = [1 / (1 + np.exp(-(-2 * x - 2))) for x in (0.5, 2.5)]
    dw = sum((fx - y) * fx * (1 - fx) * x for fx, x, y in zip(f, (0.5, 2.5), (0.2, 0.9)))
    db = sum((fx - y) * fx * (1 - fx) for fx, y in zip(f, (0.2, 0.9)))
    np.testing.assert_allclose(neuron.lecture_gradient_descent(1)[0], [-2 - dw, -2 - db], rtol=1e-15)


def test_sigmoid_neuron_main(neuron, capsys):
    assert neuron.main([], quick=True) == 0
    assert "largest difference from the lecture" in capsys.readouterr().out


def test_sigmoid_neuron_as_a_script():
    result = subprocess.run([sys.executable, str(EXAMPLES / "sigmoid_neuron.py"), "--epochs", "50"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "after 50 epochs" in result.stdout


def test_optimizers_compared_quick(capsys):
    module = load_example("optimizers_compared")
    results = module.main([], quick=True)
    assert set(results) == set(module.OPTIMIZERS)
    for name, (path, loss) in results.items():
        assert path.shape == (11, 2) and loss.shape == (10,)
        assert loss[-1] < loss[0], name
    out = capsys.readouterr().out
    assert "Adam" in out and "Adadelta" in out


def test_mlp_digits_quick():
    metrics = load_example("mlp_digits").main([], quick=True)
    assert 0.1 < metrics["accuracy"] <= 1.0


def test_lenet_digits_quick(tmp_path):
    metrics = load_example("lenet_digits").main(["--save", str(tmp_path / "lenet.npz")], quick=True)
    assert metrics["accuracy"] > 0.5
    assert (tmp_path / "lenet.npz").exists()


def test_conv3d_volumes_quick():
    module = load_example("conv3d_volumes")
    x, y = module.make_bars(10, seed=0)
    assert x.shape == (10, 1, 8, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(module.make_bars(60, seed=1)[1])) == {0, 1, 2}
    metrics = module.main([], quick=True)
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_conv3d_volumes_reaches_high_accuracy():
    metrics = load_example("conv3d_volumes").main([])
    assert metrics["accuracy"] >= 0.9


def test_mlp_digits_full():
    metrics = load_example("mlp_digits").main([])
    assert metrics["accuracy"] >= 0.95


# --- issue 12 examples ---------------------------------------------------------------------------

def test_convolution_1d_matches_the_formula(capsys):
    conv, formula = load_example("convolution_1d").main([])
    assert conv.shape == formula.shape == (6,)
    np.testing.assert_allclose(conv, formula, rtol=1e-14)
    assert "largest difference" in capsys.readouterr().out


def test_error_surface_quick(capsys):
    results = load_example("error_surface").main(["--quick"])
    for path, curve in results.values():
        assert curve[-1] < curve[0]                    # both searches went downhill
        assert path.shape[1] == 2
    out = capsys.readouterr().out
    assert "0.1481" in out and "gradient descent" in out


def test_alexnet_arithmetic_tables(capsys):
    module = load_example("alexnet_arithmetic")
    counts, timings = module.main(["--no-timing"])
    assert counts == {"AlexNet (lectures)": 28_823_912, "ZFNet (lectures)": 40_518_760, "VGG-16": 138_357_544}
    assert timings == {}
    out = capsys.readouterr().out
    assert "(5x5x96)x256 = 0.6144M" in out and "(N, 256, 2, 2)" in out
    # the timing code path, on a network that compiles in seconds
    from fastnet import zoo
    model = zoo.lenet5()
    forward, backward = module.layer_times(model, np.zeros((2, 1, 8, 8), np.float32), np.array([0, 1]))
    assert len(forward) == len(backward) == len(model.layers)
