"""PyTorch CPU side of the patch-network training comparison (optional).

Run `cargo bench --bench peers -- net` first: it writes the 65,536 seeded
7x7 patches (`x.csv`, 49 columns), targets and weighted-MAE weights
(`yw.csv`) to target/peers/net/ and darkprobe's epoch times on 1 and 2 threads.
This script trains the same architecture on the same data, float32,
`torch.set_num_threads(1 or 2)`:

  Linear(49,128) PReLU BatchNorm1d(128) Dropout(0.1)
  Linear(128,64) PReLU BatchNorm1d(64)  Dropout(0.1)
  Linear(64,64)  PReLU BatchNorm1d(64)  Dropout(0.1)  Linear(64,1)

with the weighted L1 loss normalised by the weight sum of each batch, batch
8192 (8 steps per epoch, shuffled), and LAMB (lr 1e-3, betas (0.9, 0.999),
eps 1e-6, weight decay 0.01 on every tensor, bias correction, trust ratio
||w|| / ||r|| per tensor, 1 when either norm is 0) written below, since LAMB
is not in torch core. One untimed warm-up epoch precedes the timed ones;
each timed epoch starts from a fresh network as on the darkprobe side.
"""
import os

import numpy as np
import torch

from _common import darkprobe_report, load, median_time, row_dir, summary

BATCH = 8192


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al. 2020, arXiv:1904.00962) as darkprobe-nn's `Lamb`."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                st["t"] += 1
                t, m, v = st["t"], st["m"], st["v"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                mhat = m / (1 - b1 ** t)
                vhat = v / (1 - b2 ** t)
                r = mhat / (vhat.sqrt() + group["eps"]) + group["weight_decay"] * p
                wn, rn = p.norm().item(), r.norm().item()
                ratio = wn / rn if wn > 0 and rn > 0 else 1.0
                p.add_(r, alpha=-group["lr"] * ratio)


def make_net():
    layers, width = [], 49
    for h in [128, 64, 64]:
        layers += [torch.nn.Linear(width, h), torch.nn.PReLU(init=0.25),
                   torch.nn.BatchNorm1d(h), torch.nn.Dropout(0.1)]
        width = h
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


def main():
    d = row_dir("net")
    rep = darkprobe_report("net")
    x = torch.from_numpy(load(os.path.join(d, "x.csv")).astype(np.float32))
    yw = load(os.path.join(d, "yw.csv")).astype(np.float32)
    y = torch.from_numpy(yw[:, :1].copy())
    w = torch.from_numpy(yw[:, 1:2].copy())
    n = x.shape[0]
    reps = int(os.environ.get("PEERS_REPS", "5"))
    print(f"torch {torch.__version__}, {n} samples, batch {BATCH}")
    for threads in [1, 2]:
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(0)

        def epoch():
            torch.manual_seed(1)
            net = make_net()
            net.train()
            opt = Lamb(net.parameters())
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for s in range(0, n, BATCH):
                idx = perm[s:s + BATCH]
                xb, yb, wb = x[idx], y[idx], w[idx]
                opt.zero_grad(set_to_none=False)
                loss = (wb * (net(xb) - yb).abs()).sum() / wb.sum()
                loss.backward()
                opt.step()
                total += loss.item()
            return total / ((n + BATCH - 1) // BATCH)

        epoch()  # warm-up
        t, loss = median_time(epoch, reps)
        t_dp = float(rep[f"threads{threads}_epoch_time_s"])
        summary(f"PyTorch CPU {torch.__version__}, {threads} thread(s)",
                f"patch net epoch, 65,536 samples, batch 8192, LAMB, f32 "
                f"({n / t:,.0f} vs {n / t_dp:,.0f} samples/s)",
                t, t_dp,
                f"epoch loss peer {loss:.4f} vs darkprobe "
                f"{float(rep[f'threads{threads}_epoch_loss']):.4f} (different init)")


if __name__ == "__main__":
    main()
