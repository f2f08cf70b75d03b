import numpy as np


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_transpose2d_scatter(x, weight, stride, padding):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    H, W = x.shape
    kh, kw = weight.shape

    canvas = np.zeros(((H - 1) * sh + kh, (W - 1) * sw + kw), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            for a in range(kh):
                for b in range(kw):
                    canvas[i * sh + a, j * sw + b] += x[i, j] * weight[a, b]

    rows, cols = canvas.shape
    return canvas[ph:rows - ph, pw:cols - pw]
