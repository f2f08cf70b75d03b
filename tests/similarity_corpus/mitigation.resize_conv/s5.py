import numpy as np


def upsample_nearest(x, scale):
    try:
        fy, fx = scale
    except TypeError:
        fy = fx = scale
    squeeze = x.ndim == 2
    if squeeze:
        x = x[None]
    C, H, W = x.shape
    out = np.zeros((C, H * fy, W * fx), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            out[:, i * fy:(i + 1) * fy, j * fx:(j + 1) * fx] = x[:, i:i + 1, j:j + 1]
    return out[0] if squeeze else out


def same_size_padding(k, s, p, op, K):
    """Zeros before and after (negative = crop) so the resize-conv matches the transposed layer."""
    P = (k - 1) + op - 2 * p - s + K
    half = P - op
    b = half // 2 + (half % 2)
    return b, P - b


def resize_conv(x, weight, kernel_size, stride, padding=0, output_padding=0):
    up = upsample_nearest(x, stride)
    Kh, Kw = weight.shape
    b_h, e_h = same_size_padding(kernel_size, stride, padding, output_padding, Kh)
    b_w, e_w = same_size_padding(kernel_size, stride, padding, output_padding, Kw)

    # step 1: the positive parts with np.pad
    up = np.pad(up, [(max(b_h, 0), max(e_h, 0)), (max(b_w, 0), max(e_w, 0))])
    # step 2: the negative parts by slicing
    if b_h < 0:
        up = up[-b_h:]
    if e_h < 0:
        up = up[:e_h]
    if b_w < 0:
        up = up[:, -b_w:]
    if e_w < 0:
        up = up[:, :e_w]

    # convolution as a matrix product (im2col)
    Ho, Wo = up.shape[0] - Kh + 1, up.shape[1] - Kw + 1
    patches = np.empty((Ho * Wo, Kh * Kw))
    idx = 0
    for i in range(Ho):
        for j in range(Wo):
            patches[idx] = up[i:i + Kh, j:j + Kw].ravel()
            idx += 1
    return (patches @ weight.ravel()).reshape(Ho, Wo)
