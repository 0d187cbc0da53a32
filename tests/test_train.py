"""End-to-end tests of the training jobs (issue 4).

- A tiny `abinit_homo` run (D=32, 300 images, 3 epochs): every output exists, the poses and maps load with the
  reference implementation's readers (cryoDRGN 4.3.1), and the loss fell.
(A run killed with SIGKILL or stopped with SIGTERM mid-epoch, then resumed, is tested in tests/test_faults.py.)
"""
import numpy as np
import pytest

from cryodrgn2.simulate import phantom, write_dataset

D, N = 32, 300
# a small, quick schedule: search epochs 1 and 2, a reset at 3 (for the 4-epoch resume test), coarse grids for D=32
TINY = dict(hidden=64, layers=2, l_start=8, l_end=12, ramp_epochs=2, search_warmup=2, search_chunk=100, reset_epochs=(3,),
            base_level=1, iters=2, t_extent=4., t_ngrid=8, progress=False)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')
    write_dataset(out, phantom(D), N, snr=1.0, pixel_size=6.0, max_shift_px=2.0, seed=1, progress=False)
    return out


def test_abinit_homo_tiny_end_to_end(dataset, tmp_path):
    from cryodrgn2.jobs import abinit_homo
    out = tmp_path / 'run'
    learn = abinit_homo(dataset / 'particles.mrcs', dataset / 'ctf.pkl', out, epochs=3, ref=dataset / 'volume.mrc', **TINY)
    for name in ['reconstruct.mrc', 'reconstruct.2.mrc', 'poses.pkl', 'poses.2.pkl', 'weights.2.pt', 'config.yaml', 'run.log', 'report.html']:
        assert (out / name).is_file(), name
    losses = [r['loss'] for r in learn.history]
    assert losses[-1] < losses[0], losses
    assert 'FSC=0.5 resolution' in (out / 'report.html').read_text()
    # the reference implementation's readers
    cryodrgn_utils = pytest.importorskip('cryodrgn.utils')
    rots, trans = cryodrgn_utils.load_pkl(str(out / 'poses.pkl'))
    assert rots.shape == (N, 3, 3) and trans.shape == (N, 2)
    assert np.allclose(rots @ rots.transpose(0, 2, 1), np.eye(3), atol=1e-4)
    from cryodrgn.mrcfile import parse_mrc
    vol, header = parse_mrc(str(out / 'reconstruct.mrc'))
    assert vol.shape == (D, D, D) and abs(header.apix - 6.0) < 1e-4
