import numpy as np


def upsample_nearest(x, scale):
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    return np.repeat(np.repeat(x, sh, axis=-2), sw, axis=-1)


def _split(k, s, p, op, K):
    total = (k - 1) + op - 2 * p - s + K
    before = -((op - total) // 2)  # ceil((total - op) / 2)
    return before, total - before


def resize_conv(x, weight, kernel_size, stride, padding=0, output_padding=0):
    KH, KW = weight.shape
    top, bottom = _split(kernel_size, stride, padding, output_padding, KH)
    left, right = _split(kernel_size, stride, padding, output_padding, KW)

    img = upsample_nearest(x, stride)
    img = np.pad(img, ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))))
    # negative padding: crop instead
    img = img[max(-top, 0):img.shape[0] - max(-bottom, 0), max(-left, 0):img.shape[1] - max(-right, 0)]

    H_out = img.shape[0] - KH + 1
    W_out = img.shape[1] - KW + 1
    out = np.zeros((H_out, W_out))
    for a in range(KH):
        for b in range(KW):
            out += weight[a, b] * img[a:a + H_out, b:b + W_out]
    return out
