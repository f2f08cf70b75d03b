import numpy as np


def zero_insert(x, stride):
    if isinstance(stride, int):
        stride = (stride, stride)
    rows, cols = x.shape
    result = np.zeros(((rows - 1) * stride[0] + 1, (cols - 1) * stride[1] + 1))
    for r in range(rows):
        for c in range(cols):
            result[r * stride[0], c * stride[1]] = x[r, c]
    return result


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    if isinstance(padding, int):
        padding = (padding, padding)
    spread = zero_insert(x, stride)
    kr, kc = weight.shape

    # flip the kernel both ways by hand
    flip = np.empty_like(weight)
    for a in range(kr):
        for b in range(kc):
            flip[a, b] = weight[kr - 1 - a, kc - 1 - b]

    # surround the spread input with k-1 zeros on every side
    big = np.zeros((spread.shape[0] + 2 * (kr - 1), spread.shape[1] + 2 * (kc - 1)))
    big[kr - 1:kr - 1 + spread.shape[0], kc - 1:kc - 1 + spread.shape[1]] = spread

    n_out_r = spread.shape[0] - 2 * padding[0] + kr - 1
    n_out_c = spread.shape[1] - 2 * padding[1] + kc - 1
    out = np.zeros((n_out_r, n_out_c))
    # slide the flipped kernel; output (m, n) starts at canvas position (m + p, n + p)
    for m in range(n_out_r):
        for n in range(n_out_c):
            top = m + padding[0]
            left = n + padding[1]
            out[m, n] = np.sum(big[top:top + kr, left:left + kc] * flip)
    return out
