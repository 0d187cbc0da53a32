"""Training in bfloat16 (issue 20): the network's layers under bfloat16 autocast, against float32, at the true poses.

This CPU has native bfloat16 matrix products (AVX512-BF16; `models.fast_bf16`), 2.5x float32's rate on a 8192x256 by
256x256 product, so the training epochs (63% of the README demo) could run about twice as fast. This script trains the
default `HartleyMLP` at the true poses of the README demo's data (D=64, SNR 0.1, CTF; the first `--n` images) for
`--epochs` epochs at the full band, in float32, in bfloat16, and in bfloat16 with the output layer in float32, one
thread each, and prints the loss, the FSC=0.5 resolution to the true map and the seconds of each epoch.

    python benchmarks/bf16_training.py [--n 800] [--epochs 3] [--variants fp32 bf16 bf16_last_fp32]
"""
import argparse, subprocess, sys, time
from functools import partial
from pathlib import Path
import numpy as np
import torch
from torch import nn
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cryodrgn2.io import read_mrc
from cryodrgn2.jobs import load_data
from cryodrgn2.metrics import compare_maps
from cryodrgn2.models import HartleyMLP, to_volume
from cryodrgn2.tables import read_poses
from cryodrgn2.train import Learner


class Float32Linear(nn.Linear):
    "A linear layer that stays in float32 under autocast."
    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False): return super().forward(x.float())


def make_model(D, last_fp32):
    model = HartleyMLP(D)
    if last_fp32:
        last = model.net[-1]
        model.net[-1] = Float32Linear(last.in_features, last.out_features)
        model.net[-1].load_state_dict(last.state_dict())
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=800)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--variants', nargs='*', default=['fp32', 'bf16', 'bf16_last_fp32'])
    p.add_argument('--workdir', default='/tmp/cryodrgn2_bench_abinit')  # benchmarks/abinit_homo.py's data, made if missing
    a = p.parse_args()
    torch.set_num_threads(1)
    data_dir = Path(a.workdir) / 'data'
    if not (data_dir / 'particles.mrcs').exists():
        subprocess.run(['cryodrgn2', 'simulate', '-o', str(data_dir), '-n', '2500', '-D', '64', '--snr', '0.1', '--pixel-size', '3.0',
                        '--seed', '0'], check=True)
    data = load_data(str(data_dir / 'particles.mrcs'), str(data_dir / 'ctf.pkl'), ind=np.arange(a.n))
    rots, shifts = read_poses(data_dir / 'poses.pkl', data.D)
    truth = torch.as_tensor(np.asarray(read_mrc(data_dir / 'volume.mrc')[0]), dtype=torch.float32)
    for variant in a.variants:
        learn = Learner(partial(make_model, data.D, variant == 'bf16_last_fp32'), data, rots=rots[:a.n], shift_px=shifts[:a.n], seed=0, device='cpu')
        for epoch in range(a.epochs):
            start = time.perf_counter()
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=variant != 'fp32'): learn.fit(epoch + 1)
            seconds = time.perf_counter() - start
            fsc = compare_maps(to_volume(learn.model, data.D), truth, 3.0)['resolution_0.5']
            print(f"{variant:15s} epoch {epoch}: loss {learn.history[-1]['loss']:.4g}, FSC=0.5 {fsc:.2f} A, {seconds:.1f} s", flush=True)


if __name__ == '__main__': main()
