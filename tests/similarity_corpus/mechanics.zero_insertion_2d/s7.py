import numpy as np


def zero_insert(x, stride):
    s_h, s_w = stride if isinstance(stride, tuple) else (stride, stride)
    # matrices that spread rows and columns: E_h @ x @ E_w.T
    E_h = np.zeros(((x.shape[0] - 1) * s_h + 1, x.shape[0]))
    E_h[np.arange(x.shape[0]) * s_h, np.arange(x.shape[0])] = 1.0
    E_w = np.zeros(((x.shape[1] - 1) * s_w + 1, x.shape[1]))
    E_w[np.arange(x.shape[1]) * s_w, np.arange(x.shape[1])] = 1.0
    return E_h @ x @ E_w.T


def shift_matrix(n_out, n_in, offset):
    """S with S[m, m + offset] = 1: picks rows offset .. offset + n_out - 1."""
    S = np.zeros((n_out, n_in))
    m = np.arange(n_out)
    S[m, m + offset] = 1.0
    return S


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    p_h, p_w = padding if isinstance(padding, tuple) else (padding, padding)
    k_h, k_w = weight.shape
    spread = zero_insert(x, stride)
    padded = np.pad(spread, ((k_h - 1, k_h - 1), (k_w - 1, k_w - 1)))
    flipped = np.flipud(np.fliplr(weight))

    n_h = padded.shape[0] - k_h + 1 - 2 * p_h
    n_w = padded.shape[1] - k_w + 1 - 2 * p_w
    result = np.zeros((n_h, n_w))
    for a in range(k_h):
        left = shift_matrix(n_h, padded.shape[0], a + p_h)
        for b in range(k_w):
            right = shift_matrix(n_w, padded.shape[1], b + p_w)
            result += flipped[a, b] * (left @ padded @ right.T)
    return result
