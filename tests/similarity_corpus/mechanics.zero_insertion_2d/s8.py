import numpy as np


def zero_insert(x, stride):
    if type(stride) in (tuple, list):
        step_r, step_c = stride
    else:
        step_r = step_c = stride
    n_r, n_c = x.shape
    spread = np.zeros((step_r * (n_r - 1) + 1, step_c * (n_c - 1) + 1), dtype=x.dtype)
    i = 0
    while i < n_r:
        spread[i * step_r, ::step_c] = x[i]
        i += 1
    return spread


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    if type(padding) in (tuple, list):
        pad_r, pad_c = padding
    else:
        pad_r = pad_c = padding

    kr, kc = weight.shape
    spread = zero_insert(x, stride)
    # embed in a larger array of zeros (k - 1 on each side) without np.pad
    canvas = np.zeros((spread.shape[0] + 2 * kr - 2, spread.shape[1] + 2 * kc - 2), dtype=spread.dtype)
    canvas[kr - 1:kr - 1 + spread.shape[0], kc - 1:kc - 1 + spread.shape[1]] = spread

    rev = weight[::-1][:, ::-1]
    out_r = canvas.shape[0] - kr + 1 - 2 * pad_r
    out_c = canvas.shape[1] - kc + 1 - 2 * pad_c
    out = np.empty((out_r, out_c))
    # one output row at a time: a (kr, out_c, kc) stack of windows dotted with the kernel
    col_idx = np.arange(out_c)[:, None] + pad_c + np.arange(kc)[None, :]
    for r in range(out_r):
        band = canvas[r + pad_r:r + pad_r + kr]            # (kr, width)
        windows = band[:, col_idx]                         # (kr, out_c, kc)
        out[r] = np.tensordot(windows, rev, axes=([0, 2], [0, 1]))
    return out
