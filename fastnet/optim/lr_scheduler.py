"""Learning-rate schedules, PyTorch-style: ``sched = StepLR(opt, step_size=30)``, then once per
epoch ``sched.step()`` (``ReduceLROnPlateau``: ``sched.step(val_loss)``) after ``opt.step()``.

Each scheduler changes ``optimizer.lr`` in place and nothing else: it works in a hand-written loop
and from any code that calls ``step()`` once per epoch. The semantics are those of
``torch.optim.lr_scheduler``: constructing a scheduler counts as epoch 0 (``last_epoch == 0``,
the learning rate left as it is), and each ``step()`` advances ``last_epoch`` by one. The epoch
schedulers use PyTorch's *chainable* update rules, which multiply the current learning rate, so
an ``lr`` changed by hand between epochs carries on from the new value; when the scheduler alone
sets the rate they equal the closed forms given in each docstring (``lr_0`` is the optimizer's
learning rate when the scheduler was made, ``t`` is ``last_epoch``).
"""

import math
import numbers

from .optimizers import Optimizer, _number


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a fastnet.optim.Optimizer (e.g. optim.SGD(model.parameters())), "
                        f"got {type(optimizer).__name__}")
    return optimizer


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"Invalid {name} value: {value} (expected {name} >= {minimum})")
    return int(value)


class LRScheduler:
    """Base class of the epoch schedulers: holds the optimizer, ``base_lr`` and ``last_epoch``.

    Subclasses define ``_next_lr()``, the learning rate for epoch ``last_epoch`` given the current
    one; ``step()`` advances the epoch and writes it to ``optimizer.lr``.

    Attributes
    ----------
    optimizer : fastnet.optim.Optimizer
    base_lr : float
        The optimizer's learning rate when the scheduler was made.
    last_epoch : int
        0 after construction, incremented by each ``step()``.
    """

    def __init__(self, optimizer):
        self.optimizer = _check_optimizer(optimizer)
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._last_lr = [float(optimizer.lr)]

    def _next_lr(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set ``optimizer.lr`` to that epoch's learning rate."""
        self.last_epoch += 1
        lr = self._next_lr()
        self.optimizer.lr = lr
        self._last_lr = [float(self.optimizer.lr)]

    def get_last_lr(self):
        """The learning rate set by the latest ``step()`` (or at construction), as a one-element list
        (PyTorch returns one rate per parameter group; a fastnet optimizer has one)."""
        return list(self._last_lr)

    def state_dict(self):
        """The scheduler's state (every attribute except the optimizer), for :meth:`load_state_dict`."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state from :meth:`state_dict` (e.g. to resume training at ``last_epoch``)."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict: expected a dict from state_dict(), got {type(state_dict).__name__}")
        unknown = sorted(set(state_dict) - set(self.__dict__))
        if unknown:
            raise ValueError(f"state_dict: keys {unknown} are not attributes of {type(self).__name__}; "
                             f"was it saved from another scheduler?")
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in state_dict.items()})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.state_dict().items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr_t = lr_0 * gamma ** (t // step_size)``; chainable rule: at each ``t`` that is a non-zero
    multiple of ``step_size``, ``lr <- lr * gamma``.

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    step_size : int >= 1
        Period of the decay, in epochs (calls of ``step()``).
    gamma : float > 0, default 0.1
        Multiplicative factor.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _int(step_size, "step_size", 1)
        self.gamma = _number(gamma, "gamma", minimum=0.0, strict_min=True)
        super().__init__(optimizer)

    def _next_lr(self):
        lr = self.optimizer.lr
        if self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every epoch.

    ``lr_t = lr_0 * gamma ** t``; chainable rule: ``lr <- lr * gamma`` at each ``step()``.

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    gamma : float > 0
        Multiplicative factor per epoch.
    """

    def __init__(self, optimizer, gamma):
        self.gamma = _number(gamma, "gamma", minimum=0.0, strict_min=True)
        super().__init__(optimizer)

    def _next_lr(self):
        return self.optimizer.lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the learning rate from ``lr_0`` to ``eta_min`` along half a cosine over ``T_max`` epochs.

    ``lr_t = eta_min + (lr_0 - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (SGDR without restarts);
    past ``T_max`` the rate rises again along the cosine, as in PyTorch. Chainable rule (PyTorch's)::

        lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max))
        lr_t = lr_{t-1} + (lr_0 - eta_min) * (1 - cos(pi / T_max)) / 2     if (t - 1 - T_max) % (2 T_max) == 0

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    T_max : int >= 1
        Number of epochs of the half period.
    eta_min : float >= 0, default 0
        Minimum learning rate, reached at ``t = T_max``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _int(T_max, "T_max", 1)
        self.eta_min = _number(eta_min, "eta_min", minimum=0.0)
        super().__init__(optimizer)

    def _next_lr(self):
        t, period = self.last_epoch, self.T_max
        lr = self.optimizer.lr
        if (t - 1 - period) % (2 * period) == 0:
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        return ((1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
                * (lr - self.eta_min) + self.eta_min)


class ReduceLROnPlateau:
    r"""Multiply the learning rate by ``factor`` when a monitored metric stops improving.

    Call ``step(metric)`` once per epoch with the value to watch (e.g. the validation loss). With
    ``best`` the best value so far (``+inf`` for mode "min", ``-inf`` for "max"), an epoch
    *improves* when::

        mode="min", threshold_mode="rel":  metric < best * (1 - threshold)
        mode="min", threshold_mode="abs":  metric < best - threshold
        mode="max", threshold_mode="rel":  metric > best * (1 + threshold)
        mode="max", threshold_mode="abs":  metric > best + threshold

    After more than ``patience`` epochs in a row without improvement,
    ``lr <- max(lr * factor, min_lr)`` (skipped if that changes ``lr`` by ``eps`` or less), and the
    next ``cooldown`` epochs are not counted. A NaN metric never improves. PyTorch's semantics.

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    mode : {"min", "max"}, default "min"
        "min": the metric should decrease (a loss); "max": increase (an accuracy).
    factor : float in [0, 1), default 0.1
    patience : int >= 0, default 10
        Epochs without improvement tolerated before the rate is reduced.
    threshold : float >= 0, default 1e-4
        Smallest change that counts as an improvement.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int >= 0, default 0
        Epochs to wait after a reduction before counting bad epochs again.
    min_lr : float >= 0, default 0
        Lower bound of the learning rate.
    eps : float >= 0, default 1e-8
        Minimal change of the rate; smaller reductions are skipped.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        self.optimizer = _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' (for a loss) or 'max' (for an accuracy), got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.factor = _number(factor, "factor", minimum=0.0, maximum=1.0, strict_max=True)
        self.patience = _int(patience, "patience", 0)
        self.threshold = _number(threshold, "threshold", minimum=0.0)
        self.cooldown = _int(cooldown, "cooldown", 0)
        self.min_lr = _number(min_lr, "min_lr", minimum=0.0)
        self.eps = _number(eps, "eps", minimum=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(optimizer.lr)]

    @property
    def in_cooldown(self):
        """Whether the scheduler is within ``cooldown`` epochs of its latest reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, current, best):
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    def step(self, metric):
        """Record one epoch's ``metric`` (a real number, e.g. the validation loss) and reduce the
        learning rate if it has not improved for more than ``patience`` epochs."""
        if isinstance(metric, (bool, str)) or not hasattr(metric, "__float__"):
            raise TypeError(f"metric: expected a real number (e.g. the epoch's validation loss), "
                            f"got {type(metric).__name__}: {metric!r}")
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old_lr = float(self.optimizer.lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(self.optimizer.lr)]

    get_last_lr = LRScheduler.get_last_lr
    state_dict = LRScheduler.state_dict
    load_state_dict = LRScheduler.load_state_dict
    __repr__ = LRScheduler.__repr__


__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"]
