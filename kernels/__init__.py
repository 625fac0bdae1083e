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
conv2d                 :mod:`fastnet.kernels.conv2d` (small layers: ``conv2d_plane``)
conv3d                 :mod:`fastnet.kernels.conv3d`
maxpool2d, maxpool3d   :mod:`fastnet.kernels.pooling`
mse_loss, cross_entropy, squared_error   :mod:`fastnet.kernels.losses`
nll_loss, l1_loss, huber_loss, binary_cross_entropy_with_logits (``bce_with_logits_forward``), cross_entropy with weight or label_smoothing (``cross_entropy_weighted_forward``)   :mod:`fastnet.kernels.losses`
=====================  ==========================================================

This folder lives at the top of the repository as ``kernels/`` and installs as
``fastnet.kernels``; import it only under that name.
"""
