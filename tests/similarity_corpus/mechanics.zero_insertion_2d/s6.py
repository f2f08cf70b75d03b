import numpy as np


def zero_insert(x, stride):
    if np.isscalar(stride):
        stride = (stride, stride)
    h, w = x.shape
    rows = np.arange(h) * stride[0]
    cols = np.arange(w) * stride[1]
    z = np.zeros((rows[-1] + 1, cols[-1] + 1))
    z[np.ix_(rows, cols)] = x
    return z


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    """Zero insertion, then a cross-correlation with the flipped kernel computed through the FFT."""
    if np.isscalar(padding):
        padding = (padding, padding)
    kh, kw = weight.shape
    z = zero_insert(x, stride)
    zp = np.pad(z, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    g = weight[::-1, ::-1]

    # circular cross-correlation: corr[m, n] = sum_ab g[a, b] * zp[m + a, n + b]
    # (no wrap-around for the outputs we keep, since zp already holds the k-1 zeros)
    shape = zp.shape
    spec = np.fft.rfft2(zp, s=shape) * np.conj(np.fft.rfft2(g, s=shape))
    corr = np.fft.irfft2(spec, s=shape)

    nh = shape[0] - kh + 1
    nw = shape[1] - kw + 1
    valid = corr[:nh, :nw]
    return valid[padding[0]:nh - padding[0], padding[1]:nw - padding[1]]
