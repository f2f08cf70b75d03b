"""tconv_lib: transposed convolution from first principles, in NumPy.

The one place where the course's mathematics lives.  Chapters import it,
exercises are graded against it, widgets draw what it computes.

Signatures follow :mod:`torch.nn.functional`; see :mod:`tconv_lib.transposed`
for the four views of the operator and :mod:`tconv_lib.geometry` for every
size formula.
"""

from . import geometry
from .conv import conv1d, conv2d
from .matrix import conv_matrix
from .transposed import (
    VIEWS_1D,
    VIEWS_2D,
    conv_transpose1d,
    conv_transpose1d_gemm,
    conv_transpose1d_matrix,
    conv_transpose1d_scatter,
    conv_transpose1d_zero_insertion,
    conv_transpose2d,
    conv_transpose2d_gemm,
    conv_transpose2d_matrix,
    conv_transpose2d_scatter,
    conv_transpose2d_zero_insertion,
)

__version__ = "0.1.0"

__all__ = [
    "geometry",
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
    "VIEWS_1D",
    "VIEWS_2D",
]
