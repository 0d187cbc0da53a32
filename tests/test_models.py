"""The Hartley MLP at realistic sizes: fitting a protein-like map from its slices, and timings at D=64.

Run with `python -m pytest tests/test_models.py -q -s` to see the numbers.
"""
import math
import time
import pytest
import torch
from cryodrgn2.geometry import freq_lattice, circular_mask, random_rotations
from cryodrgn2.fourier import ht3_center, iht3_center
from cryodrgn2.imaging import VoxelModel, slice_coords
from cryodrgn2.simulate import render_atoms
from cryodrgn2.models import HartleyMLP, eval_slices, to_volume
from cryodrgn2.pose import lattice_model
from cryodrgn2.metrics import fsc, fsc_resolution


def blob_map(D, n=10, seed=0):
    "A few Gaussian blobs within D/4 of the centre (a particle boxed at twice its size)."
    gen = torch.Generator().manual_seed(seed)
    return render_atoms((torch.rand(n, 3, generator=gen) - 0.5) * D / 2.5, D, sigma_px=D / 20)


def test_fit_default_model_d32():
    "The paper's 3 x 256 Gaussian-feature model, fitted to noiseless slices of a D=32 map, reproduces it."
    torch.manual_seed(0)
    D, steps = 32, 200
    vol = blob_map(D)
    ball = circular_mask(D, D / 2, ndim=3)
    truth = iht3_center(ht3_center(vol) * ball)
    model = HartleyMLP(D, out_scale=ht3_center(vol)[ball].std().item())
    voxels, gen = VoxelModel(vol), torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.time()
    for _ in range(steps):
        rots = random_rotations(8, gen)
        loss = ((eval_slices(model, rots, D, D / 2) - eval_slices(voxels, rots, D, D / 2)) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    seconds = time.time() - t0
    out = to_volume(model, D)
    corr = torch.corrcoef(torch.stack([out.flatten(), truth.flatten()]))[0, 1].item()
    freqs, curve = fsc(out, truth)
    shell_05 = fsc_resolution(freqs, curve)[1] * D
    print(f"\nD={D} fit, {steps} steps in {seconds:.1f} s: correlation {corr:.4f}, FSC=0.5 at {shell_05:.1f} of {D // 2} "
          f"Fourier px; FSC {curve.numpy().round(2)}")
    assert corr > 0.98
    assert (curve[:3 * D // 16] > 0.9).all()  # shells 0-5 (3/8 Nyquist)
    assert shell_05 > D / 4                   # FSC=0.5 beyond half Nyquist


def test_lattice_model_matches_on_lattice_d32():
    "Evaluating once on the lattice ball reproduces the network on lattice points inside it."
    D = 32
    model = HartleyMLP(D, hidden=64, generator=torch.Generator().manual_seed(0))
    frozen = lattice_model(model, D, D / 2 - 1)
    inside = freq_lattice(D, ndim=3)[circular_mask(D, D / 2 - 1, ndim=3)]
    with torch.no_grad(): direct = model(inside)
    assert torch.allclose(frozen(inside), direct, atol=1e-4 * direct.abs().max().item())


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.time(); fn(); times.append(time.time() - t0)
    return min(times)


@pytest.mark.parametrize("radius", [22.5, 32])
def test_timing_training_step_d64(radius):
    "One Adam step of the default 3 x 256 model on 8 images at D=64 inside a band limit (issue 4 budget: ~75 images/s at 1,600 coords)."
    torch.manual_seed(0)
    D, B = 64, 8
    model = HartleyMLP(D)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    rots = random_rotations(B, torch.Generator().manual_seed(0))
    P = int(circular_mask(D, radius).sum())
    target = torch.randn(B, P)
    def step():
        loss = ((eval_slices(model, rots, D, radius) - target) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    step()  # warm-up
    seconds = _best_of(step)
    print(f"\ntraining step D={D}, B={B}, radius {radius} ({P} coords/image, {torch.get_num_threads()} threads): "
          f"{seconds * 1000:.0f} ms = {B / seconds:.0f} images/s")
    assert seconds < 10


def test_timing_ball_d64():
    "Evaluating the default model on the whole D=64 ball (to_volume; issue 4: about 0.6 s)."
    torch.manual_seed(0)
    D = 64
    model = HartleyMLP(D)
    n = int(circular_mask(D, D / 2, ndim=3).sum())
    to_volume(model, D)  # warm-up
    seconds = _best_of(lambda: to_volume(model, D), repeats=2)
    lattice_seconds = _best_of(lambda: lattice_model(model, D, D / 2), repeats=2)
    print(f"\nto_volume D={D}: {n} coords in {seconds:.2f} s; pose.lattice_model(radius 32) {lattice_seconds:.2f} s "
          f"({torch.get_num_threads()} threads)")
    assert seconds < 20
