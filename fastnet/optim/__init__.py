"""fastnet.optim: optimizers, learning-rate schedules and gradient clipping, PyTorch-style.

* :mod:`fastnet.optim.optimizers`: ``SGD``, ``Adagrad``, ``RMSprop``, ``Adadelta``, ``Adam``,
  ``AdamW`` and their update rules (``sgd_update``, ...): ``opt = optim.Adam(model.parameters())``,
  then per batch ``opt.zero_grad()``, forward, backward, ``opt.step()``.
* :mod:`fastnet.optim.lr_scheduler`: ``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``,
  ``ReduceLROnPlateau``: ``sched.step()`` once per epoch.
* :func:`clip_grad_norm`, :func:`clip_grad_value`: between backward and ``opt.step()``.
"""

from . import lr_scheduler
from .clip_grad import clip_grad_norm, clip_grad_value
from .optimizers import (SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop, adadelta_update,
                         adagrad_update, adam_update, adamw_update, rmsprop_update, sgd_update)

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "sgd_update", "adagrad_update",
           "rmsprop_update", "adadelta_update", "adam_update", "adamw_update", "lr_scheduler",
           "clip_grad_norm", "clip_grad_value"]
