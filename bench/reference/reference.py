"""The PyTorch side of `npm run bench:reference` (bench/reference/main.ts runs
it with the venv's interpreter). Every command reads the project's
parameters and token batches as safetensors and writes its results to
--out; progress goes to stderr.

  check  loss and gradients of batch 0, then `steps` LAMB steps (batch i mod n)
  train  the loss curve: micro-batches accumulated into global steps, held-out loss every evalEvery steps
  speed  samples/s of forward + backward on one batch
  plot   curves JSON -> PNG (matplotlib)
"""
import argparse
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file, save_file

from leanalbert import PARAMETER_NAMES, Lamb, LeanAlbert, clip_by_global_norm, learning_rate_at


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_model(config, weights):
    return LeanAlbert(config, load_file(weights))


def batches(path):
    t = load_file(path)
    ids, mask, labels = t['input_ids'], t['attention_mask'], t['labels']
    n = t['batch_size'].item()
    return [(ids[i:i + n], mask[i:i + n], labels[i:i + n]) for i in range(0, ids.shape[0], n)]


def grads_of(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model.loss(*batch)
    loss.backward()
    return loss.item(), {n: (model.p(n).grad if model.p(n).grad is not None else torch.zeros_like(model.p(n))).detach().clone() for n in model.names}


def new_lamb(model, opt):
    return Lamb([(n, model.p(n)) for n in model.names], beta1=opt.get('beta1', 0.9), beta2=opt.get('beta2', 0.999),
                eps=opt.get('epsilon', 1e-6), weight_decay=opt.get('weightDecay', 0.0))


def global_step(model, lamb, opt, epoch, micro):
    """What a lone peer does in gradient mode: the sample-weighted mean of the
    micro-batches' gradients, clipped, one LAMB step at epoch's rate."""
    acc, samples, losses = None, 0, []
    for b in micro:
        loss, g = grads_of(model, b)
        n = b[0].shape[0]
        losses.append(loss)
        acc = {k: v * n for k, v in g.items()} if acc is None else {k: acc[k] + v * n for k, v in g.items()}
        samples += n
    mean = {k: v * (1 / samples) for k, v in acc.items()}
    if opt.get('clipGradNorm') is not None:
        clip_by_global_norm(mean, opt['clipGradNorm'])
    lamb.step(mean, learning_rate_at(epoch, opt))
    return sum(losses) / len(losses)


def cmd_check(a, cfg):
    model = load_model(cfg['model'], a.weights)
    bs = batches(a.batches)
    loss, g = grads_of(model, bs[0])
    out = {'loss': torch.tensor([loss])}
    out.update({f'grad.{n}': g[n] for n in PARAMETER_NAMES})
    lamb = new_lamb(model, cfg['optimizer'])
    for s in range(cfg['steps']):
        global_step(model, lamb, cfg['optimizer'], s, [bs[s % len(bs)]])
    out.update({f'param.{n}': model.p(n).detach().clone() for n in PARAMETER_NAMES})
    save_file({k: v.contiguous() for k, v in out.items()}, a.out)
    log(f'check: loss {loss:.6f}, {cfg["steps"]} LAMB steps')


@torch.no_grad()
def evaluate(model, held_out):
    return sum(model.loss(*b).item() for b in held_out) / len(held_out)


def cmd_train(a, cfg):
    model = load_model(cfg['model'], a.weights)
    train, held_out = batches(a.batches), batches(a.eval)
    per, epochs, every, opt = cfg['microPerEpoch'], cfg['epochs'], cfg['evalEvery'], cfg['optimizer']
    if len(train) < per * epochs:
        raise SystemExit(f'train: {len(train)} micro-batches, {per * epochs} needed')
    lamb = new_lamb(model, opt)
    curve = [{'epoch': 0, 'samples': 0, 'evalLoss': evaluate(model, held_out)}]
    samples, train_losses = 0, []
    t0 = time.time()
    for e in range(epochs):
        micro = train[e * per:(e + 1) * per]
        train_loss = global_step(model, lamb, opt, e, micro)
        train_losses.append(train_loss)
        samples += sum(b[0].shape[0] for b in micro)
        if (e + 1) % every == 0 or e + 1 == epochs:
            curve.append({'epoch': e + 1, 'samples': samples, 'trainLoss': train_loss, 'evalLoss': evaluate(model, held_out)})
            if (e + 1) % 10 == 0 or e + 1 == epochs:
                log(f'train: epoch {e + 1}/{epochs}, {samples} samples, held-out loss {curve[-1]["evalLoss"]:.4f} ({time.time() - t0:.0f} s)')
    with open(a.out, 'w') as f:
        json.dump({'curve': curve, 'trainLosses': train_losses}, f)


def cmd_speed(a, cfg):
    model = load_model(cfg['model'], a.weights)
    b = batches(a.batches)[0]
    grads_of(model, b)  # warm-up
    t0 = time.perf_counter()
    for _ in range(cfg['steps']):
        grads_of(model, b)
    s = (time.perf_counter() - t0) / cfg['steps']
    with open(a.out, 'w') as f:
        json.dump({'samplesPerSecond': b[0].shape[0] / s, 'msPerMicroBatch': s * 1000, 'threads': torch.get_num_threads()}, f)


def cmd_plot(a, cfg):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in cfg['curves'].items():
        ax.plot([p['samples'] for p in curve], [p['evalLoss'] for p in curve], marker='o', markersize=3, label=name)
    ax.set_xlabel('samples')
    ax.set_ylabel('held-out masked-LM loss')
    ax.set_title(cfg.get('title', 'held-out loss'))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('command', choices=['check', 'train', 'speed', 'plot'])
    ap.add_argument('--config', required=True, help='JSON file: model config and the command settings')
    ap.add_argument('--weights')
    ap.add_argument('--batches')
    ap.add_argument('--eval')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        cfg = json.load(f)
    torch.manual_seed(0)
    torch.set_num_threads(int(cfg.get('threads', os.cpu_count() or 1)))
    {'check': cmd_check, 'train': cmd_train, 'speed': cmd_speed, 'plot': cmd_plot}[a.command](a, cfg)


if __name__ == '__main__':
    main()
