import numpy as np


def polyphase_kernels(weight, stride):
    L = (weight.shape[0] - 1) // stride + 1
    return [np.pad(weight[r::stride], (0, L - weight[r::stride].shape[0])) for r in range(stride)]


def conv_matrix(h, n):
    """(n + L - 1) x n matrix T with T[m, i] = h[m - i]: T @ x is the full convolution."""
    L = h.shape[0]
    m = np.arange(n + L - 1)[:, None]
    i = np.arange(n)[None, :]
    d = m - i
    ok = (d >= 0) & (d < L)
    return np.where(ok, h[np.clip(d, 0, L - 1)], 0.0)


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    n = x.shape[0]
    subs = polyphase_kernels(weight, stride)
    L = subs[0].shape[0]
    grid = np.zeros((n + L - 1, stride))
    for r in range(stride):
        grid[:, r] = conv_matrix(subs[r], n) @ x
    y = grid.reshape(-1)[: (n - 1) * stride + weight.shape[0]]
    return y[padding: y.shape[0] - padding]
