import numpy as np


def polyphase_kernels(weight, stride):
    L = (len(weight) - 1) // stride + 1
    result = []
    r = 0
    while r < stride:
        taps = list(weight[r::stride])
        taps += [0.0] * (L - len(taps))
        result.append(np.array(taps, dtype=float))
        r += 1
    return result


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    s, p = stride, padding
    n, k = x.shape[0], weight.shape[0]
    hs = polyphase_kernels(weight, s)
    L = hs[0].shape[0]

    i = np.arange(n)[:, None]
    q = np.arange(L)[None, :]
    canvas = np.zeros(s * (n + L - 1))
    for r in range(s):
        # every product x[i] * h_r[q] belongs to index m = i + q of phase r
        zr = np.zeros(n + L - 1)
        np.add.at(zr, (i + q).ravel(), np.outer(x, hs[r]).ravel())
        for mm in range(n + L - 1):
            canvas[mm * s + r] = zr[mm]

    used = (n - 1) * s + k
    return canvas[p:used - p]
