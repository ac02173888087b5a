"""PyTorch reference for clknn's benchmark (bench/cases.ts).

Runs the same cases as the tfjs side: a CIFAR-stem ResNet-18 of the same
width trained with Adam on mean(features ** 2), a stage-1 step (two views,
instance and cluster heads, double contrastive loss), and exact cosine top-k
neighbour mining. Reads the plan as JSON from argv[1], prints one JSON object.

The stage-1 case gets its two views by flipping and shifting the batch on the
tensor side: torchvision's augmentations are not installed, and the heavy part
of the step is the two backbone passes, not the augmentation.
"""

import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def blas_libraries():
    """The BLAS/LAPACK files this process has mapped (after a matmul)."""
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    try:
        import numpy

        numpy.ones((64, 64)) @ numpy.ones((64, 64))
    except ImportError:
        pass
    seen = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if ("blas" in path or "lapack" in path) and path not in seen:
                seen.append(path)
    return seen


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """CIFAR stem (3x3 stride-1 conv, no max-pool), blocks 2-2-2-2."""

    def __init__(self, width, channels_in):
        super().__init__()
        c = [int(64 * width), int(128 * width), int(256 * width), int(512 * width)]
        self.stem = nn.Sequential(
            nn.Conv2d(channels_in, c[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU(),
        )
        layers, cin = [], c[0]
        for stage, cout in enumerate(c):
            for b in range(2):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.dim = c[3]

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)


def mlp(cin, hidden, cout):
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, cout))


def nt_xent(a, b, temperature):
    """NT-Xent over 2N rows (SimCLR / CC); rows already L2-normalised."""
    n = a.shape[0]
    z = torch.cat([a, b], 0)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def double_contrastive(z1, z2, c1, c2):
    instance = nt_xent(z1, z2, 0.5)
    cluster = nt_xent(F.normalize(c1.t(), dim=1), F.normalize(c2.t(), dim=1), 1.0)
    entropy = 0.0
    for c in (c1, c2):
        p = c.sum(0)
        p = p / p.sum()
        entropy = entropy + (torch.log(torch.tensor(float(p.numel()))) + (p * torch.log(p)).sum())
    return instance + cluster + entropy


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(step, warmup, repeats):
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    return seconds


def train_case(case):
    h, w, c = case["input"]
    model = ResNet18(case["width"], c)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(case["batch"], c, h, w)

    def step():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        loss.item()

    return timed(step, case["warmup"], case["repeats"])


def stage1_case(case):
    h, w, c = case["input"]
    model = ResNet18(case["width"], c)
    inst, clus = mlp(model.dim, 512, 128), mlp(model.dim, 512, case["clusters"])
    params = list(model.parameters()) + list(inst.parameters()) + list(clus.parameters())
    opt = torch.optim.Adam(params, lr=3e-4)
    x = torch.rand(case["batch"], c, h, w)

    def step():
        v1 = torch.flip(x, dims=[3])
        v2 = torch.roll(x, shifts=(2, 2), dims=(2, 3))
        opt.zero_grad()
        h1, h2 = model(v1), model(v2)
        z1, z2 = F.normalize(inst(h1), dim=1), F.normalize(inst(h2), dim=1)
        c1, c2 = F.softmax(clus(h1), dim=1), F.softmax(clus(h2), dim=1)
        loss = double_contrastive(z1, z2, c1, c2)
        loss.backward()
        opt.step()
        loss.item()

    return timed(step, case["warmup"], case["repeats"])


def mine_case(case):
    n, dim, k = case["n"], case["dim"], case["k"]
    feats = F.normalize(torch.randn(n, dim), dim=1)

    def step():
        with torch.no_grad():
            for start in range(0, n, 1000):
                sims = feats[start : start + 1000] @ feats.t()
                rows = torch.arange(sims.shape[0])
                sims[rows, rows + start] = float("-inf")
                torch.topk(sims, k, dim=1)

    return timed(step, case["warmup"], case["repeats"])


RUNNERS = {"train": train_case, "stage1": stage1_case, "mine": mine_case}


def main():
    plan = json.loads(sys.argv[1])
    torch.set_num_threads(plan["threads"])
    torch.manual_seed(0)
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_libraries(),
        "results": {},
    }
    for case in plan["cases"]:
        try:
            seconds = RUNNERS[case["kind"]](case)
            out["results"][case["id"]] = {"seconds": seconds, "peak_rss_mib": peak_rss_mib()}
        except Exception as err:  # one failing case must not hide the others
            out["results"][case["id"]] = {"error": str(err).splitlines()[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
