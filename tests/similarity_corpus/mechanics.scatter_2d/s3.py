import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    """Loop over the kernel taps: tap (a, b) sends the whole input, scaled, to a strided grid."""
    sh, sw = (stride, stride) if np.isscalar(stride) else tuple(stride)
    ph, pw = (padding, padding) if np.isscalar(padding) else tuple(padding)
    h, w = x.shape
    kh, kw = weight.shape
    hc, wc = (h - 1) * sh + kh, (w - 1) * sw + kw
    z = np.zeros((hc, wc), dtype=np.result_type(x, weight))
    span_h, span_w = (h - 1) * sh + 1, (w - 1) * sw + 1
    for a in range(kh):
        for b in range(kw):
            z[a:a + span_h:sh, b:b + span_w:sw] += weight[a, b] * x
    return z[ph:hc - ph, pw:wc - pw].copy()
