import numpy as np


def polyphase_kernels(weight, stride):
    L = -(-len(weight) // stride)  # = (k - 1) // s + 1
    return [np.concatenate([weight[r::stride], np.zeros(L - len(weight[r::stride]))]) for r in range(stride)]


def _fft_convolve(a, b):
    size = len(a) + len(b) - 1
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)


def conv_transpose1d_polyphase(x, weight, stride, padding=0):
    """Each phase is a true convolution of x with its sub-kernel, done in the Fourier domain."""
    kernels = polyphase_kernels(weight, stride)
    outputs = [_fft_convolve(x, h) for h in kernels]
    length = len(outputs[0])

    y = np.empty(stride * length)
    for r in range(stride):
        y[r::stride] = outputs[r]

    y = y[:(len(x) - 1) * stride + len(weight)]
    end = len(y) - padding
    return y[padding:end]
