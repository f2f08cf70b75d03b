import numpy as np


def polyphase_kernels(weight, stride):
    w = [float(v) for v in weight]
    k = len(w)
    L = (k - 1) // stride + 1
    out = []
    for r in range(stride):
        h = []
        for q in range(L):
            a = q * stride + r
            h.append(w[a] if a < k else 0.0)
        out.append(np.array(h))
    return out


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    xs = [float(v) for v in x]
    n = len(xs)
    subkernels = polyphase_kernels(weight, stride)
    L = len(subkernels[0])

    per_phase = []
    for h in subkernels:
        z = []
        for m in range(n + L - 1):
            z.append(sum(h[q] * xs[m - q] for q in range(L) if 0 <= m - q < n))
        per_phase.append(z)

    merged = []
    m = 0
    while m < n + L - 1:
        for r in range(stride):
            merged.append(per_phase[r][m])
        m += 1

    full_length = (n - 1) * stride + len(weight)
    merged = merged[:full_length]
    return np.array(merged[padding:full_length - padding], dtype=float)
