import numpy as np


def polyphase_kernels(weight, stride):
    k = len(weight)
    L = (k - 1) // stride + 1
    padded = np.zeros(L * stride, dtype=weight.dtype)
    padded[:k] = weight
    table = padded.reshape(L, stride)      # row q holds taps q*s .. q*s + s - 1
    return [table[:, r].copy() for r in range(stride)]


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    n, k = len(x), len(weight)
    subs = polyphase_kernels(weight, stride)
    L = len(subs[0])

    canvas = np.zeros(stride * (n + L - 1))
    for r, h in enumerate(subs):
        z = np.zeros(n + L - 1)
        for q in range(L):
            z[q:q + n] += h[q] * x
        canvas[r::stride] = z

    canvas = canvas[:(n - 1) * stride + k]
    return canvas[padding:len(canvas) - padding]
