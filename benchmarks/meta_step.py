"""The Local VAE's meta-step (Algorithm 1, lines 2-8): vmap over the minibatch's neighbourhoods against the
reference Python loop over them, and for MLPs the rank-K form that never materialises the adapted weights
(`LocalVAE(lowrank=True)`, helpers.local.lowrank), at notebook 06's sizes, on the CPU and (when there is one) the GPU.

    python -m benchmarks.meta_step                 # writes results/benchmarks/meta_step_<device>.md
    python -m benchmarks.meta_step --repeats 20

One meta-step = the inner steps of every neighbourhood, the outer loss at the adapted parameters and its
backward pass, second order (and first order in a second row). All paths draw the same noise, so their
losses and meta-gradients must agree to 1e-5 (checked and printed) before any time is reported.
Source of the method: "Localized Generations with Deep Neural Networks for Multi-Scale Structured
Datasets", anonymous ICLR 2020 submission, https://openreview.net/group?id=ICLR.cc/2020/Conference.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from helpers.local import LocalVAE, noise_neighbourhoods
from helpers.local.lowrank import supports
from helpers.nets import conv_decoder_64, conv_encoder_64, mlp_decoder, mlp_encoder

ROOT = Path(__file__).resolve().parent.parent

# name: (image shape, nets, tasks per minibatch B, neighbours K)
SETTINGS = {
    "quick (16x16x3 MLP 64, latent 6, B=8, K=4)": ((3, 16, 16), "mlp64", 8, 4),
    "earlier quick (16x16x3 MLP 128, latent 10, B=8, K=4)": ((3, 16, 16), "mlp", 8, 4),
    "MLP 256-256 at the paper's B=25, K=10 (16x16x3)": ((3, 16, 16), "mlp256", 25, 10),
    "paper (64x64x3 Table 3 convs, B=25, K=10)": ((3, 64, 64), "conv", 25, 10),
}


def build(shape, nets, latent_dim=10):
    if nets == "conv":
        return LocalVAE(conv_encoder_64(shape[0], 2 * latent_dim), conv_decoder_64(latent_dim, shape[0]), latent_dim)
    hidden, latent_dim = {"mlp64": ((64,), 6), "mlp": ((128,), latent_dim), "mlp256": ((256, 256), latent_dim)}[nets]
    return LocalVAE(mlp_encoder(shape, 2 * latent_dim, hidden), mlp_decoder(latent_dim, shape, hidden), latent_dim)


def meta_step(model, x, neighbours, eps, eps_nb):
    model.zero_grad(set_to_none=True)
    loss = model.loss(x, neighbours, eps, eps_nb)["loss"]
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


def timed(model, batch, repeats, device):
    meta_step(model, *batch)                          # warm-up (allocations, kernel selection)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        meta_step(model, *batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def run(device: torch.device, repeats: int, settings: dict, alpha: float = 1e-2) -> list[dict]:
    rows = []
    for name, (shape, nets, n_tasks, k) in settings.items():
        if nets == "conv" and device.type == "cpu" and repeats > 3:
            repeats = 3                               # the paper's sizes are slow on a CPU: a few repeats suffice
        torch.manual_seed(0)
        model = build(shape, nets).to(device)
        model.alpha = alpha
        g = torch.Generator(device=device).manual_seed(1)
        x = torch.rand(n_tasks, *shape, device=device, generator=g)
        neighbours = noise_neighbourhoods(x, k, 0.05, generator=g)
        eps, eps_nb = model.draw_noise(x, neighbours, g)
        batch = (x, neighbours, eps, eps_nb)
        for first_order in (False, True):
            model.first_order = first_order
            model.vectorised, model.lowrank = True, False
            loss_v, grads_v = meta_step(model, *batch)
            grads_v = [g.clone() for g in grads_v]

            def difference_to_vmap(loss, grads):
                return max([float((loss_v - loss).abs() / loss.abs())] +
                           [float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) for a, b in zip(grads_v, grads)])

            model.vectorised = False
            difference = difference_to_vmap(*meta_step(model, *batch))
            seconds_loop = timed(model, batch, repeats, device)
            model.vectorised = True
            seconds_vmap = timed(model, batch, repeats, device)
            row = {"setting": name, "order": "first" if first_order else "second", "loop_ms": 1e3 * seconds_loop,
                   "vmap_ms": 1e3 * seconds_vmap, "speedup": seconds_loop / seconds_vmap,
                   "max_rel_difference": difference, "lowrank_ms": None, "lowrank_speedup": None,
                   "lowrank_difference": None}
            if supports(model):
                model.lowrank = True
                row["lowrank_difference"] = difference_to_vmap(*meta_step(model, *batch))
                seconds_lowrank = timed(model, batch, repeats, device)
                row.update(lowrank_ms=1e3 * seconds_lowrank, lowrank_speedup=seconds_loop / seconds_lowrank)
                model.lowrank = False
            rows.append(row)
            print(rows[-1], flush=True)
    return rows


def float64_difference(device: torch.device, n_tasks: int = 6, k: int = 4) -> float:
    """The same comparison in float64 with the Table 3 convs (a smaller batch): the float32 gaps are round-off."""
    torch.manual_seed(0)
    model = build((3, 64, 64), "conv").to(device=device, dtype=torch.float64)
    model.alpha = 1e-2
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.rand(n_tasks, 3, 64, 64, device=device, generator=g, dtype=torch.float64)
    neighbours = noise_neighbourhoods(x, k, 0.05, generator=g)
    batch = (x, neighbours, *model.draw_noise(x, neighbours, g))
    model.vectorised = True
    loss_v, grads_v = meta_step(model, *batch)
    grads_v = [g.clone() for g in grads_v]
    model.vectorised = False
    loss_l, grads_l = meta_step(model, *batch)
    return max([float((loss_v - loss_l).abs() / loss_l.abs())] +
               [float((a - b).abs().max() / b.abs().max()) for a, b in zip(grads_v, grads_l)])


def write(rows: list[dict], device: torch.device, threads: int, out: Path, float64_gap: float | None = None) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'CPU'}, {threads} thread(s)"
    lines = [f"# Local VAE meta-step: vmap over neighbourhoods vs the loop ({device.type})", "",
             f"Device: {name}; torch {torch.__version__}; `python -m benchmarks.meta_step`. Times per meta-step "
             "(inner steps + outer loss + backward), mean of repeated steps after a warm-up. The largest relative "
             "difference of loop and rank-K form to the vmap path (loss and every meta-gradient) is beside each row; "
             "the rank-K form (`lowrank=True`) exists for MLPs only.", "",
             "| setting | order | loop (ms) | vmap (ms) | vmap speed-up | rank-K (ms) | rank-K speed-up | "
             "max rel. difference loop / rank-K |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    dash = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    lines += [f"| {r['setting']} | {r['order']} | {r['loop_ms']:.1f} | {r['vmap_ms']:.1f} | {r['speedup']:.2f}x | "
              f"{dash(r['lowrank_ms'], '.1f')} | {dash(r['lowrank_speedup'], '.2f')}{'' if r['lowrank_speedup'] is None else 'x'} | "
              f"{r['max_rel_difference']:.1e} / {dash(r['lowrank_difference'], '.1e')} |" for r in rows]
    if float64_gap is not None:
        lines += ["", f"The differences are float32 round-off: in float64 (Table 3 convs, B = 6, K = 4, second order) the "
                      f"two paths agree to {float64_gap:.1e}."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the notebook's quick runs use 1)")
    parser.add_argument("--skip-paper", action="store_true", help="only the quick sizes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {k: v for k, v in SETTINGS.items() if not (args.skip_paper and v[1] == "conv")}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        rows = run(device, args.repeats, settings)
        gap = None if args.skip_paper else float64_difference(device)
        write(rows, device, args.threads, ROOT / "results" / "benchmarks" / f"meta_step_{device.type}.md", gap)


if __name__ == "__main__":
    main()
