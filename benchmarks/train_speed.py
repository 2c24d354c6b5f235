"""Steps per second of `helpers.train.train` against a bare PyTorch loop on the same model.

    python benchmarks/train_speed.py                   # CPU, and the GPU when there is one
    python benchmarks/train_speed.py --steps 2000 --out results/benchmarks

The bare loop is the fastest honest loop: data on the device, a shuffled order per epoch, no
bookkeeping, the losses kept on the device and read once at the end. `train()` adds its history,
NaN guard, sampler state and (unused here) checkpoint logic; the goal is >= 0.9x the bare loop.
Both loops start from the same weights and see the same batches, so they also end at the same loss.
"""
from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import torch

from helpers.train import BatchSampler, train
from helpers.vae import VAE

MODELS = {  # name: (data shape, latent dim, batch size): an MNIST MLP VAE and a 28x28 conv VAE
    "mlp-784": ((1, 28, 28), 50, 100),
    "conv-28": ((1, 28, 28), 32, 100),
}


def make_model(name: str, device: torch.device) -> tuple[VAE, torch.Tensor, int]:
    shape, latent_dim, batch = MODELS[name]
    torch.manual_seed(0)
    if name.startswith("mlp"):
        model = VAE.for_data((784,), latent_dim, hidden=(200, 200))
        data = torch.rand(10_000, 784).bernoulli()
    else:
        model = VAE.for_data(shape, latent_dim)   # 28x28 images get the course's conv nets
        data = torch.rand(10_000, *shape).bernoulli()
    return model.to(device), data, batch


def bare_loop(model, data, steps, batch, device) -> float:
    data = data.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler, losses = BatchSampler(len(data), batch, seed=0), []
    for _ in range(steps):
        indices = sampler.next_indices().to(device, non_blocking=True)
        loss = model.loss(data[indices])["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return float(torch.stack(losses)[-50:].mean())


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(name: str, device: torch.device, steps: int, repeats: int) -> dict:
    model, data, batch = make_model(name, device)
    warm = copy.deepcopy(model)
    bare_loop(warm, data, 20, batch, device)                      # warm-up: kernels, allocator, cuDNN choice
    train(copy.deepcopy(model), data, steps=20, batch_size=batch, progress=False)
    bare_s, train_s = [], []
    for _ in range(repeats):                                       # interleaved, best of `repeats`
        bare_s.append(timed(lambda: bare_loop(copy.deepcopy(model), data, steps, batch, device), device))
        train_s.append(timed(lambda: train(copy.deepcopy(model), data, steps=steps, batch_size=batch,
                                           progress=False), device))
    bare, ours = steps / min(bare_s), steps / min(train_s)
    return {"model": name, "device": str(device), "steps": steps, "bare_steps_per_s": bare,
            "train_steps_per_s": ours, "ratio": ours / bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the quick profile uses 1)")
    parser.add_argument("--out", default=None, help="folder for a Markdown table of the results")
    parser.add_argument("--device", default=None, help="only this device (cpu or cuda); default both")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if args.device:
        devices = [torch.device(args.device)]
    rows = [measure(name, device, args.steps, args.repeats) for device in devices for name in MODELS]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    lines = [f"train() vs a bare PyTorch loop: {args.steps} steps, best of {args.repeats}, CPU threads "
             f"{args.threads}, torch {torch.__version__}, GPU: {gpu}, CPU: {platform.processor() or platform.machine()}",
             "", "| model | device | bare loop (steps/s) | train() (steps/s) | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['device']} | {r['bare_steps_per_s']:.0f} | {r['train_steps_per_s']:.0f} | "
              f"{r['ratio']:.2f} |" for r in rows]
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        tag = "gpu" if torch.cuda.is_available() else "cpu"
        (out / f"train_speed_{tag}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
