"""PyTorch CPU side of the phase-space flow comparison (optional).

Run `cargo bench --bench peers -- flows` first: it writes 10,000 seeded stars
(`stars.csv`: x, y, z, vx, vy, vz; the population of benches/flows.rs) and
darkprobe's times to target/peers/flows/. This script builds the same model
in PyTorch, float64 as darkprobe, with `torch.set_num_threads(1 or 2)`:

- a 3-D masked autoregressive flow for the positions and a 3-D one for the
  velocities conditioned on the (whitened) positions; each has 6 MADE blocks
  with hidden widths [64, 64], ELU, sequential hidden degrees, the context
  connected to every unit (degree 0), orderings alternating natural /
  reversed, outputs (m, r) with log-scale alpha = 6 tanh(r / 6) and
  z = (h - m) exp(-alpha) after a fixed whitening;
- one training step = negative log-likelihood of a batch of 1024 stars for
  both flows, backward, and one Adam (lr 1e-3) step of each flow;
- one evaluation = ln f(x, v) = ln n(x) + ln p(v | x) with its exact gradients
  in x and v (autograd) at all 10,000 stars.
"""
import os
import statistics
import time

import numpy as np
import torch

from _common import darkprobe_report, load, median_time, row_dir, summary

torch.set_default_dtype(torch.float64)
BLOCKS, HIDDEN, CLAMP, BATCH = 6, [64, 64], 6.0, 1024


class MaskedLinear(torch.nn.Linear):
    def __init__(self, n_in, n_out, mask):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float64))

    def forward(self, x):
        return torch.nn.functional.linear(x, self.weight * self.mask, self.bias)


class Made(torch.nn.Module):
    def __init__(self, order, n_ctx):
        super().__init__()
        d = len(order)
        prev = list(order) + [0] * n_ctx
        layers = []
        for w in HIDDEN:
            deg = [k % (d - 1) + 1 for k in range(w)]
            mask = np.array([[1.0 if o >= i else 0.0 for i in prev] for o in deg])
            layers += [MaskedLinear(len(prev), w, mask), torch.nn.ELU()]
            prev = deg
        out = list(order) * 2
        mask = np.array([[1.0 if o > i else 0.0 for i in prev] for o in out])
        last = MaskedLinear(len(prev), 2 * d, mask)
        with torch.no_grad():
            last.weight.mul_(0.01)
            last.bias.mul_(0.01)
        layers.append(last)
        self.net = torch.nn.Sequential(*layers)
        self.d = d

    def forward(self, h, c):
        out = self.net(torch.cat([h, c], dim=1) if c is not None else h)
        m, r = out[:, :self.d], out[:, self.d:]
        alpha = CLAMP * torch.tanh(r / CLAMP)
        return (h - m) * torch.exp(-alpha), -alpha.sum(dim=1)


class Maf(torch.nn.Module):
    def __init__(self, d, n_ctx, mean, std):
        super().__init__()
        nat = list(range(1, d + 1))
        self.blocks = torch.nn.ModuleList(
            [Made(nat if k % 2 == 0 else nat[::-1], n_ctx) for k in range(BLOCKS)])
        self.mean, self.std = mean, std

    def ln_prob(self, x, c=None):
        h = (x - self.mean) / self.std
        logdet = -torch.log(self.std).sum().expand(x.shape[0])
        for b in self.blocks:
            h, ld = b(h, c)
            logdet = logdet + ld
        return -0.5 * (h ** 2).sum(dim=1) - 0.5 * h.shape[1] * np.log(2 * np.pi) + logdet


def main():
    d = row_dir("flows")
    rep = darkprobe_report("flows")
    stars = torch.from_numpy(load(os.path.join(d, "stars.csv")))
    x, v = stars[:, :3].contiguous(), stars[:, 3:].contiguous()
    reps = int(os.environ.get("PEERS_REPS", "5"))
    print(f"torch {torch.__version__}, float64")
    for threads in [1, 2]:
        torch.set_num_threads(threads)
        torch.manual_seed(1)
        xm, xs = x[:2048].mean(0), x[:2048].std(0)
        pos = Maf(3, 0, xm, xs)
        vel = Maf(3, 3, v[:2048].mean(0), v[:2048].std(0))
        opt_p = torch.optim.Adam(pos.parameters(), lr=1e-3)
        opt_v = torch.optim.Adam(vel.parameters(), lr=1e-3)
        xb, vb = x[:BATCH], v[:BATCH]
        cb = (xb - xm) / xs

        def step():
            opt_p.zero_grad(set_to_none=False)
            opt_v.zero_grad(set_to_none=False)
            loss_p = -pos.ln_prob(xb).mean()
            loss_v = -vel.ln_prob(vb, cb).mean()
            (loss_p + loss_v).backward()
            opt_p.step()
            opt_v.step()

        for _ in range(5):
            step()
        blocks = []
        for _ in range(max(5, reps)):
            t0 = time.perf_counter()
            for _ in range(20):
                step()
            blocks.append((time.perf_counter() - t0) / 20)
        t = statistics.median(blocks)
        t_dp = float(rep[f"threads{threads}_step_time_s"])
        summary(f"PyTorch CPU {torch.__version__}, {threads} thread(s)",
                f"flow training step, 2 MAFs x 6 MADE [64,64] ELU, f64, batch 1024, Adam "
                f"({BATCH / t:,.0f} vs {BATCH / t_dp:,.0f} samples/s)", t, t_dp,
                "same architecture (speed only)")

        def evaluate():
            xr = x.clone().requires_grad_(True)
            vr = v.clone().requires_grad_(True)
            lnf = pos.ln_prob(xr) + vel.ln_prob(vr, (xr - xm) / xs)
            gx, gv = torch.autograd.grad(lnf.sum(), [xr, vr])
            return lnf.detach(), gx, gv

        t, _ = median_time(evaluate, reps)
        summary(f"PyTorch CPU autograd, {threads} thread(s)",
                "ln f with exact x and v gradients at 10,000 stars (2 MAFs x 6 MADE)", t,
                float(rep[f"threads{threads}_ln_f_grad_10000_time_s"]),
                "same architecture (speed only)")


if __name__ == "__main__":
    main()
