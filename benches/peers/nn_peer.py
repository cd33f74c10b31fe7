"""PyTorch CPU peer of `cargo bench --bench nn` (optional, not run by CI).

Times full training steps (zero_grad, forward, MSE, backward, Adam update) of
the MLP 49 -> 128 -> 64 -> 64 -> 1 with ReLU, batch 8192, float32, on 1 and 2
threads, and prints the median samples per second over repeated blocks of
steps. Install with `pip install torch` (CPU is enough) and run:

    python3 benches/peers/nn_peer.py [--steps 20] [--repeats 9]
"""

import argparse
import statistics
import time

import torch

SIZES = [49, 128, 64, 64, 1]
BATCH = 8192


def make_model():
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i + 2 < len(SIZES):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=9, help="timed blocks per thread count")
    args = parser.parse_args()

    torch.manual_seed(1)
    x = torch.rand(BATCH, SIZES[0]) * 2 - 1
    y = torch.sin(x[:, :5].sum(dim=1, keepdim=True))
    loss_fn = torch.nn.MSELoss()
    print(f"torch {torch.__version__}, MLP {SIZES}, batch {BATCH}, float32, Adam")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = make_model()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

        for _ in range(5):
            step()
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            dt = time.perf_counter() - t0
            rates.append(args.steps * BATCH / dt)
        med = statistics.median(rates)
        print(
            f"{threads} thread(s): median {med:,.0f} samples/s "
            f"({1e3 * BATCH / med:.2f} ms/step; min {min(rates):,.0f}, max {max(rates):,.0f})"
        )


if __name__ == "__main__":
    main()
