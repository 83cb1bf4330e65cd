"""A plain PyTorch LeanALBERT, LAMB and learning-rate schedule: the reference
the project's TensorFlow.js model (trainer-image/src/model/) and optimizer
(trainer-image/src/optim/) are checked against. Written from the papers'
definitions, with the project's parameter names, shapes ([in, out] kernels)
and update rules, so that a safetensors file of the project's parameters
loads as it is.

  ids -> word table [V,E] -> LayerNorm(E) -> projection E->H
      -> one shared block, applied L times (pre-LayerNorm):
           x += Attention(LN(x))   rotary q/k (half-split layout), padding mask
           x += GEGLU(LN(x))       gelu (tanh form) of the gate times the value
      -> final LayerNorm(H)
      -> tied MLM head: logits = h . projection^T . table^T + bias[V]
"""
import math
import re

import numpy as np
import torch
import torch.nn.functional as F

PARAMETER_NAMES = [
    'embeddings.word', 'embeddings.layer_norm.gamma', 'embeddings.layer_norm.beta',
    'embeddings.projection.kernel', 'embeddings.projection.bias',
    'block.attention.layer_norm.gamma', 'block.attention.layer_norm.beta',
    'block.attention.query.kernel', 'block.attention.query.bias',
    'block.attention.key.kernel', 'block.attention.key.bias',
    'block.attention.value.kernel', 'block.attention.value.bias',
    'block.attention.output.kernel', 'block.attention.output.bias',
    'block.ffn.layer_norm.gamma', 'block.ffn.layer_norm.beta',
    'block.ffn.gate.kernel', 'block.ffn.gate.bias',
    'block.ffn.value.kernel', 'block.ffn.value.bias',
    'block.ffn.output.kernel', 'block.ffn.output.bias',
    'final.layer_norm.gamma', 'final.layer_norm.beta', 'head.bias',
]
IGNORE_INDEX = -100


def shapes(c):
    V, E, H, I = c['vocabSize'], c['embeddingSize'], c['hiddenSize'], c['intermediateSize']
    return {
        'embeddings.word': [V, E], 'embeddings.layer_norm.gamma': [E], 'embeddings.layer_norm.beta': [E],
        'embeddings.projection.kernel': [E, H], 'embeddings.projection.bias': [H],
        'block.attention.layer_norm.gamma': [H], 'block.attention.layer_norm.beta': [H],
        'block.attention.query.kernel': [H, H], 'block.attention.query.bias': [H],
        'block.attention.key.kernel': [H, H], 'block.attention.key.bias': [H],
        'block.attention.value.kernel': [H, H], 'block.attention.value.bias': [H],
        'block.attention.output.kernel': [H, H], 'block.attention.output.bias': [H],
        'block.ffn.layer_norm.gamma': [H], 'block.ffn.layer_norm.beta': [H],
        'block.ffn.gate.kernel': [H, I], 'block.ffn.gate.bias': [I],
        'block.ffn.value.kernel': [H, I], 'block.ffn.value.bias': [I],
        'block.ffn.output.kernel': [I, H], 'block.ffn.output.bias': [H],
        'final.layer_norm.gamma': [H], 'final.layer_norm.beta': [H], 'head.bias': [V],
    }


def small_init(c, generator):
    """SmallInit (Nguyen & Salazar 2019): N(0, sqrt(2/(5d))), d = E for the
    table, H for every other matrix; biases 0, LayerNorm gain 1, shift 0.
    Used only to run the reference on its own; the checks load the
    project's parameters instead (its seeded PRNG is not torch's)."""
    out = {}
    for name, shape in shapes(c).items():
        if name.endswith('gamma'):
            out[name] = torch.ones(shape)
        elif len(shape) == 1:
            out[name] = torch.zeros(shape)
        else:
            d = c['embeddingSize'] if name == 'embeddings.word' else c['hiddenSize']
            out[name] = torch.randn(shape, generator=generator) * math.sqrt(2 / (5 * d))
    return out


def rotary_tables(seq_len, dim, base):
    half = dim // 2
    j = np.arange(dim) % half
    inv = np.power(float(base), -2.0 * j / dim)
    ang = np.arange(seq_len)[:, None] * inv[None, :]
    return torch.from_numpy(np.cos(ang).astype(np.float32)), torch.from_numpy(np.sin(ang).astype(np.float32))


def layer_norm(x, g, b, eps):
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdim=True)
    return centred * torch.rsqrt(var + eps) * g + b


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class LeanAlbert(torch.nn.Module):
    def __init__(self, config, params):
        super().__init__()
        self.c = config
        self.names = list(PARAMETER_NAMES)
        want = shapes(config)
        for name in self.names:
            t = torch.as_tensor(params[name], dtype=torch.float32)
            if list(t.shape) != want[name]:
                raise ValueError(f'{name}: shape {list(t.shape)}, expected {want[name]}')
            self.register_parameter(name.replace('.', '__'), torch.nn.Parameter(t.clone()))
        dh = config['hiddenSize'] // config['numHeads']
        cos, sin = rotary_tables(config['maxSeqLength'], dh, config['rotaryBase'])
        self.register_buffer('cos', cos)
        self.register_buffer('sin', sin)

    def p(self, name):
        return getattr(self, name.replace('.', '__'))

    def ordered(self):
        return [self.p(n) for n in self.names]

    def block(self, x, B, T, mask_bias, cos, sin):
        c, p = self.c, self.p
        nh = c['numHeads']
        dh = c['hiddenSize'] // nh
        eps = c['layerNormEps']

        def heads(t):
            return t.reshape(B, T, nh, dh).permute(0, 2, 1, 3)

        h = layer_norm(x, p('block.attention.layer_norm.gamma'), p('block.attention.layer_norm.beta'), eps)
        q = heads(h @ p('block.attention.query.kernel') + p('block.attention.query.bias'))
        k = heads(h @ p('block.attention.key.kernel') + p('block.attention.key.bias'))
        v = heads(h @ p('block.attention.value.kernel') + p('block.attention.value.bias'))
        q = (q * cos + rotate_half(q) * sin) / math.sqrt(dh)
        k = k * cos + rotate_half(k) * sin
        probs = torch.softmax(q @ k.transpose(-1, -2) + mask_bias, dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B * T, c['hiddenSize'])
        x1 = x + ctx @ p('block.attention.output.kernel') + p('block.attention.output.bias')
        h2 = layer_norm(x1, p('block.ffn.layer_norm.gamma'), p('block.ffn.layer_norm.beta'), eps)
        gate = F.gelu(h2 @ p('block.ffn.gate.kernel') + p('block.ffn.gate.bias'), approximate='tanh')
        value = h2 @ p('block.ffn.value.kernel') + p('block.ffn.value.bias')
        return x1 + (gate * value) @ p('block.ffn.output.kernel') + p('block.ffn.output.bias')

    def encode(self, ids, mask):
        c, p = self.c, self.p
        B, T = ids.shape
        eps = c['layerNormEps']
        emb = p('embeddings.word')[ids.reshape(-1).long()]
        x = layer_norm(emb, p('embeddings.layer_norm.gamma'), p('embeddings.layer_norm.beta'), eps)
        x = x @ p('embeddings.projection.kernel') + p('embeddings.projection.bias')
        mask_bias = ((1 - mask.float()) * -1e9).reshape(B, 1, 1, T)
        cos, sin = self.cos[:T], self.sin[:T]
        for _ in range(c['numLayers']):
            x = self.block(x, B, T, mask_bias, cos, sin)
        return layer_norm(x, p('final.layer_norm.gamma'), p('final.layer_norm.beta'), eps)

    def loss(self, ids, mask, labels):
        """Mean cross-entropy over the positions whose label is not IGNORE_INDEX."""
        hidden = self.encode(ids, mask)
        flat = labels.reshape(-1).long()
        picked = (flat != IGNORE_INDEX).nonzero().squeeze(1)
        h = hidden[picked]
        logits = (h @ self.p('embeddings.projection.kernel').t()) @ self.p('embeddings.word').t() + self.p('head.bias')
        return F.cross_entropy(logits, flat[picked])


# ------------------------------------------------------------------ optimizer


def decays(name):
    """No weight decay on biases and LayerNorm gains and shifts."""
    return not (re.search(r'(^|\.)bias$', name) or re.search(r'layer_?norm', name, re.I) or re.search(r'(^|\.)(gamma|beta)$', name))


def learning_rate_at(epoch, o):
    """Linear warm-up over warmupEpochs (step k has lr*k/warmup), then linear or cosine decay to 0 at totalEpochs."""
    lr = o['learningRate']
    warmup = o.get('warmupEpochs', 0)
    if epoch < warmup:
        return lr * (epoch + 1) / warmup
    total = o.get('totalEpochs')
    if total is None:
        return lr
    if epoch >= total:
        return 0.0
    progress = (epoch - warmup) / max(1, total - warmup)
    if o.get('decay', 'linear') == 'cosine':
        return lr * 0.5 * (1 + math.cos(math.pi * progress))
    return lr * (1 - progress)


class Lamb:
    """LAMB (You et al. 2019): the bias-corrected Adam direction plus decoupled
    weight decay, scaled per parameter tensor by ||theta|| / ||direction||
    with ||theta|| clamped to [0, 10]; a ratio of 1 when either norm is 0."""

    MAX_WEIGHT_NORM = 10.0

    def __init__(self, named, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0):
        self.named = named
        self.b1, self.b2, self.eps, self.wd = beta1, beta2, eps, weight_decay
        self.m = {n: torch.zeros_like(p) for n, p in named}
        self.v = {n: torch.zeros_like(p) for n, p in named}
        self.step_count = 0

    @torch.no_grad()
    def step(self, grads, lr):
        t = self.step_count + 1
        c1 = 1 - self.b1 ** t
        c2 = 1 - self.b2 ** t
        for n, p in self.named:
            g = grads[n]
            m = self.m[n].mul_(self.b1).add_(g, alpha=1 - self.b1)
            v = self.v[n].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            direction = (m / c1) / (torch.sqrt(v / c2) + self.eps)
            if decays(n):
                direction = direction + self.wd * p
            w = min(p.double().norm().item(), self.MAX_WEIGHT_NORM)
            u = direction.double().norm().item()
            trust = w / u if w > 0 and u > 0 else 1.0
            p.sub_(direction, alpha=lr * trust)
        self.step_count = t


def clip_by_global_norm(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_'s rule: scale by max_norm / (norm + 1e-6) when norm > max_norm."""
    total = math.sqrt(sum(g.double().pow(2).sum().item() for g in grads.values()))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g.mul_(scale)
    return total
