"""cryodrgn2.metrics on the 64^3 hand map, and against the reference implementation (cryoDRGN 4.3.1).

Binning differs on purpose: our FSC shell n holds |k| D in [n - 1/2, n + 1/2) (centred on n), cryoDRGN's entry i
holds [i - 1, i) and is labelled i / D (its outer edge). So cryoDRGN's entry i sits between our shells i-1 and i.
"""
from pathlib import Path
import numpy as np
import pytest
import torch

from cryodrgn2.geometry import random_rotations, axis_angle_to_matrix
from cryodrgn2.imaging import rotate_volume
from cryodrgn2.metrics import (fsc, fsc_resolution, rotation_error, mirror_rotations, mirror_volume, align_volumes,
                               rotation_distance, soft_sphere_mask)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 warnings inside cryoDRGN's fsc
from datapaths import DATA, needs_data


@pytest.fixture(scope='module')
def hand():
    mrcfile = pytest.importorskip('mrcfile')
    if not DATA.is_dir(): pytest.skip(f'shared test data not found in {DATA}')
    return torch.as_tensor(mrcfile.read(DATA / 'hand-vol.mrc').copy(), dtype=torch.float32)


def noisy_pair(vol, sigma, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (vol + torch.randn(vol.shape, generator=gen) * sigma * vol.std(),
            vol + torch.randn(vol.shape, generator=gen) * sigma * vol.std())


def test_fsc_matches_cryodrgn(hand):
    pytest.importorskip('cryodrgn')
    from cryodrgn.commands_utils.fsc import get_fsc_curve, get_fsc_thresholds
    D = hand.shape[-1]
    a, b = noisy_pair(hand, 2.0)
    freqs, ours = fsc(a, b)
    theirs = torch.tensor(get_fsc_curve(a, b).fsc.values, dtype=torch.float32)
    between = (ours[:-1] + ours[1:]) / 2  # our curve at radius i - 1/2, the centre of their shell i
    assert (between - theirs[1:]).abs().max() < 0.08, (between - theirs[1:]).abs().max()
    # resolution at 0.5: theirs is the outer edge of the last shell above 0.5, ours the interpolated crossing
    their_k = get_fsc_thresholds(get_fsc_curve(a, b), 1.0, verbose=False)[0]
    our_k = fsc_resolution(freqs, ours)[1]
    assert their_k - 1.5 / D <= our_k <= their_k + 0.5 / D, (our_k, their_k)
    # with a mask, both apply it in real space before the transform
    mask = soft_sphere_mask(D, 24, 4)
    theirs_m = torch.tensor(get_fsc_curve(a, b, initial_mask=mask).fsc.values, dtype=torch.float32)
    ours_m = fsc(a, b, mask=mask)[1]
    assert ((ours_m[:-1] + ours_m[1:]) / 2 - theirs_m[1:]).abs().max() < 0.08


def test_rotation_error_matches_cryodrgn_align_rot_best():
    """cryoDRGN anchors the alignment on single images (best of n_tries) and flips as P R; ours fits Q to all."""
    pytest.importorskip('cryodrgn')
    from cryodrgn.metrics import align_rot_best
    gen = torch.Generator().manual_seed(0)
    rots = random_rotations(400, gen)
    A = random_rotations(1, gen)[0]
    est = rots @ axis_angle_to_matrix(torch.randn(400, 3, generator=gen) * 0.05) @ A.T
    est[:80] = random_rotations(80, gen)  # 20% outliers
    for mirrored in (False, True):
        poses = mirror_rotations(est) if mirrored else est
        ours = rotation_error(poses, rots)
        _, _, their_median = align_rot_best(rots, poses, n_tries=100)
        print(f"mirrored={mirrored}: median ours {ours.median:.5f}, cryoDRGN {their_median:.5f}")
        assert ours.flipped == mirrored
        assert ours.median <= their_median * 1.02 + 1e-6  # an all-image fit is at least as good as a single anchor
        inliers = ours.errors[80:].median()  # ~ 2 theta^2 with theta^2 / 0.05^2 ~ chi2(3), median 2.366
        assert abs(inliers - 2 * 0.05 ** 2 * 2.366) < 0.002, inliers
        assert rotation_distance(ours.Q, A) < 1e-3


@pytest.mark.parametrize('mirrored', [False, True])
def test_align_volumes_recovers_the_hand(hand, mirrored):
    D = hand.shape[-1]
    A = random_rotations(1, torch.Generator().manual_seed(7 + mirrored))[0]
    moved = rotate_volume(hand, A)
    if mirrored: moved = mirror_volume(moved)
    aligned, R, flipped = align_volumes(moved, hand, generator=torch.Generator().manual_seed(0))
    curve = fsc(aligned, hand)[1]
    print('FSC every 4th shell:', np.round(curve.numpy()[::4], 3), 'R error', rotation_distance(R, A.T).item())
    assert flipped == mirrored
    assert rotation_distance(R, A.T) < 1e-3  # about 1.3 degrees
    assert curve[:D // 4].min() > 0.9
