import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def polyphase_kernels(weight, stride):
    k = len(weight)
    L = (k - 1) // stride + 1
    subs = np.zeros((stride, L))
    for a, w in enumerate(weight):
        subs[a % stride, a // stride] = w
    return list(subs)


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    subs = polyphase_kernels(weight, stride)
    L = subs[0].size
    n = x.size
    # a true convolution is a sliding dot product with the reversed sub-kernel
    # over x padded with L - 1 zeros on each side
    xp = np.concatenate([np.zeros(L - 1), x, np.zeros(L - 1)])
    windows = sliding_window_view(xp, L)                       # (n + L - 1, L)
    z = np.einsum("ml,rl->rm", windows, np.array(subs)[:, ::-1])  # (stride, n + L - 1)

    m = np.arange(n + L - 1)
    out = np.zeros(stride * (n + L - 1))
    for r in range(stride):
        out[m * stride + r] = z[r]
    total = (n - 1) * stride + weight.size
    return out[padding:total - padding]
