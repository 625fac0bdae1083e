"""Learning-rate schedulers: closed forms written out here, torch.optim.lr_scheduler trajectories,
ReduceLROnPlateau's counting rules, and the hyperparameter checks."""

import math

import numpy as np
import pytest

from fastnet import optim
from fastnet.optim import lr_scheduler
from fastnet.parameter import Parameter

EPOCHS = 25


def make_opt(lr=0.5):
    return optim.SGD([Parameter(np.zeros(3))], lr=lr)


def trajectory(sched, epochs=EPOCHS):
    """Learning rates at epochs 0..epochs (0 = after construction)."""
    lrs = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        sched.optimizer.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        assert sched.optimizer.lr == lrs[-1]
    return np.array(lrs)


CLOSED_FORMS = [
    ("StepLR", lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
     lambda t: 0.5 * 0.5 ** (t // 4)),
    ("StepLR-default-gamma", lambda o: lr_scheduler.StepLR(o, step_size=10),
     lambda t: 0.5 * 0.1 ** (t // 10)),
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
     lambda t: 0.5 * 0.9 ** t),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
     lambda t: 0.5 * (1 + math.cos(math.pi * t / 10)) / 2),
    ("CosineAnnealingLR-eta_min", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
     lambda t: 0.01 + (0.5 - 0.01) * (1 + math.cos(math.pi * t / 7)) / 2),
]


@pytest.mark.parametrize("name,make,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_matches_closed_form(name, make, closed):
    sched = make(make_opt(0.5))
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.5]
    got = trajectory(sched)
    expected = np.array([closed(t) for t in range(EPOCHS + 1)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == EPOCHS
    assert len(set(np.round(got, 12))) > 2   # the rate really changed


TORCH_CASES = [
    ("StepLR", "StepLR", dict(step_size=3, gamma=0.3)),
    ("ExponentialLR", "ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", "CosineAnnealingLR", dict(T_max=6, eta_min=0.02)),
    ("CosineAnnealingLR-T1", "CosineAnnealingLR", dict(T_max=1)),
]


@pytest.mark.parametrize("name,cls_name,kwargs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_epoch_schedulers_match_torch(name, cls_name, kwargs):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(3))
    topt = torch.optim.SGD([p], lr=0.5)
    tsched = getattr(torch.optim.lr_scheduler, cls_name)(topt, **kwargs)
    expected = [tsched.get_last_lr()[0]]
    for _ in range(EPOCHS):
        topt.step()
        tsched.step()
        expected.append(tsched.get_last_lr()[0])
    got = trajectory(getattr(lr_scheduler, cls_name)(make_opt(0.5), **kwargs))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_chainable_rule_carries_a_manual_change():
    """As in PyTorch, the epoch schedulers multiply the current rate: a rate set by hand carries on."""
    opt = make_opt(1.0)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    sched.step()
    opt.lr = 10.0
    sched.step()
    assert opt.lr == 5.0 and sched.base_lr == 1.0


def _metrics(seed=0):
    # a noisy loss with plateaus and a NaN: exercises patience, threshold and cooldown
    rng = np.random.default_rng(seed)
    values = list(np.r_[np.linspace(1.0, 0.5, 6), np.full(8, 0.5), 0.49995, np.full(6, 0.4), 0.3,
                        np.full(10, 0.3)] + rng.normal(0, 1e-3, 32) * (rng.random(32) < 0.3))
    values[20] = math.nan
    return values


PLATEAU_CASES = [
    dict(),
    dict(patience=2),
    dict(patience=1, cooldown=2, factor=0.5),
    dict(patience=0, threshold=0.01, threshold_mode="abs", min_lr=0.02),
    dict(mode="max", patience=2, factor=0.3),
    dict(mode="max", patience=1, threshold_mode="abs", threshold=1e-3, eps=0.1),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(3))
    topt = torch.optim.SGD([p], lr=0.5)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    sched = lr_scheduler.ReduceLROnPlateau(make_opt(0.5), **kwargs)
    for i, value in enumerate(_metrics()):
        tsched.step(value)
        sched.step(value)
        assert sched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12), f"epoch {i + 1}"
        assert sched.num_bad_epochs == tsched.num_bad_epochs and sched.best == pytest.approx(tsched.best, nan_ok=True)


def test_reduce_on_plateau_by_hand():
    opt = make_opt(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=0.3)
    lrs = []
    for value in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        sched.step(value)
        lrs.append(opt.lr)
    # epoch 1 improves (best = 1); 2, 3, 4 are bad: after the 3rd bad one (> patience 2) the rate
    # halves; epoch 5 is cooldown; 6, 7, 8 bad again: halves to max(0.25, 0.3) = 0.3; then floor.
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3]
    assert sched.last_epoch == 10


def test_state_dict_round_trip():
    opt = make_opt(1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    other = lr_scheduler.CosineAnnealingLR(make_opt(1.0), T_max=8)
    other.load_state_dict(state)
    other.optimizer.lr = opt.lr
    sched.step()
    other.step()
    assert other.last_epoch == 4 and other.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="patience"):
        other.load_state_dict({"patience": 3})
    plateau = lr_scheduler.ReduceLROnPlateau(make_opt())
    plateau.step(1.0)
    assert plateau.state_dict()["best"] == 1.0 and "optimizer" not in plateau.state_dict()


INVALID = [
    (lr_scheduler.StepLR, dict(step_size=0), ValueError, "step_size"),
    (lr_scheduler.StepLR, dict(step_size=2.5), TypeError, "step_size"),
    (lr_scheduler.StepLR, dict(step_size=2, gamma=0.0), ValueError, "gamma"),
    (lr_scheduler.StepLR, dict(step_size=2, gamma=-0.5), ValueError, "gamma"),
    (lr_scheduler.ExponentialLR, dict(gamma=math.inf), ValueError, "gamma"),
    (lr_scheduler.CosineAnnealingLR, dict(T_max=0), ValueError, "T_max"),
    (lr_scheduler.CosineAnnealingLR, dict(T_max=5, eta_min=-1e-3), ValueError, "eta_min"),
    (lr_scheduler.ReduceLROnPlateau, dict(mode="minimum"), ValueError, "mode"),
    (lr_scheduler.ReduceLROnPlateau, dict(factor=1.0), ValueError, "factor"),
    (lr_scheduler.ReduceLROnPlateau, dict(factor=-0.1), ValueError, "factor"),
    (lr_scheduler.ReduceLROnPlateau, dict(patience=-1), ValueError, "patience"),
    (lr_scheduler.ReduceLROnPlateau, dict(threshold=-1e-4), ValueError, "threshold"),
    (lr_scheduler.ReduceLROnPlateau, dict(threshold_mode="relative"), ValueError, "threshold_mode"),
    (lr_scheduler.ReduceLROnPlateau, dict(cooldown=-2), ValueError, "cooldown"),
    (lr_scheduler.ReduceLROnPlateau, dict(min_lr=-1.0), ValueError, "min_lr"),
    (lr_scheduler.ReduceLROnPlateau, dict(eps=-1.0), ValueError, "eps"),
]


@pytest.mark.parametrize("cls,kwargs,exc,name", INVALID, ids=[f"{c.__name__}-{k}" for c, k, _, _ in INVALID])
def test_invalid_hyperparameters(cls, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        cls(make_opt(), **kwargs)


def test_bad_optimizer_and_metric():
    with pytest.raises(TypeError, match="fastnet.optim.Optimizer"):
        lr_scheduler.StepLR([Parameter(np.zeros(2))], step_size=2)
    sched = lr_scheduler.ReduceLROnPlateau(make_opt())
    with pytest.raises(TypeError, match="metric"):
        sched.step("0.5")
    with pytest.raises(TypeError, match="metric"):
        sched.step(None)
