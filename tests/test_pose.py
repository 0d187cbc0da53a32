"""Pose search on the shared hand map, against ground truth and against the reference (cryoDRGN 4.3.1).

Small sizes (tens of images at D=64, the paper's default grids) so the file runs in about a minute on 2 cores;
benchmarks/pose_search.py runs the full accuracy and speed comparison.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cryodrgn2.fourier import ht2_center, symmetrize_ht
from cryodrgn2.geometry import freq_lattice
from cryodrgn2.imaging import VoxelModel, form_images, sample_lattice
from cryodrgn2.io import DataError, read_mrc
from cryodrgn2.tables import read_poses
from cryodrgn2.pose import align, search
from cryodrgn2.shifts import shift_grid
from cryodrgn2.simulate import simulate, write_dataset
from cryodrgn2.so3 import grid_size, so3_grid

from datapaths import DATA, needs_data

pytestmark = needs_data


def rotation_error(a, b):  # ||R_a - R_b||_F^2, the paper's metric (no global alignment: the map is the true one)
    return ((a - b) ** 2).sum((-1, -2))


@pytest.fixture(scope='module')
def hand():
    vol, _ = read_mrc(DATA / 'hand-vol.mrc')
    return vol.float().clone()


@pytest.fixture(scope='module')
def hand_images(hand):
    "Noiseless, physically-signed images of the hand with CTF (defocus 1-3 um) and shifts in +-3 px."
    imgs, plan = simulate(hand, 32, snr=None, invert=False, seed=1, pixel_size=1.0, max_shift_px=3.0)
    return imgs, plan


def test_hand_noiseless_accuracy(hand, hand_images):
    imgs, plan = hand_images
    found = search(VoxelModel(hand), imgs, plan.ctf_params)
    err = rotation_error(found.rots, plan.rots)
    shift_err = (found.shift_px - plan.shift_px).norm(dim=-1)
    assert err.median() < 3e-4, err
    assert shift_err.median() < 0.5, shift_err
    # no image lands in a wrong basin: with the paper's keep=8 a few (4 of 32 here) settle ~5 deg from the truth
    assert (err < 0.05).all(), err.max()
    assert (err < 0.01).float().mean() > 0.8


def test_keeping_more_candidates_removes_near_misses(hand, hand_images):
    imgs, plan = hand_images
    err8 = rotation_error(search(VoxelModel(hand), imgs, plan.ctf_params, keep=8).rots, plan.rots)
    err16 = rotation_error(search(VoxelModel(hand), imgs, plan.ctf_params, keep=16).rots, plan.rots)
    assert (err16 > 0.01).sum() < (err8 > 0.01).sum()


@pytest.mark.parametrize('factor', [1e-3, 1e3])
def test_map_scale_does_not_matter(hand, hand_images, factor):
    imgs, plan = hand_images
    base = search(VoxelModel(hand), imgs[:16], plan.ctf_params[:16])
    scaled = search(VoxelModel(hand * factor), imgs[:16], plan.ctf_params[:16])
    assert torch.allclose(scaled.rots, base.rots, atol=1e-5)
    assert torch.allclose(scaled.shift_px, base.shift_px, atol=1e-5)
    assert math.isclose(scaled.scale[0].item() * factor, base.scale[0].item(), rel_tol=1e-3)


def test_align_files_roundtrip(hand, tmp_path):
    "Contrast-inverted stack on disk (as written by the simulator), map at another program's scale, CTF table."
    plan = write_dataset(tmp_path, hand, 24, snr=None, pixel_size=1.0, seed=3, progress=False)
    mrc_map = tmp_path / 'map_x1000.mrc'
    from cryodrgn2.io import write_mrc
    write_mrc(mrc_map, hand * 1000)
    # no window: in this 64 A box (1 A/px) the CTF (1-3 um defocus) spreads the signal over ~200 A, far beyond the box,
    # and a window on the images (not on the map's projections) would cut what the map predicts
    result = align(tmp_path / 'particles.mrcs', mrc_map, tmp_path / 'ctf.pkl', out=tmp_path / 'found.pkl', progress=False,
                   window=None)
    rots, shift_px = read_poses(tmp_path / 'found.pkl', 64)
    assert torch.allclose(rots, result.rots, atol=1e-6)
    assert rotation_error(rots, plan.rots).median() < 3e-4
    assert (shift_px - plan.shift_px).norm(dim=-1).median() < 0.5
    # the wrong contrast flag: the check sees that the images fit the map better inverted, and flips them
    flipped = align(tmp_path / 'particles.mrcs', mrc_map, tmp_path / 'ctf.pkl', invert=False, progress=False, window=None)
    assert torch.allclose(flipped.rots, result.rots, atol=1e-5)
    # without the check, the images anti-correlate with the map: the poses are wrong
    wrong = align(tmp_path / 'particles.mrcs', mrc_map, tmp_path / 'ctf.pkl', invert=False, progress=False, iters=0, window=None,
                  contrast=1)
    assert rotation_error(wrong.rots, plan.rots).median() > 0.1


def test_align_errors(hand, tmp_path):
    write_dataset(tmp_path, hand, 4, snr=None, pixel_size=1.0, seed=3, progress=False)
    from cryodrgn2.io import write_mrc
    write_mrc(tmp_path / 'small.mrc', hand[:32, :32, :32])
    with pytest.raises(DataError, match='resample'): align(tmp_path / 'particles.mrcs', tmp_path / 'small.mrc', progress=False)
    with pytest.raises(DataError, match='not found|does not exist|No such'):
        align(tmp_path / 'missing.mrcs', tmp_path / 'small.mrc', progress=False)


def test_memory_source_and_batches_agree(hand, hand_images):
    "A numpy array, a tensor and different batch sizes give the same poses."
    imgs, plan = hand_images
    kwargs = dict(ctf=plan.ctf_params[:12], scale=1.0, iters=2)
    a = search(VoxelModel(hand), imgs[:12], batch_size=5, **kwargs)
    b = search(VoxelModel(hand), imgs[:12].numpy(), batch_size=12, **kwargs)
    assert torch.allclose(a.rots, b.rots, atol=1e-5) and torch.allclose(a.shift_px, b.shift_px, atol=1e-5)


def test_grid_matches_reference_directions():
    "Same HEALPix directions and counts as cryoDRGN's Hopf grid (its in-plane origin differs by design)."
    so3_grid_ref = pytest.importorskip('cryodrgn.so3_grid')
    for level in range(3):
        theta, phi = so3_grid_ref.grid_s2(level)
        ours = so3_grid(level).transpose(1, 2)[:, :, 2].reshape(-1, grid_size(level)[1], 3)[:, 0].double()
        ref = torch.tensor(np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1))
        assert torch.allclose(ours, ref, atol=1e-6)
        assert len(so3_grid_ref.grid_SO3(level)) == math.prod(grid_size(level))


def test_agrees_with_reference_pose_search(hand):
    "cryoDRGN's PoseSearch and ours find the same poses for noiseless images without CTF (its CTF path interpolates CTF-modulated slices)."
    ps_module = pytest.importorskip('cryodrgn.pose_search')
    from cryodrgn.lattice import Lattice
    imgs, plan = simulate(hand, 4, snr=None, invert=False, seed=5, pixel_size=1.0, ctf=False)
    model = VoxelModel(hand)

    class Reference(torch.nn.Module):  # the same map, behind the reference's model interface
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))
        def forward(self, coords): return sample_lattice(model.lattice, coords)

    ps = ps_module.PoseSearch(Reference().eval(), Lattice(65, extent=0.5), 12, 32, base_healpy=2, t_extent=10, t_ngrid=7,
                              niter=4, nkeptposes=8)
    with torch.no_grad():
        ref_rots, ref_trans, _ = ps.opt_theta_trans(symmetrize_ht(ht2_center(imgs), ndim=2))
    ours = search(model, imgs)
    assert rotation_error(ref_rots, plan.rots).max() < 0.01    # the reference is right here (to its grid)
    assert rotation_error(ours.rots, plan.rots).max() < 1e-3
    assert rotation_error(ours.rots, ref_rots).max() < 0.01
    assert (ours.shift_px - (-ref_trans)).norm(dim=-1).max() < 0.3  # its trans re-centres: shift_px = -trans


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU')
def test_runs_on_gpu(hand, hand_images):
    imgs, plan = hand_images
    found = search(VoxelModel(hand).cuda(), imgs[:8].cuda(), plan.ctf_params[:8].cuda())
    assert found.rots.is_cuda
    assert rotation_error(found.rots.cpu(), plan.rots[:8]).median() < 3e-4
