import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    # stride / padding may be a single int or a (height, width) pair
    if isinstance(stride, int):
        stride = (stride, stride)
    if isinstance(padding, int):
        padding = (padding, padding)
    s_h, s_w = stride
    p_h, p_w = padding

    n_rows, n_cols = x.shape
    k_rows, k_cols = weight.shape
    full_h = (n_rows - 1) * s_h + k_rows
    full_w = (n_cols - 1) * s_w + k_cols
    out = np.zeros((full_h, full_w))

    # every pixel stamps a scaled copy of the whole kernel
    for r in range(n_rows):
        top = r * s_h
        for c in range(n_cols):
            left = c * s_w
            out[top:top + k_rows, left:left + k_cols] += x[r, c] * weight

    out_h = full_h - 2 * p_h
    out_w = full_w - 2 * p_w
    return out[p_h:p_h + out_h, p_w:p_w + out_w]
