"""TDNN layers against direct computations, the scanning-MLP equivalence, pooling and causality."""

import pytest
import torch

from tdnn.errors import ConfigError
from tdnn.layers import (ScanningMLP, TDNNLayer, TimePool, constrain_, context_affine,
                         output_length, parse_context, semi_orthogonal_, tdnn_to_mlp_weight, windows)

CONTEXTS = [(-2, -1, 0, 1, 2), (-3, 0, 3), (-1, 2), (0,), (-3, 0, 1), (1, 2), (-4, -2, 5)]


def direct_affine(x, weight, bias, context, stride, padding):
    """y[:, :, t] = b + sum_k W[:, :, k] x[:, :, pos(t, c_k)], by loops (zeros outside)."""
    length = x.shape[-1]
    if padding == "same":
        n_out, shift = -(-length // stride), 0
    else:
        n_out, shift = (length - (context[-1] - context[0] + 1)) // stride + 1, -context[0]
    y = torch.zeros(x.shape[0], weight.shape[0], n_out)
    for t in range(n_out):
        y[:, :, t] = bias
        for k, c in enumerate(context):
            p = t * stride + c + shift
            if 0 <= p < length:
                y[:, :, t] += x[:, :, p] @ weight[:, :, k].T
    return y


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_context_affine_equals_direct(context, stride, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 13, generator=g)
    w = torch.randn(4, 3, len(context), generator=g)
    b = torch.randn(4, generator=g)
    y = context_affine(x, w, b, context, stride, padding)
    assert y.shape[-1] == output_length(13, context, stride, padding)
    torch.testing.assert_close(y, direct_affine(x, w, b, context, stride, padding))


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_layer_equals_direct_loops(stride, rank, padding):
    """A whole layer (TDNN-F factor, affine, tanh, batch norm with its running statistics) against
    the loop reference and batch norm written out."""
    torch.manual_seed(0)
    layer = TDNNLayer(5, 7, (-3, 0, 1), "tanh", batch_norm=True, dropout=0.2, stride=stride,
                      rank=rank, padding=padding)
    layer.norm.running_mean.uniform_(-0.5, 0.5)
    layer.norm.running_var.uniform_(0.5, 2.0)
    layer.eval()
    x = torch.randn(2, 5, 20)
    context = (-3, 0, 1)
    if rank is None:
        h = direct_affine(x, layer.affine.weight, layer.affine.bias, context, stride, padding)
    else:
        low = direct_affine(x, layer.factor.weight, torch.zeros(rank), context, stride, padding)
        h = direct_affine(low, layer.affine.weight, layer.affine.bias, (0,), 1, "same")
    bn = layer.norm
    ref = ((torch.tanh(h) - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps)
           * bn.weight[:, None] + bn.bias[:, None])
    n_out = -(-20 // stride) if padding == "same" else (20 - 5) // stride + 1
    assert ref.shape == (2, 7, n_out)
    torch.testing.assert_close(layer(x), ref)


def test_factorised_layer_counts_and_constraint():
    layer = TDNNLayer(10, 12, (-1, 0, 1), batch_norm=False, rank=4)
    assert sum(p.numel() for p in layer.parameters()) == 3 * 10 * 4 + 4 * 12 + 12
    torch.manual_seed(0)
    for _ in range(30):
        constrain_(layer)
    m = layer.factor.weight.reshape(4, -1)
    p = m @ m.T
    scale = p.diagonal().mean()
    torch.testing.assert_close(p / scale, torch.eye(4), atol=1e-4, rtol=0)


def test_semi_orthogonal_tall_matrix():
    w = torch.randn(20, 3, 1, generator=torch.Generator().manual_seed(1))
    for _ in range(30):
        semi_orthogonal_(w)
    m = w.reshape(20, 3)
    p = m.T @ m
    torch.testing.assert_close(p / p.diagonal().mean(), torch.eye(3), atol=1e-4, rtol=0)


@pytest.mark.parametrize("context", CONTEXTS)
def test_causal_layer_ignores_future_frames(context):
    layer = TDNNLayer(3, 4, context, causal=True).eval()
    assert max(layer.context) == 0
    x = torch.randn(1, 3, 12)
    t = 6
    x2 = x.clone()
    x2[:, :, t + 1:] += 10 * torch.randn(1, 3, 12 - t - 1)
    y, y2 = layer(x), layer(x2)
    torch.testing.assert_close(y[..., :t + 1], y2[..., :t + 1])
    assert not torch.allclose(y[..., t + 1:], y2[..., t + 1:])


def test_causal_pool_ignores_future_frames():
    x = torch.randn(1, 2, 10)
    x2 = x.clone()
    x2[..., 5:] = 100.0
    for kind in ("max", "avg"):
        pool = TimePool(kind, width=3, causal=True)
        torch.testing.assert_close(pool(x)[..., :5], pool(x2)[..., :5])


def test_stack_equals_scanning_mlp_outputs_and_gradients():
    torch.manual_seed(0)
    contexts = [(-2, -1, 0, 1, 2), (-3, 0, 1), (0,)]
    dims = [6, 5, 4]
    layers = [TDNNLayer(d_in, d, c, "tanh", batch_norm=False)
              for d_in, d, c in zip([3, *dims], dims, contexts)]
    stack = torch.nn.Sequential(*layers)
    mlp = ScanningMLP.from_tdnn(layers, activation="tanh")
    x = torch.randn(2, 3, 11)
    target = torch.randn(2, 4, 11)
    y_stack, y_mlp = stack(x), mlp(x)
    torch.testing.assert_close(y_stack, y_mlp)
    ((y_stack - target) ** 2).sum().backward()
    ((y_mlp - target) ** 2).sum().backward()
    for layer, linear in zip(layers, mlp.linears):
        torch.testing.assert_close(tdnn_to_mlp_weight(layer.affine.weight.grad), linear.weight.grad)
        torch.testing.assert_close(layer.affine.bias.grad, linear.bias.grad)


def test_shared_weight_gradient_is_sum_of_window_gradients():
    g = torch.Generator().manual_seed(0)
    context = (-1, 0, 2)
    x = torch.randn(2, 3, 9, generator=g)
    w = torch.randn(4, 3 * len(context), generator=g, requires_grad=True)
    target = torch.randn(2, 4, 9, generator=g)
    win = windows(x, context).permute(0, 2, 3, 1).reshape(2, 9, -1)  # [B, L, K*C], offset-major
    loss = ((torch.tanh(win @ w.T).transpose(1, 2) - target) ** 2).sum()
    loss.backward()
    copies = [w.detach().clone().requires_grad_() for _ in range(9)]
    out = torch.stack([torch.tanh(win[:, t] @ copies[t].T) for t in range(9)], dim=-1)
    ((out - target) ** 2).sum().backward()
    torch.testing.assert_close(w.grad, sum(c.grad for c in copies))
    assert not torch.allclose(copies[0].grad, copies[1].grad)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("width,stride", [(2, 1), (3, 1), (2, 2), (3, 3), (4, 2)])
def test_pool_keeps_channels_and_matches_direct(kind, width, stride):
    x = torch.randn(2, 5, 11)
    y = TimePool(kind, width, stride)(x)
    assert y.shape == (2, 5, -(-11 // stride))
    first = -((width - 1) // 2)
    for t in range(y.shape[-1]):
        lo, hi = max(0, t * stride + first), min(11, t * stride + first + width)
        ref = x[..., lo:hi].amax(-1) if kind == "max" else x[..., lo:hi].mean(-1)
        torch.testing.assert_close(y[..., t], ref)


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError):
        parse_context([])
    with pytest.raises(ConfigError):
        parse_context([0, 0])
    with pytest.raises(ConfigError):
        TDNNLayer(3, 4, activation="swishy")
    with pytest.raises(ConfigError):
        TimePool("median")
    with pytest.raises(ConfigError):
        TDNNLayer(3, 4, (-2, 0, 2), padding="valid")(torch.randn(1, 3, 4))
