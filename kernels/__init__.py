"""fastnet.kernels: the Numba kernels behind :mod:`fastnet.ops`.

Kernels see only C-contiguous float32/float64 arrays and Python ints; all validation, dtype
checks and output-shape arithmetic happen in the wrappers in :mod:`fastnet.ops`. Every op
``NAME`` in ``fastnet.ops`` is backed by kernels named ``NAME_forward`` / ``NAME_backward*``
in the module listed here:

=====================  ==========================================================
op                     module
=====================  ==========================================================
sigmoid, tanh, relu    :mod:`fastnet.kernels.activations`
dense                  :mod:`fastnet.kernels.dense`
conv2d                 :mod:`fastnet.kernels.conv2d` (small layers: ``conv2d_plane``; 3x3 and 5x5
                       stride 1 and 2: ``winograd``, their weight gradient ``winograd_weight``)
conv3d                 :mod:`fastnet.kernels.conv3d` (its weight gradient: ``conv_weight``;
                       3x3x3 stride 1 and 2: ``winograd3d``, its weight gradient ``winograd3d_weight``)
maxpool2d, maxpool3d   :mod:`fastnet.kernels.pooling` (3-D: ``pooling3d``)
mse_loss, cross_entropy, squared_error   :mod:`fastnet.kernels.losses`
nll_loss, l1_loss      :mod:`fastnet.kernels.losses`
huber_loss             :mod:`fastnet.kernels.losses`
bce_with_logits        :mod:`fastnet.kernels.losses` (op ``binary_cross_entropy_with_logits``)
cross_entropy          :mod:`fastnet.kernels.losses` (``cross_entropy_weighted_forward``: weight, label_smoothing)
leaky_relu             :mod:`fastnet.kernels.activations`
conv1d                 :mod:`fastnet.kernels.conv2d` (a unit height, via ``fastnet.ops.conv2d``)
maxpool1d              :mod:`fastnet.kernels.pooling` (a unit height, via ``fastnet.ops.maxpool2d``)
avgpool2d, global_avgpool2d   :mod:`fastnet.kernels.avgpool`
batch_norm             :mod:`fastnet.kernels.normalization` (``batch_norm_stats`` too)
dropout                :mod:`fastnet.kernels.dropout`
softmax, log_softmax   :mod:`fastnet.kernels.softmax` (one kernel pair, a ``log`` flag)
optimizer steps        :mod:`fastnet.kernels.optimizers` (``sgd_step``, ``adagrad_step``, ``rmsprop_step``,
                       ``adadelta_step``, ``adam_step``: behind ``fastnet.optim.*_update``)
=====================  ==========================================================

Not an op: :mod:`fastnet.kernels.probe` (``fma_units``) measures the machine for the benchmark
runner (how fast threads run the micro-kernel side by side).

This folder lives at the top of the repository as ``kernels/`` and installs as
``fastnet.kernels``; import it only under that name.
"""
