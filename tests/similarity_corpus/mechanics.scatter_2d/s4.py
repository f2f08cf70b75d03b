import numpy as np


def as_two(value):
    t = np.atleast_1d(np.asarray(value, dtype=int))
    if t.size == 1:
        t = np.repeat(t, 2)
    return int(t[0]), int(t[1])


def conv_transpose2d_scatter(x, weight, stride, padding):
    stride_h, stride_w = as_two(stride)
    pad_h, pad_w = as_two(padding)
    H, W = x.shape
    KH, KW = weight.shape

    # target coordinates of every (i, j, a, b) product, by broadcasting
    I = np.arange(H)[:, None, None, None]
    J = np.arange(W)[None, :, None, None]
    A = np.arange(KH)[None, None, :, None]
    B = np.arange(KW)[None, None, None, :]
    rows = I * stride_h + A + 0 * (J + B)
    cols = J * stride_w + B + 0 * (I + A)
    products = x[:, :, None, None] * weight[None, None, :, :]

    out = np.zeros(((H - 1) * stride_h + KH, (W - 1) * stride_w + KW))
    np.add.at(out, (rows.ravel(), cols.ravel()), products.ravel())

    Hout = out.shape[0] - 2 * pad_h
    Wout = out.shape[1] - 2 * pad_w
    return out[pad_h:pad_h + Hout, pad_w:pad_w + Wout]
