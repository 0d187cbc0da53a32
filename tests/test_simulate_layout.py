"""A simulated RELION project (`write_dataset(relion_project=True)`) read by the reference implementation (cryoDRGN 4.3.1).

The notebook (nbs/07_simulate) checks the layout with our own reader; here cryoDRGN's reader and `parse_ctf_star`
must see the same images (stacks named from the project root, two stacks sharing a file name) and the same
per-optics-group CTF, and the detector-like offset and scale must survive its reader unchanged.
"""
import subprocess
import numpy as np
import pytest
import torch

pytest.importorskip('cryodrgn')
from cryodrgn2.io import load_particles
from cryodrgn2.tables import read_ctf
from cryodrgn2.simulate import phantom, write_dataset

STAR = 'Extract/job002/particles.star'


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp('project')
    plan = write_dataset(out, phantom(32), 30, snr=0.5, pixel_size=2.0, batch_size=8, progress=False, relion_project=True,
                         stack_size=7, optics_amp_contrast=(0.1, 0.07), offset=5000., scale=300.)
    return out, plan


def test_reference_reads_the_same_images(project):
    from cryodrgn.source import ImageSource
    out, _ = project
    theirs = ImageSource.from_file(str(out / STAR), datadir=str(out), lazy=False).images()
    ours = load_particles(out / STAR, datadir=out, invert=False).images(np.arange(30))
    assert torch.equal(torch.as_tensor(theirs), ours)
    assert abs(ours.mean().item() - 5000) < 50  # detector-like values, as written


def test_reference_parses_both_optics_groups(project, tmp_path):
    out, plan = project
    subprocess.run(['cryodrgn', 'parse_ctf_star', str(out / STAR), '-o', str(tmp_path / 'ctf.pkl')], check=True, capture_output=True)
    theirs = read_ctf(tmp_path / 'ctf.pkl')
    assert torch.allclose(theirs, plan.ctf_params, atol=1e-3)
    assert sorted(set(np.round(theirs[:, 7].tolist(), 4))) == [0.07, 0.1]
    assert torch.allclose(theirs[:, :2], torch.tensor([32., 2.]).expand(30, 2))
