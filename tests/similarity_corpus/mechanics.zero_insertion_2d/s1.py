import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def zero_insert(x, stride):
    sh, sw = _pair(stride)
    H, W = x.shape
    up = np.zeros(((H - 1) * sh + 1, (W - 1) * sw + 1), dtype=x.dtype)
    up[::sh, ::sw] = x
    return up


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    ph, pw = _pair(padding)
    kh, kw = weight.shape
    up = zero_insert(x, stride)
    padded = np.pad(up, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = weight[::-1, ::-1]

    H_full = up.shape[0] + kh - 1
    W_full = up.shape[1] + kw - 1
    out = np.zeros((H_full, W_full), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            out += flipped[a, b] * padded[a:a + H_full, b:b + W_full]
    return out[ph:H_full - ph, pw:W_full - pw]
