import numpy as np


def polyphase_kernels(weight, stride):
    length = (len(weight) - 1) // stride + 1
    kernels = []
    for phase in range(stride):
        sub = np.zeros(length)
        for q in range(length):
            tap = q * stride + phase
            if tap < len(weight):
                sub[q] = weight[tap]
        kernels.append(sub)
    return kernels


def true_conv(signal, kernel):
    """Full convolution: out[m] = sum_q kernel[q] * signal[m - q]."""
    n, L = len(signal), len(kernel)
    out = np.zeros(n + L - 1)
    for m in range(n + L - 1):
        acc = 0.0
        for q in range(L):
            if 0 <= m - q < n:
                acc += kernel[q] * signal[m - q]
        out[m] = acc
    return out


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    phases = [true_conv(x, h) for h in polyphase_kernels(weight, stride)]
    # interleave: position m*s + r holds phases[r][m]
    interleaved = np.stack(phases, axis=1).reshape(-1)
    keep = (len(x) - 1) * stride + len(weight)
    interleaved = interleaved[:keep]
    if padding:
        interleaved = interleaved[padding:-padding]
    return interleaved
