"""Our HEALPix NESTED pixel centres and pixel radius (`so3.healpix_pix2ang`, `so3.healpix_max_pixrad`) against healpy.

healpy is a dev dependency only (the package no longer imports it): these tests are skipped without it.
"""

import numpy as np
import pytest
import torch

from cryodrgn2.so3 import direction_angles, healpix_max_pixrad, healpix_pix2ang

healpy = pytest.importorskip('healpy')


@pytest.mark.parametrize('order', range(7))  # N_side 1, 2, 4, .., 64
def test_pix2ang_matches_healpy(order):
    nside = 2 ** order
    pix = np.arange(12 * nside ** 2)
    theta, phi = healpix_pix2ang(nside, torch.as_tensor(pix))
    ref_theta, ref_phi = healpy.pix2ang(nside, pix, nest=True)
    assert theta.dtype == phi.dtype == torch.float64 and theta.shape == phi.shape == pix.shape
    assert np.abs(theta.numpy() - ref_theta).max() < 1e-12
    assert np.abs(np.angle(np.exp(1j * (phi.numpy() - ref_phi)))).max() < 1e-12  # phi modulo 2 pi
    # the grid's viewing directions are these pixel centres, for any index shape
    idx = torch.as_tensor(pix[::-1].copy()).reshape(-1, 3)
    test_theta, _ = direction_angles(order, idx)
    assert test_theta.shape == idx.shape
    assert np.abs(test_theta.numpy() - ref_theta[idx.numpy()]).max() < 1e-12


@pytest.mark.parametrize('order', range(11))
def test_max_pixrad_matches_healpy(order):
    assert healpix_max_pixrad(2 ** order) == pytest.approx(healpy.max_pixrad(2 ** order), abs=1e-14)


def test_pix2ang_errors():
    with pytest.raises(ValueError, match='power of 2'): healpix_pix2ang(3, torch.tensor([0]))
    with pytest.raises(ValueError, match='in \\[0, 48\\)'): healpix_pix2ang(2, torch.tensor([-1]))
    with pytest.raises(TypeError, match='integers'): healpix_pix2ang(2, torch.tensor([0.5]))
