"Preprocessing on the shared test data, cross-checked against cryoDRGN 4.3.1's commands (run as subprocesses)."
import pickle
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
import torch

from cryodrgn2.geometry import random_rotations
from cryodrgn2.io import DataError, load_particles, write_cs, write_mrc
from cryodrgn2.tables import read_ctf, write_poses
from cryodrgn2.preprocess import downsample, export_star, parse_ctf, parse_pose

from datapaths import DATA

CRYODRGN = Path(sys.executable).with_name('cryodrgn')
pytestmark = [pytest.mark.skipif(not DATA.is_dir(), reason='shared test data not available'),
              pytest.mark.skipif(not CRYODRGN.exists(), reason='cryoDRGN (the reference) not installed')]
EMPIAR_APIX = 5e4 / 38168  # rlnDetectorPixelSize 5 um / rlnMagnification 38168


def cryodrgn(*args):
    "Run the reference command line `cryodrgn args...`."
    subprocess.run([str(CRYODRGN), *map(str, args)], check=True, capture_output=True)


_RUN = ('import argparse, importlib, sys\n'
        'for command in sys.argv[1:]:\n'
        '    name, *args = command.split("\\t")\n'
        '    module = importlib.import_module("cryodrgn.commands." + name)\n'
        '    parser = argparse.ArgumentParser(); module.add_args(parser); module.main(parser.parse_args(args))')

def cryodrgn_commands(*commands):
    "Run several reference commands (lists: name, args...) in one process importing only them (the full CLI takes ~8 s to start)."
    subprocess.run([sys.executable, '-c', _RUN, *('\t'.join(map(str, c)) for c in commands)], check=True, capture_output=True)


def load(path):
    with open(path, 'rb') as f: return pickle.load(f)

def mrc(path):
    "Data and pixel size; a 1-image stack as (1,D,D) (mrcfile gives (D,D))."
    with mrcfile.open(path, permissive=True) as m:
        data = m.data.copy()
        return (data[None] if data.ndim == 2 else data), float(m.voxel_size.x)

def rel_diff(a, b): return float(np.abs(a - b).max() / np.abs(b).max())

def dump(path, obj):
    with open(path, 'wb') as f: pickle.dump(obj, f)
    return path


# --- downsample: against `cryodrgn downsample` ---

def test_downsample_stack_256_to_128(tmp_path):
    "5 real images 256 -> 128 (relion31.mrcs), with a small batch so several batches are written."
    cryodrgn('downsample', DATA / 'relion31.mrcs', '-D', 128, '-o', tmp_path / 'ref.mrcs')
    result = downsample(DATA / 'relion31.mrcs', tmp_path / 'ours.mrcs', 128, batch_size=2)
    (ours, apix), (ref, ref_apix) = mrc(tmp_path / 'ours.mrcs'), mrc(tmp_path / 'ref.mrcs')
    assert ours.shape == ref.shape == (5, 128, 128)
    assert rel_diff(ours, ref) <= 1e-5
    assert apix == pytest.approx(ref_apix) == pytest.approx(2.0)
    assert (result.D, result.D_new, result.n) == (256, 128, 5)


def test_downsample_star_with_ind_and_chunks(tmp_path):
    "A RELION 3.0 star (EMPIAR-10076, 320 px) with --ind, and the chunked output: same files, names and pixel size."
    ind = dump(tmp_path / 'ind.pkl', np.array([6, 0, 3, 4, 1]))
    cryodrgn('downsample', DATA / 'empiar_10076_7.star', '-D', 128, '-o', tmp_path / 'ref.mrcs', '--ind', ind, '--chunk', 2)
    result = downsample(DATA / 'empiar_10076_7.star', tmp_path / 'ours.mrcs', 128, ind=ind, chunk=2, max_memory=(16 << 20) + 3 * 60 * 320 ** 2)
    assert [p.name for p in result.paths] == ['ours.0.mrcs', 'ours.1.mrcs', 'ours.2.mrcs', 'ours.txt']
    assert (tmp_path / 'ours.txt').read_text() == (tmp_path / 'ref.txt').read_text().replace('ref.', 'ours.')
    for i in range(3):
        (ours, apix), (ref, ref_apix) = mrc(tmp_path / f'ours.{i}.mrcs'), mrc(tmp_path / f'ref.{i}.mrcs')
        assert ours.shape == ref.shape and rel_diff(ours, ref) <= 1e-5
        assert apix == pytest.approx(EMPIAR_APIX * 320 / 128, rel=1e-6)  # the star's pixel size (magnification, detector) ...
        assert ref_apix == pytest.approx(320 / 128)  # ... which cryoDRGN ignores for a RELION 3.0 star: it assumes 1 A
    whole = load_particles(tmp_path / 'ours.txt', invert=False)[:].numpy()
    assert whole.shape == (5, 128, 128)
    assert rel_diff(whole, np.concatenate([mrc(tmp_path / f'ref.{i}.mrcs')[0] for i in range(3)])) <= 1e-5


def test_downsample_map(tmp_path):
    "The hand map 64^3 -> 32^3 against `cryodrgn downsample --is-vol`; the output is a map with the new pixel size."
    cryodrgn('downsample', DATA / 'hand-vol.mrc', '-D', 32, '-o', tmp_path / 'ref.mrc', '--is-vol')
    result = downsample(DATA / 'hand-vol.mrc', tmp_path / 'ours.mrc', 32)
    (ours, apix), (ref, _) = mrc(tmp_path / 'ours.mrc'), mrc(tmp_path / 'ref.mrc')
    assert ours.shape == (32, 32, 32) and rel_diff(ours, ref) <= 1e-5
    assert apix == pytest.approx(2.0) and result.pixel_size_new == pytest.approx(2.0)


@pytest.mark.parametrize('D, problem', [(127, 'is odd'), (256, 'smaller than'), (512, 'smaller than'), (0, 'positive')])
def test_downsample_refuses(tmp_path, D, problem):
    with pytest.raises(DataError, match=problem) as info: downsample(DATA / 'relion31.mrcs', tmp_path / 'x.mrcs', D)
    assert '\n' not in str(info.value)
    assert not (tmp_path / 'x.mrcs').exists()


# --- parse_ctf / parse_pose: against cryoDRGN's parsers ---

def make_cs(path, n=12, D=64, pixel_size=1.7, seed=0):
    "A particles.cs with the fields cryoDRGN's parse_ctf_csparc / parse_pose_csparc read (and the blob fields)."
    rng = np.random.default_rng(seed)
    dtype = [('blob/path', 'S40'), ('blob/idx', '<u4'), ('blob/shape', '<u4', (2,)), ('blob/psize_A', '<f4'),
             ('ctf/df1_A', '<f4'), ('ctf/df2_A', '<f4'), ('ctf/df_angle_rad', '<f4'), ('ctf/accel_kv', '<f4'), ('ctf/cs_mm', '<f4'),
             ('ctf/amp_contrast', '<f4'), ('ctf/phase_shift_rad', '<f4'),
             ('alignments3D/pose', '<f4', (3,)), ('alignments3D/shift', '<f4', (2,)),
             ('alignments_class_0/pose', '<f4', (3,)), ('alignments_class_0/shift', '<f4', (2,))]
    data = np.zeros(n, dtype)
    data['blob/path'], data['blob/idx'], data['blob/shape'], data['blob/psize_A'] = b'>J1/hand.mrcs', np.arange(n), D, pixel_size
    data['ctf/df1_A'] = rng.uniform(8e3, 3e4, n); data['ctf/df2_A'] = data['ctf/df1_A'] - rng.uniform(0, 500, n)
    data['ctf/df_angle_rad'], data['ctf/accel_kv'], data['ctf/cs_mm'], data['ctf/amp_contrast'] = rng.uniform(-np.pi, np.pi, n), 300, 2.7, 0.07
    data['ctf/phase_shift_rad'] = rng.uniform(0, 1, n)
    for key in ('alignments3D', 'alignments_class_0'):
        data[f'{key}/pose'] = rng.normal(0, 1.5, (n, 3)); data[f'{key}/shift'] = rng.normal(0, 3, (n, 2))
    write_cs(path, data)
    return path


def test_parse_against_cryodrgn(tmp_path):
    cs = make_cs(tmp_path / 'particles.cs')
    summaries = [parse_ctf(DATA / 'relion31.star', tmp_path / 'ctf_r31.pkl'),
                 parse_ctf(DATA / 'empiar_10076_7.star', tmp_path / 'ctf_empiar.pkl'),  # box and pixel size from the stack / magnification
                 parse_ctf(cs, tmp_path / 'ctf_cs.pkl'),
                 parse_pose(DATA / 'relion31.star', tmp_path / 'pose_r31.pkl'),
                 parse_pose(cs, tmp_path / 'pose_cs.pkl'),
                 parse_pose(cs, tmp_path / 'pose_abinit.pkl', key='alignments_class_0')]
    cryodrgn_commands(['parse_ctf_star', DATA / 'relion31.star', '-o', tmp_path / 'ref_ctf_r31.pkl'],
                      ['parse_ctf_star', DATA / 'empiar_10076_7.star', '-o', tmp_path / 'ref_ctf_empiar.pkl', '-D', 320, '--Apix', EMPIAR_APIX],
                      ['parse_ctf_csparc', cs, '-o', tmp_path / 'ref_ctf_cs.pkl'],
                      ['parse_pose_star', DATA / 'relion31.star', '-o', tmp_path / 'ref_pose_r31.pkl'],
                      ['parse_pose_csparc', cs, '-o', tmp_path / 'ref_pose_cs.pkl'],
                      ['parse_pose_csparc', cs, '-o', tmp_path / 'ref_pose_abinit.pkl', '--abinit'])
    for name in ('r31', 'empiar', 'cs'):
        ours, ref = load(tmp_path / f'ctf_{name}.pkl'), load(tmp_path / f'ref_ctf_{name}.pkl')
        if name == 'empiar':  # no rlnPhaseShift column: cryoDRGN writes NaN, we write 0 (no phase plate)
            assert np.isnan(ref[:, 8]).all() and (ours[:, 8] == 0).all()
            ref = np.nan_to_num(ref)
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-4)
    for name in ('r31', 'cs', 'abinit'):
        (rots, trans), (ref_rots, ref_trans) = load(tmp_path / f'pose_{name}.pkl'), load(tmp_path / f'ref_pose_{name}.pkl')
        np.testing.assert_allclose(rots, ref_rots, atol=1e-5)
        np.testing.assert_allclose(trans, ref_trans, atol=1e-6)
    assert '5 particles, 1 optics group(s)' in summaries[0] and 'pixel size 2.806 A, 300 kV, Cs 0.01 mm, amplitude contrast 0.1' in summaries[0]
    assert '7 particles' in summaries[1] and 'box 320 px' in summaries[1]
    assert 'poses of 5 particles, box 256 px' in summaries[3]


def test_parse_refuses(tmp_path):
    with pytest.raises(DataError, match='rlnAngleRot') as info: parse_pose(DATA / 'empiar_10076_7.star', tmp_path / 'p.pkl')
    assert '\n' not in str(info.value)
    with pytest.raises(DataError, match='expected a RELION .star or cryoSPARC .cs'): parse_ctf(DATA / 'hand.mrcs', tmp_path / 'c.pkl')


# --- export_star: read back by starfile and by cryoDRGN ---

def test_export_star_keeps_relion_table(tmp_path):
    "relion31.star + new poses + --ind: its own columns kept, angles/origins replaced, read back identically by cryoDRGN."
    n, ind = 5, np.array([4, 1, 2])
    rots, shifts = random_rotations(n, generator=torch.Generator().manual_seed(1)), torch.randn(n, 2) * 3
    write_poses(tmp_path / 'poses.pkl', rots, shifts, D=256)
    summary = export_star(DATA / 'relion31.star', tmp_path / 'poses.pkl', tmp_path / 'out.star', ind=dump(tmp_path / 'ind.pkl', ind))
    blocks, original = starfile.read(tmp_path / 'out.star', always_dict=True), starfile.read(DATA / 'relion31.star', always_dict=True)
    assert sorted(blocks) == ['optics', 'particles'] and '3 particles' in summary
    assert list(blocks['particles'].columns) == list(original['particles'].columns)
    for column in ('rlnMicrographName', 'rlnImageName', 'rlnClassNumber', 'rlnRandomSubset'):
        assert list(blocks['particles'][column]) == list(original['particles'][column].iloc[ind])
    for column in ('rlnCoordinateX', 'rlnDefocusU', 'rlnDefocusV', 'rlnLogLikeliContribution'):  # written with 9 significant digits
        np.testing.assert_allclose(blocks['particles'][column], original['particles'][column].iloc[ind], rtol=1e-8)
    pd.testing.assert_frame_equal(blocks['optics'], original['optics'], check_dtype=False)
    cryodrgn_commands(['parse_pose_star', tmp_path / 'out.star', '-o', tmp_path / 'back.pkl'],
                      ['parse_ctf_star', tmp_path / 'out.star', '-o', tmp_path / 'back_ctf.pkl'],
                      ['parse_ctf_star', DATA / 'relion31.star', '-o', tmp_path / 'ref_ctf.pkl'])
    (r_back, t_back), (r_in, t_in) = load(tmp_path / 'back.pkl'), load(tmp_path / 'poses.pkl')
    np.testing.assert_allclose(r_back, r_in[ind], atol=1e-4)
    np.testing.assert_allclose(t_back, t_in[ind], atol=1e-6)
    np.testing.assert_allclose(load(tmp_path / 'back_ctf.pkl'), load(tmp_path / 'ref_ctf.pkl')[ind])


def test_export_star_relion30_and_downsampled_stack(tmp_path):
    """A RELION 3.0 star gets an optics table; a downsampled stack exported with the full-size CTF gets the stack's
    box and pixel size (D_ctf * apix / D_stack), and the same physical origins in Angstrom."""
    n = 7
    rots, shifts = random_rotations(n, generator=torch.Generator().manual_seed(2)), torch.randn(n, 2) * 4
    write_poses(tmp_path / 'poses.pkl', rots, shifts, D=320)
    export_star(DATA / 'empiar_10076_7.star', tmp_path / 'poses.pkl', tmp_path / 'r30.star')
    parse_ctf(DATA / 'empiar_10076_7.star', tmp_path / 'ctf.pkl')
    downsample(DATA / 'empiar_10076_7.star', tmp_path / 'small.mrcs', 160)
    export_star(tmp_path / 'small.mrcs', tmp_path / 'poses.pkl', tmp_path / 'small.star', ctf=tmp_path / 'ctf.pkl', ind=np.arange(1, 6))
    blocks = starfile.read(tmp_path / 'r30.star', always_dict=True)
    assert sorted(blocks) == ['optics', 'particles']
    assert blocks['optics']['rlnImagePixelSize'].iloc[0] == pytest.approx(EMPIAR_APIX) and blocks['optics']['rlnImageSize'].iloc[0] == 320
    assert 'rlnMicrographName' in blocks['particles'] and 'rlnMagnification' not in blocks['particles']
    small = starfile.read(tmp_path / 'small.star', always_dict=True)
    assert small['optics']['rlnImagePixelSize'].iloc[0] == pytest.approx(2 * EMPIAR_APIX) and small['optics']['rlnImageSize'].iloc[0] == 160
    assert list(small['particles']['rlnImageName']) == [f'{i + 1}@small.mrcs' for i in range(1, 6)]
    np.testing.assert_allclose(small['particles']['rlnOriginXAngst'], blocks['particles']['rlnOriginXAngst'].iloc[1:6], rtol=1e-6)
    cryodrgn_commands(['parse_pose_star', tmp_path / 'r30.star', '-o', tmp_path / 'back.pkl'],
                      ['parse_pose_star', tmp_path / 'small.star', '-o', tmp_path / 'back_small.pkl'],
                      ['parse_ctf_star', tmp_path / 'small.star', '-o', tmp_path / 'back_small_ctf.pkl'])
    (r_back, t_back), (r_in, t_in) = load(tmp_path / 'back.pkl'), load(tmp_path / 'poses.pkl')
    np.testing.assert_allclose(r_back, r_in, atol=1e-4)
    np.testing.assert_allclose(t_back, t_in, atol=1e-6)
    r_small, t_small = load(tmp_path / 'back_small.pkl')
    np.testing.assert_allclose(r_small, r_in[1:6], atol=1e-4)
    np.testing.assert_allclose(t_small, t_in[1:6], atol=1e-6)  # fractions of the box: the same at any sampling
    ctf_small, ctf_full = load(tmp_path / 'back_small_ctf.pkl'), read_ctf(tmp_path / 'ctf.pkl').numpy()[1:6]
    np.testing.assert_allclose(ctf_small[:, 2:], ctf_full[:, 2:], rtol=1e-6)
    np.testing.assert_allclose(ctf_small[:, 0] * ctf_small[:, 1], ctf_full[:, 0] * ctf_full[:, 1], rtol=1e-6)  # same physical box
