"""fastnet.ops: validated functional ops on NumPy arrays, PyTorch conventions.

Layouts follow PyTorch: images are NCHW, volumes NCDHW, convolution weights (out, in, ...), dense
weights (out_features, in_features). Every op accepts float32 or float64 arrays (never mixed),
contiguous or not, and returns new C-contiguous arrays of the same dtype.

Backward functions take the upstream gradient ``dy`` (same shape as the op's output) and return
the gradients of the op's inputs.
"""

from ._activation import relu, relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward
from ._conv import conv2d, conv2d_backward, conv3d, conv3d_backward
from ._dense import dense, dense_backward
from ._loss import cross_entropy, mse_loss, squared_error
from ._loss import binary_cross_entropy_with_logits, huber_loss, l1_loss, nll_loss
from ._pool import maxpool2d, maxpool2d_backward, maxpool3d, maxpool3d_backward
# issue 12: 1-D convolution and pooling, average pooling, batch norm, dropout, softmax, leaky relu
from ._activation import leaky_relu, leaky_relu_backward
from ._avgpool import avgpool2d, avgpool2d_backward, global_avgpool2d, global_avgpool2d_backward
from ._conv1d import conv1d, conv1d_backward
from ._dropout import dropout, dropout_backward
from ._normalization import batch_norm, batch_norm_backward
from ._pool import maxpool1d, maxpool1d_backward
from ._softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward",
    "dense", "dense_backward",
    "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "maxpool2d", "maxpool2d_backward", "maxpool3d", "maxpool3d_backward",
    "mse_loss", "cross_entropy", "squared_error",
    "binary_cross_entropy_with_logits", "nll_loss", "l1_loss", "huber_loss",
    # issue 12
    "conv1d", "conv1d_backward", "maxpool1d", "maxpool1d_backward",
    "avgpool2d", "avgpool2d_backward", "global_avgpool2d", "global_avgpool2d_backward",
    "batch_norm", "batch_norm_backward", "dropout", "dropout_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "leaky_relu", "leaky_relu_backward",
]
