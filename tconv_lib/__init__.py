"""tconv_lib: transposed convolution from first principles, in NumPy.

The one place where the course's mathematics lives.  Chapters import it,
exercises are graded against it, widgets draw what it computes.

Signatures follow :mod:`torch.nn.functional`; see :mod:`tconv_lib.transposed`
for the five views of the operator, :mod:`tconv_lib.geometry` for every size
formula, :mod:`tconv_lib.gradients` for the backward pass,
:mod:`tconv_lib.artifacts` for coverage, gaps, the polyphase view and the
checkerboard measure, :mod:`tconv_lib.mitigation` for resize-convolve,
bilinear and ICNR initialisation and sub-pixel convolution,
:mod:`tconv_lib.init` for fan-in and initialisation, and
:mod:`tconv_lib.spectral` for the spectra of signals and kernels.
``tconv_lib.grading`` (homework, with the PyTorch fixtures in
``tconv_lib.grading.references``), ``tconv_lib.plotting`` and ``tconv_lib.widgets`` are imported on
demand.
"""

from . import artifacts, geometry, gradients, init, mitigation, spectral
from .conv import conv1d, conv2d
from .matrix import conv_matrix
from .transposed import (
    VIEWS_1D,
    VIEWS_2D,
    conv_transpose1d,
    conv_transpose1d_gemm,
    conv_transpose1d_matrix,
    conv_transpose1d_polyphase,
    conv_transpose1d_scatter,
    conv_transpose1d_zero_insertion,
    conv_transpose2d,
    conv_transpose2d_gemm,
    conv_transpose2d_matrix,
    conv_transpose2d_polyphase,
    conv_transpose2d_scatter,
    conv_transpose2d_zero_insertion,
    fastest_view,
    zero_insert1d,
    zero_insert2d,
)

__version__ = "0.1.0"

__all__ = [
    "artifacts",
    "geometry",
    "gradients",
    "init",
    "mitigation",
    "spectral",
    "conv1d",
    "conv2d",
    "conv_matrix",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose1d_scatter",
    "conv_transpose2d_scatter",
    "conv_transpose1d_zero_insertion",
    "conv_transpose2d_zero_insertion",
    "conv_transpose1d_matrix",
    "conv_transpose2d_matrix",
    "conv_transpose1d_gemm",
    "conv_transpose2d_gemm",
    "conv_transpose1d_polyphase",
    "conv_transpose2d_polyphase",
    "fastest_view",
    "VIEWS_1D",
    "VIEWS_2D",
    "zero_insert1d",
    "zero_insert2d",
]
