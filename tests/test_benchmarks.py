"""fastnet.benchmarks (the registry behind bench/ and `python -m fastnet bench`) and the vectorized baselines."""

import argparse
import importlib.util
import json
import warnings

import numpy as np
import pytest

from fastnet import bench_cnn, bench_machine, bench_report, bench_runner, benchmarks
from fastnet.jobs import bench as bench_job
from fastnet.reference import vectorized

from helpers import assert_close, codegen_probe

OP_CASES = [c for c in benchmarks.CASES if c.family != "training"]


def test_registry_ids_groups_and_required_cases():
    ids = [c.id for c in benchmarks.CASES]
    assert len(ids) == len(set(ids))
    for c in benchmarks.CASES:
        op_mode, name = c.group.split("|")
        assert op_mode == f"{c.op} {c.mode}" and name == c.name
    names = {(c.op, c.name) for c in benchmarks.CASES}
    for required in [("conv2d", "lenet_c1"), ("conv2d", "lenet_c3"), ("conv2d", "alexnet_conv1"),
                     ("conv2d", "vgg_3x3"), ("conv2d", "resnet_stride2"), ("conv3d", "c3d_3x3x3"),
                     ("conv3d", "volumetric_stride2"), ("maxpool2d", "2x2s2"), ("maxpool2d", "3x3s2"),
                     ("maxpool3d", "2x2x2s2"), ("dense", "mlp_256x784_512"), ("dense", "1024cubed"),
                     ("sigmoid", "16M"), ("lenet5_step", "digits8x8_b64"), ("mlp_step", "digits64_b64"),
                     ("lenet5_step", "mnist28_b64"), ("alexnet_step", "lectures227_b4"),
                     ("vgg2stage_step", "56x56_b8"), ("conv2d", "vgg_256x14"), ("conv2d", "alexnet_conv2"),
                     ("conv2d", "resnet_stem")]:
        assert required in names
    for c in OP_CASES:  # every op case exists forward-only and forward+backward (the sweep: fwd+bwd only)
        if c.family == "sweep":
            assert c.backward and c.op == "conv2d"
            continue
        assert {(c.op, c.name, False), (c.op, c.name, True)} <= {(d.op, d.name, d.backward) for d in OP_CASES}
    assert benchmarks.get_case("conv2d-fwd-vgg_3x3").full["x"] == (8, 64, 56, 56)
    assert benchmarks.cases(filter="vgg") == [c for c in benchmarks.CASES if "vgg" in c.id]
    with pytest.raises(KeyError):
        benchmarks.get_case("nope")


def test_new_conv_cases_have_the_issue_shapes():
    conv2 = benchmarks.get_case("conv2d-fwd-alexnet_conv2").full
    assert conv2 == dict(x=(8, 96, 27, 27), w=(256, 96, 5, 5), stride=1, padding=0)
    deep = benchmarks.get_case("conv2d-fwdbwd-vgg_256x14").full
    assert deep == dict(x=(8, 256, 14, 14), w=(256, 256, 3, 3), stride=1, padding=1)
    stem = benchmarks.get_case("conv2d-fwd-resnet_stem").full
    assert stem == dict(x=(8, 3, 224, 224), w=(64, 3, 7, 7), stride=2, padding=3)


def test_shape_sweep_grid():
    sweep = benchmarks.cases(family="sweep")
    assert benchmarks.cases(filter="sweep") == sweep
    grid = {(c.full["x"][0], c.full["x"][1], c.full["w"][2], c.full["stride"]) for c in sweep}
    assert grid == {(n, ch, f, s) for n in (1, 8, 32) for ch in (16, 64, 256) for f in (3, 5) for s in (1, 2)}
    assert len(sweep) == len(grid) == 36
    for c in sweep:
        x, w = c.full["x"], c.full["w"]
        assert x[1] == w[0] == w[1] and c.full["padding"] == w[2] // 2
        sx, sw = c.smoke["x"], c.smoke["w"]   # the smoke shape keeps kernel, stride and padding
        assert sw[2:] == w[2:] and c.smoke["stride"] == c.full["stride"] and c.smoke["padding"] == c.full["padding"]
        assert int(np.prod(sx)) <= 200


def test_whole_network_steps_are_the_issue_networks():
    from fastnet import bench_networks, zoo
    alex = benchmarks.get_case("alexnet_step-fwdbwd-lectures227_b4")
    model = bench_networks.build_model(alex, np.float32, "full")
    reference = zoo.alexnet(variant="lectures")
    assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in reference.layers]
    assert sum(p.value.size for p in model.parameters()) == 28_823_912   # the lectures' unpadded AlexNet
    assert all(layer.p == 0.0 for layer in model.layers if type(layer).__name__ == "Dropout")
    x, labels = bench_networks.training_data(alex, "full", np.float32)
    assert x.shape == (4, 3, 227, 227) and labels.max() < 1000
    vgg = benchmarks.get_case("vgg2stage_step-fwdbwd-56x56_b8")
    model = bench_networks.build_model(vgg, np.float32, "full")
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2d"]
    assert [c.weight.value.shape for c in convs] == [(64, 64, 3, 3), (64, 64, 3, 3), (128, 64, 3, 3),
                                                     (128, 128, 3, 3)]
    assert all(tuple(c.padding) == (1, 1) and tuple(c.stride) == (1, 1) for c in convs)
    assert bench_networks.training_data(vgg, "full", np.float32)[0].shape == (8, 64, 56, 56)


def test_training_step_biases_are_torch_style_and_the_same_in_both_dtypes():
    from fastnet import bench_networks
    vgg = benchmarks.get_case("vgg2stage_step-fwdbwd-56x56_b8")
    m32 = bench_networks.build_model(vgg, np.float32, "full")
    m64 = bench_networks.build_model(vgg, np.float64, "full")
    for a, b in zip(m32.layers, m64.layers):
        if getattr(a, "bias", None) is not None:
            bound = 1 / np.sqrt(np.prod(a.weight.value.shape[1:]))
            assert 0 < np.abs(a.bias.value).max() <= bound
            np.testing.assert_array_equal(a.bias.value, b.bias.value.astype(np.float32))


def test_vgg_two_stage_step_passes_its_check_at_full_size():
    # Regression: with zero biases, a max-pool near-tie on AVX-512 failed this check (bench_networks).
    case = benchmarks.get_case("vgg2stage_step-fwdbwd-56x56_b8")
    prepared = benchmarks.prepare(case, "fastnet", "full", quick=True)
    prepared.check(prepared.fn())


def test_training_step_refuses_random_dropout():
    from fastnet.layers import Dropout
    from fastnet import bench_networks
    with pytest.raises(benchmarks.Skip, match="p=0"):
        bench_networks._layer_spec(Dropout(0.5))
    assert bench_networks._layer_spec(Dropout(0.0)) == ("Dropout", {"p": 0.0})


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_vectorized_matches_plain_loops(case):
    """The numpy baseline (and the full-size reference) agrees with the naive loops, float64."""
    inputs = {k: v.astype(np.float64) for k, v in benchmarks._inputs(case, "smoke", np.float32).items()}
    expected = benchmarks._array_op_fn(case, "smoke", "numpy_loops", inputs)()
    got = benchmarks._array_op_fn(case, "smoke", "numpy", inputs)()
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_close(g, e, dtype=np.float64)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2)])
def test_vectorized_conv_and_pool_match_torch(nd, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(nd * 10 + stride)
    x = rng.standard_normal((2, 3) + (7,) * nd)
    w = rng.standard_normal((4, 3) + (3,) * nd)
    b = rng.standard_normal(4)
    conv = getattr(vectorized, f"conv{nd}d")
    conv_backward = getattr(vectorized, f"conv{nd}d_backward")
    y = conv(x, w, b, stride=stride, padding=padding)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = getattr(F, f"conv{nd}d")(xt, wt, bt, stride=stride, padding=padding)
    dy = rng.standard_normal(y.shape)
    expected = torch.autograd.grad(yt, (xt, wt, bt), torch.tensor(dy))
    assert_close(y, yt.detach().numpy(), dtype=np.float64)
    for g, e in zip(conv_backward(x, w, dy, stride=stride, padding=padding), expected):
        assert_close(g, e.numpy(), dtype=np.float64)
    kernel = 3
    pool_pad = min(padding, 1)
    p = getattr(vectorized, f"maxpool{nd}d")(x, kernel, stride, pool_pad)
    pt = getattr(F, f"max_pool{nd}d")(xt, kernel, stride, pool_pad)
    dp = rng.standard_normal(p.shape)
    (dxt,) = torch.autograd.grad(pt, (xt,), torch.tensor(dp))
    assert_close(p, pt.detach().numpy(), dtype=np.float64)
    assert_close(getattr(vectorized, f"maxpool{nd}d_backward")(x, dp, kernel, stride, pool_pad), dxt.numpy(),
                 dtype=np.float64)


def test_vectorized_sigmoid_extremes_without_warnings():
    x = np.array([-400.0, -90.0, 0.0, 90.0, 400.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default errstate warns on overflow
        y = vectorized.sigmoid(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_check_result_detects_wrong_output():
    case = benchmarks.get_case("dense-fwd-mlp_256x784_512")
    ref = benchmarks.reference_result(case, "smoke")
    benchmarks.check_result(ref[0].copy(), ref, np.float32)
    wrong = ref[0].copy()
    wrong.flat[3] += 0.01 * np.abs(ref[0]).max() + 0.01
    with pytest.raises(AssertionError):
        benchmarks.check_result(wrong, ref, np.float32)
    with pytest.raises(AssertionError, match="dtype"):
        benchmarks.check_result(ref[0].astype(np.float64), ref, np.float32)
    with pytest.raises(AssertionError, match="shape"):
        benchmarks.check_result(ref[0][:1], ref, np.float32)


def test_loops_are_skipped_on_big_shapes_with_a_reason():
    case = benchmarks.get_case("conv2d-fwd-vgg_3x3")
    with pytest.raises(benchmarks.Skip, match="numpy_loops: plain Python loops would take"):
        benchmarks.make_fn(case, "numpy_loops", "full")


def test_cost_model_of_a_case():
    case = benchmarks.get_case("conv2d-fwdbwd-lenet_c3")
    flops, nbytes = benchmarks.case_cost(case, "smoke")
    n, c, h, _ = case.smoke["x"]
    k, _, f, _ = case.smoke["w"]
    out = h - f + 1
    macs = n * k * out * out * c * f * f
    assert flops == 2 * macs + n * k * out * out + 4 * macs + n * k * out * out
    assert nbytes > 0


@pytest.fixture(scope="module")
def smoke_report():
    """Every registered case, every implementation, tiny shapes, one run each."""
    return bench_runner.run(size="smoke", repeats=1, budget_s=0.0, precompile=False)


def test_every_case_runs_in_smoke_mode(smoke_report):
    assert [e["id"] for e in smoke_report["results"]] == [c.id for c in benchmarks.CASES]
    for entry in smoke_report["results"]:
        assert set(entry["impls"]) == set(benchmarks.IMPLEMENTATIONS)
        for impl in ("fastnet", "numpy"):
            assert entry["impls"][impl]["median_s"] > 0, (entry["id"], impl)
        assert entry["flops"] > 0 or entry["bytes"] > 0
    limits = smoke_report["meta"]["limits"]
    assert limits["sgemm_gflops"] > 0 and limits["copy_gbs"] > 0


def test_parallel_efficiency_probe():
    """The probe runs the micro-kernel (its tiles hold the exact sums) and gives a share of one
    thread's speed: None for one thread, a positive number near 1 or below for more."""
    from fastnet.kernels import probe
    from fastnet.kernels.microkernel import tile_shape
    assert bench_machine.parallel_efficiency(threads=1) is None
    assert bench_machine.probe_cores(threads=1) is None
    value = bench_machine.parallel_efficiency(threads=2, calls=50)
    assert 0.05 < value < 2.0
    fork_join = bench_machine.fork_join_seconds(threads=2, calls=10)
    assert 0 < fork_join < 0.01
    a = np.arange(5, dtype=np.float32)
    probe.touch(a)
    np.testing.assert_array_equal(a, np.arange(1, 6, dtype=np.float32))
    mr, nr = tile_shape(np.dtype(np.float32))
    a = np.arange(mr * probe.STEPS, dtype=np.float32) % 7
    b = (np.arange(probe.STEPS * nr, dtype=np.float32) % 5) / 4
    c = np.full((3, mr * nr), np.nan, dtype=np.float32)
    probe.fma_units(a, b, c, 3, 4)   # the first call sets each tile, the next three add to it
    expected = 4 * (a.reshape(mr, probe.STEPS) @ b.reshape(probe.STEPS, nr))
    for unit in range(3):
        np.testing.assert_allclose(c[unit].reshape(mr, nr), expected, rtol=1e-6)


def _probes(*pairs):
    return [{"efficiency": e, "fork_join_us": f} for e, f in pairs]


@pytest.mark.parametrize("probes, attempts, cell", [
    (_probes(*[(0.95, 2.0)] * 4), 1, "0.95, 2.0 us"),                      # healthy: measured once
    (_probes((0.99, 2.0), (0.5, 2.0), *[(0.95, 2.0)] * 2, *[(0.97, 2.0)] * 4), 2, "0.97, 2.0 us"),
    (_probes((0.99, 1.0), (0.99, 1.6), *[(0.99, 1.2)] * 2, *[(0.99, 1.1)] * 4), 2, "0.99, 1.1 us"),
    (_probes((1.0, 2.0), *[(0.8, 2.0)] * 3, *[(0.5, 2.0)] * 4, *[(0.7, 2.0)] * 4), 3, "0.80, 2.0 us shared"),
    (_probes(*[(0.86, 1.5)] * 4), 1, "0.86, 1.5 us"),   # lower, but the best of the run: AVX2 code
], ids=["healthy", "again", "slow-fork-join", "shared", "own-best"])
def test_run_measures_a_case_again_while_the_cores_are_shared(probes, attempts, cell):
    """Four probes an attempt (before and after fastnet and torch); a case is measured again while
    an efficiency is below EFFICIENCY_DROP (0.85) times the run's highest so far or a fork-join
    over FORK_JOIN_SLOW (1.5) times its fastest, up to ``retries`` times; the best attempt is
    kept, and marked "shared" in the report where it still fails against the run's best."""
    values = iter(probes)
    case = benchmarks.get_case("relu-fwd-16M")
    report = bench_runner.run([case], size="smoke", repeats=1, budget_s=0.0, precompile=False, retries=2,
                             probe=lambda: next(values))
    entry = report["results"][0]
    assert entry["attempts"] == attempts
    assert next(values, "done") == "done"
    assert report["meta"]["probe"]["best"] == {"efficiency": max(p["efficiency"] for p in probes),
                                               "fork_join_us": min(p["fork_join_us"] for p in probes)}
    text = bench_report.report_markdown(report)
    header, rows = bench_report.parse_markdown_table(text)
    assert rows[0]["cores"] == cell
    assert f"up to 2 times ({int(attempts > 1)} of 1 cases)" in text


def test_rounds_time_fastnet_and_torch_in_turn():
    """run(rounds=n) times fastnet and PyTorch alternately, n turns each (at least 3 calls a turn),
    and the report gives PyTorch's fastest turn / fastnet's in a column of its own; "-" where
    PyTorch is not installed (its turns are skipped)."""
    case = benchmarks.get_case("relu-fwd-16M")
    report = bench_runner.run([case], size="smoke", repeats=1, budget_s=0.0, precompile=False, rounds=2,
                             round_s=0.0)
    entry = report["results"][0]
    text = bench_report.report_markdown(report)
    header, rows = bench_report.parse_markdown_table(text)
    assert tuple(header) == bench_report.table_columns(report["meta"])
    assert header.index("vs torch, rounds") == header.index("speedup vs torch") + 1
    assert "median of its fastest of 2 rounds" in text
    if importlib.util.find_spec("torch") is None:
        assert entry["interleaved"] is None and rows[0]["vs torch, rounds"] == "-"
        return
    rounds = entry["interleaved"]
    assert len(rounds["fastnet_s"]) == len(rounds["torch_s"]) == 2
    assert all(t > 0 for t in rounds["fastnet_s"] + rounds["torch_s"])
    expected = min(rounds["torch_s"]) / min(rounds["fastnet_s"])
    assert bench_report.interleaved_speedup(entry) == expected
    assert float(rows[0]["vs torch, rounds"][:-1]) == pytest.approx(expected, rel=0.01, abs=0.01)


def test_no_rounds_no_column(smoke_report):
    assert bench_report.table_columns(smoke_report["meta"]) == bench_report.TABLE_COLUMNS
    assert all("interleaved" not in e for e in smoke_report["results"])
    assert all(bench_report.interleaved_speedup(e) is None for e in smoke_report["results"])


def test_degraded_is_judged_against_the_runs_best_probes():
    entry = {"parallel_efficiency": 0.85, "fork_join_us": 3.0}
    assert not bench_report.degraded(entry, {"efficiency": None, "fork_join_us": None})
    assert not bench_report.degraded(entry, {"efficiency": 1.0, "fork_join_us": 2.0})   # 0.85 = 0.85 x 1.0
    assert bench_report.degraded(entry, {"efficiency": 1.0, "fork_join_us": 1.9})       # 3.0 > 1.5 x 1.9
    assert bench_report.degraded({"parallel_efficiency": 0.8, "fork_join_us": 2.0},
                                 {"efficiency": 0.95, "fork_join_us": 2.0})             # 0.8 < 0.85 x 0.95
    # a best above 1 (noise in the one-thread timing) counts as 1
    assert not bench_report.degraded(entry, {"efficiency": 1.16, "fork_join_us": 2.0})
    assert not bench_report.degraded({"parallel_efficiency": None, "fork_join_us": None},
                                     {"efficiency": 1.0, "fork_join_us": 1.0})


def test_report_table_parses(smoke_report):
    text = bench_report.report_markdown(smoke_report)
    assert "speedup = other implementation's median time / fastnet's median time" in text
    header, rows = bench_report.parse_markdown_table(text)
    assert tuple(header) == bench_report.TABLE_COLUMNS
    assert [r["case"] for r in rows] == [e["group"].replace("|", " / ") for e in smoke_report["results"]]
    for row, entry in zip(rows, smoke_report["results"]):
        f = entry["impls"]["fastnet"]["median_s"]
        assert float(row["fastnet ms"]) == pytest.approx(f * 1e3, abs=1e-3)
        for other in ("numpy", "torch"):
            cell = row[f"speedup vs {other}"]
            if "median_s" in entry["impls"][other]:
                assert cell.endswith("x")
                assert float(cell[:-1]) == pytest.approx(entry["impls"][other]["median_s"] / f, rel=0.01, abs=0.01)
            else:
                assert cell == "-"
        value, unit = row["fastnet throughput"].split()
        assert unit == ("GFLOP/s" if entry["flops"] else "GB/s") and float(value) >= 0
        assert row["% of limit"].endswith("%")


def test_json_round_trip(smoke_report, tmp_path):
    path = tmp_path / "bench.json"
    bench_report.save_json(smoke_report, path)
    loaded = bench_report.load_json(path)
    assert loaded == json.loads(json.dumps(smoke_report, default=bench_report._json_default))
    assert bench_report.report_markdown(loaded) == bench_report.report_markdown(smoke_report)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="fastnet bench")
    bench_job.add_arguments(parser)
    return parser.parse_args(argv)


def test_bench_help(capsys):
    with pytest.raises(SystemExit) as exc:
        _parse(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--quick", "--json", "--plot", "--threads", "--filter", "--rounds"):
        assert option in out


def test_cli_bench_help(capsys):
    from fastnet import cli
    try:
        parser = cli.build_parser()
    except ImportError as exc:  # another subcommand's module is not written yet
        pytest.skip(f"fastnet.cli cannot build its parser: {exc}")
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["bench", "--help"])
    assert exc.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_bench_job_filter_and_json(capsys, tmp_path):
    path = tmp_path / "out.json"
    code = bench_job.run(_parse(["--smoke", "--filter", "sigmoid", "--json", str(path)]))
    assert code == 0
    out = capsys.readouterr().out
    header, rows = bench_report.parse_markdown_table(out)
    assert [r["case"] for r in rows] == ["sigmoid fwd / 16M", "sigmoid fwd+bwd / 16M"]
    assert [e["id"] for e in bench_report.load_json(path)["results"]] == ["sigmoid-fwd-16M", "sigmoid-fwdbwd-16M"]


def test_bench_job_rejects_negative_rounds(capsys):
    assert bench_job.run(_parse(["--smoke", "--filter", "sigmoid", "--rounds", "-1"])) == 2
    assert "--rounds must be 0 or more, got -1" in capsys.readouterr().err


def test_bench_job_unknown_filter(capsys):
    assert bench_job.run(_parse(["--smoke", "--filter", "no-such-case"])) == 2
    assert "no case matches" in capsys.readouterr().err


def test_bench_job_plot_without_matplotlib(capsys, tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert bench_job.run(_parse(["--smoke", "--filter", "relu-fwd-", "--plot", str(tmp_path / "p.png")])) == 2
        assert "needs matplotlib" in capsys.readouterr().err
    else:
        assert bench_job.run(_parse(["--smoke", "--filter", "relu-fwd-", "--plot", str(tmp_path / "p.png")])) == 0
        assert (tmp_path / "p.png").stat().st_size > 0


def test_codegen_target_line(monkeypatch):
    from numba.core import config
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(config, "CPU_NAME", None)
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    from fastnet.kernels import _config
    monkeypatch.setattr(_config, "FULL_WIDTH_VECTORS", False)
    assert bench_machine.codegen_target() == "Numba: the host CPU and its features; oneDNN ISA cap: none (the host's best)"
    monkeypatch.setattr(_config, "FULL_WIDTH_VECTORS", True)
    assert bench_machine.codegen_target().startswith("Numba: the host CPU and its features, 512-bit vectors preferred")
    monkeypatch.setattr(_config, "FULL_WIDTH_VECTORS", False)
    monkeypatch.setattr(config, "CPU_NAME", "znver3")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert "NUMBA_CPU_FEATURES is unset" in bench_machine.codegen_target()   # still the host's zmm code
    monkeypatch.setattr(config, "CPU_FEATURES", "")
    line = bench_machine.codegen_target()
    assert line == "Numba: CPU znver3, features the named CPU's own; oneDNN ISA cap: AVX2"


def test_report_names_the_codegen_target(smoke_report):
    assert f"- code generated for: {smoke_report['meta']['codegen']}" in bench_report.report_markdown(smoke_report)


def test_numba_cpu_name_alone_keeps_the_host_isa():
    """Why the bench's AVX2 recipe sets NUMBA_CPU_FEATURES="" beside NUMBA_CPU_NAME (see codegen_target)."""
    import llvmlite.binding as llvm
    if "+avx512f" not in llvm.get_host_cpu_features().flatten():
        pytest.skip("the host has no AVX-512")
    assert codegen_probe(NUMBA_CPU_NAME="znver3")["isa"] == "zmm"
    assert codegen_probe(NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="")["isa"] == "ymm"


def test_check_dropout_accepts_another_generators_mask_and_rejects_wrong_results():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 100)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    mask = (rng.random(x.shape) >= 0.5).astype(np.float32)
    y, dx = x * mask * np.float32(2), dy * mask * np.float32(2)
    bench_cnn.check_dropout((y, dx), x, dy, 0.5, np.float32)
    with pytest.raises(AssertionError, match="kept element"):
        bench_cnn.check_dropout((y * 1.5, dx), x, dy, 0.5, np.float32)       # wrong scale
    with pytest.raises(AssertionError, match="kept"):
        bench_cnn.check_dropout((x * np.float32(2), dy * 2), x, dy, 0.5, np.float32)   # nothing dropped
    with pytest.raises(AssertionError, match="dx"):
        bench_cnn.check_dropout((y, dy * 2), x, dy, 0.5, np.float32)         # gradient ignores the mask
    with pytest.raises(AssertionError, match="dtype"):
        bench_cnn.check_dropout((y.astype(np.float64), dx), x, dy, 0.5, np.float32)


@pytest.mark.parametrize("case_id", ["dropout-fwdbwd-p0.5_4096x4096", "dropout-fwd-p0.5_4096x4096",
                                     "leaky_relu-fwdbwd-16M"])
@pytest.mark.parametrize("impl", ["fastnet", "numpy", "torch"])
def test_dropout_and_leaky_relu_cases_run_and_check(case_id, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    case = benchmarks.get_case(case_id)
    prepared = benchmarks.prepare(case, impl, "smoke")
    prepared.check(prepared.fn())
