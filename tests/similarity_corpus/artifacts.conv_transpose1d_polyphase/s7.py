import numpy as np


def polyphase_kernels(weight, stride):
    k = weight.shape[0]
    L = (k - 1) // stride + 1
    idx = np.arange(L)[None, :] * stride + np.arange(stride)[:, None]   # tap q*s + r
    vals = np.where(idx < k, weight[np.minimum(idx, k - 1)], 0.0)
    return [vals[r] for r in range(stride)]


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    n = len(x)
    phase_outputs = []
    for h in polyphase_kernels(weight, stride):
        L = len(h)
        # z[m] = sum over (i, q) with i + q = m of x[i] h[q]: sum the anti-diagonals
        prods = np.outer(x, h)
        anti = np.add.outer(np.arange(n), np.arange(L))
        phase_outputs.append(np.bincount(anti.ravel(), weights=prods.ravel(), minlength=n + L - 1))
    canvas = np.column_stack(phase_outputs).ravel()
    start = padding
    stop = (n - 1) * stride + len(weight) - padding
    return canvas[start:stop]
