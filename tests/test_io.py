"Data I/O on the shared test data, bad-input errors, and cross-checks against cryoDRGN 4.3.1's parsers."
import argparse
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cryodrgn2.geometry import random_rotations
from cryodrgn2.io import DataError, check_counts, load_particles, read_mrc, read_star, write_cs, write_mrc
from cryodrgn2.tables import parse_ctf_csparc, parse_ctf_star, parse_pose_csparc, parse_pose_star, read_ctf, read_poses

from datapaths import DATA
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason='shared test data not available')


def one_line_error(fn, *names):
    "Run fn, expect a one-line DataError naming every string in `names`; return its message."
    with pytest.raises(DataError) as info: fn()
    message = str(info.value)
    assert '\n' not in message
    for name in names: assert name in message, (name, message)
    return message


# --- the shared data loads with the right counts and shapes ---

@pytest.mark.parametrize('name, n, D, pixel_size', [
    ('relion31.star', 5, 256, 2.806), ('empiar_10076_7.star', 7, 320, 5e4 / 38168), ('toy_projections.star', 1000, 30, 1.0),
    ('toy_projections.mrcs', 1000, 30, 1.0), ('hand.mrcs', 100, 64, 1.0), ('hand.5.mrcs', 5, 64, 1.0), ('relion31.mrcs', 5, 256, 1.0)])
def test_particles_load(name, n, D, pixel_size):
    src = load_particles(DATA / name)
    assert (len(src), src.D) == (n, D)
    assert src.pixel_size == pytest.approx(pixel_size, rel=1e-6)
    imgs = src.images(torch.tensor([0, n - 1]))
    assert imgs.shape == (2, D, D) and imgs.dtype == torch.float32 and torch.isfinite(imgs).all()


def test_star_images_match_their_stack():
    star, mrcs = load_particles(DATA / 'toy_projections.star'), load_particles(DATA / 'toy_projections.mrcs', invert=False)
    idx = torch.tensor([0, 10, 999, 3])
    assert torch.equal(star.images(idx), -mrcs.images(idx))
    assert torch.equal(load_particles(DATA / 'relion31.star', lazy=False)[:], load_particles(DATA / 'relion31.mrcs')[:])


def test_images_match_cryodrgn():
    from cryodrgn.source import ImageSource
    for name in ['toy_projections.star', 'empiar_10076_7.star', 'relion31.star']:
        ours = load_particles(DATA / name, invert=False)
        theirs = ImageSource.from_file(str(DATA / name)).images(np.arange(min(len(ours), 20)))
        assert torch.allclose(ours[:20], torch.as_tensor(theirs), atol=1e-6)


def test_volumes_and_malformed_headers():
    vol, apix = read_mrc(DATA / 'hand-vol.mrc')
    assert vol.shape == (64, 64, 64) and apix == 1.0
    assert read_mrc(DATA / 'toymodel_small_nocenter.mrc')[0].shape == (30, 30, 30)
    assert read_mrc(DATA / 'hand.5.mrcs')[0].shape == (5, 64, 64)          # no map ID: read permissively


def test_star_tables():
    particles, optics = read_star(DATA / 'relion31.star')
    assert particles.shape == (5, 26) and optics.shape == (1, 9)
    merged, _ = read_star(DATA / 'relion31.star', merge_optics=True)
    assert (merged['rlnImageSize'] == 256).all() and (merged['rlnVoltage'] == 300).all()
    particles, optics = read_star(DATA / 'empiar_10076_7.star')
    assert particles.shape == (7, 10) and optics is None


@pytest.mark.parametrize('name, shape', [('hand_rot.pkl', 100), ('hand_rot_trans.pkl', 100), ('toy_rot_trans.pkl', 1000),
                                         ('toy_angles.pkl', 1000), ('toy_rot_zerotrans.pkl', 1000)])
def test_pose_pickles(name, shape):
    rots, shift_px = read_poses(DATA / name, D=64)
    assert rots.shape == (shape, 3, 3) and shift_px.shape == (shape, 2)
    with open(DATA / name, 'rb') as f: obj = pickle.load(f)
    if isinstance(obj, tuple): assert np.allclose(shift_px.numpy(), -obj[1] * 64, atol=1e-4)
    else: assert (shift_px == 0).all()


@pytest.mark.parametrize('name, n', [('test_ctf.pkl', 1000), ('test_ctf.100.pkl', 100), ('ctf1.pkl', 5), ('ctf2.pkl', 2019)])
def test_ctf_pickles(name, n):
    ctf = read_ctf(DATA / name)
    assert ctf.shape == (n, 9) and ctf.dtype == torch.float32


# --- bad input: one-line DataErrors naming the file ---

def test_bad_files(tmp_path):
    one_line_error(lambda: load_particles(tmp_path / 'missing.mrcs'), 'missing.mrcs', 'file not found')
    (tmp_path / 'text.mrcs').write_text('particles\n' * 200)
    one_line_error(lambda: load_particles(tmp_path / 'text.mrcs'), 'text.mrcs', 'not an MRC file')
    (tmp_path / 'cut.mrcs').write_bytes((DATA / 'hand.mrcs').read_bytes()[:1024 + 64 * 64 * 4 * 37 + 100])
    one_line_error(lambda: load_particles(tmp_path / 'cut.mrcs'), 'cut.mrcs',
                   'truncated stack: header says 100 images of 64x64 but the file holds 37')
    write_mrc(tmp_path / 'oblong.mrcs', torch.zeros(3, 32, 30))
    one_line_error(lambda: load_particles(tmp_path / 'oblong.mrcs'), 'oblong.mrcs', 'not square')
    write_mrc(tmp_path / 'odd.mrcs', torch.zeros(3, 31, 31))
    one_line_error(lambda: load_particles(tmp_path / 'odd.mrcs'), 'odd.mrcs', 'odd image size')


def test_star_with_missing_stack(tmp_path):
    shutil.copy(DATA / 'toy_projections.star', tmp_path)
    one_line_error(lambda: load_particles(tmp_path / 'toy_projections.star'), 'toy_projections.star',
                   'stack toy_projections.mrcs not found')
    assert len(load_particles(tmp_path / 'toy_projections.star', datadir=DATA)) == 1000


def test_mismatched_counts():
    n_star = len(load_particles(DATA / 'toy_projections.star'))
    n_ctf = len(read_ctf(DATA / 'test_ctf.100.pkl'))
    one_line_error(lambda: check_counts(**{'toy_projections.star': n_star, 'test_ctf.100.pkl': n_ctf}),
                   'test_ctf.100.pkl: holds 100 items but toy_projections.star holds 1000')


def test_wrong_pickles(tmp_path):
    rots, trans = pickle.load(open(DATA / 'hand_rot_trans.pkl', 'rb'))
    cases = {'rots22.pkl': (rots[:, :2, :2], trans), 'trans3.pkl': (rots, np.zeros((100, 3))), 'fewer.pkl': (rots, trans[:99]),
             'nan.pkl': (rots, np.full_like(trans, np.nan))}
    for name, obj in cases.items(): pickle.dump(obj, open(tmp_path / name, 'wb'))
    one_line_error(lambda: read_poses(tmp_path / 'rots22.pkl', 64), 'rots22.pkl', 'shape (100, 2, 2), expected (N, 3, 3)')
    one_line_error(lambda: read_poses(tmp_path / 'trans3.pkl', 64), 'trans3.pkl', 'expected (N, 2)')
    one_line_error(lambda: read_poses(tmp_path / 'fewer.pkl', 64), 'fewer.pkl', '100 rotations but 99 shifts')
    one_line_error(lambda: read_poses(tmp_path / 'nan.pkl', 64), 'nan.pkl', 'non-finite')
    one_line_error(lambda: read_ctf(DATA / 'hand_rot.pkl'), 'hand_rot.pkl', 'expected (N, 9)')
    ctf = read_ctf(DATA / 'ctf1.pkl').numpy()
    ctf[2, 5] = 0
    pickle.dump(ctf, open(tmp_path / 'kv0.pkl', 'wb'))
    one_line_error(lambda: read_ctf(tmp_path / 'kv0.pkl'), 'kv0.pkl', 'voltage must be positive (row 2;')


@pytest.mark.filterwarnings('ignore::RuntimeWarning')  # mrcfile warns when writing NaN/inf on purpose
@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_nonfinite_pixels(tmp_path, bad):
    imgs = torch.randn(6, 16, 16)
    imgs[4, 3, 3] = bad
    write_mrc(tmp_path / 'bad.mrcs', imgs)
    src = load_particles(tmp_path / 'bad.mrcs')
    assert src.images([0, 1, 5]).shape == (3, 16, 16)          # the bad image is not read
    one_line_error(lambda: src[:], 'bad.mrcs', 'non-finite pixels (NaN or inf) in image 5')
    one_line_error(lambda: load_particles(tmp_path / 'bad.mrcs', lazy=False), 'bad.mrcs', 'image 5')


# --- the same numbers as cryoDRGN's parsers (their main functions, called in-process) ---

def cryodrgn_pickle(module, out, **args):
    "Run cryodrgn.commands.<module>.main in-process and load the pickle it writes."
    import importlib
    importlib.import_module(f'cryodrgn.commands.{module}').main(argparse.Namespace(**args))
    with open(out, 'rb') as f: return pickle.load(f)


def test_parse_pose_star_matches_cryodrgn(tmp_path):
    out = tmp_path / 'pose.pkl'
    rots_ref, trans_ref = cryodrgn_pickle('parse_pose_star', out, input=str(DATA / 'relion31.star'), outpkl=str(out), D=None, Apix=None)
    rots, shift_px = parse_pose_star(DATA / 'relion31.star')
    D = 256
    assert np.allclose(rots.numpy(), rots_ref, atol=1e-5)
    assert np.allclose(-shift_px.numpy() / D, trans_ref, atol=1e-7)
    assert np.abs(shift_px.numpy()).max() > 0.1                        # the file has non-zero origins
    # toy_projections.star holds no angles: both refuse it
    with pytest.raises(KeyError): cryodrgn_pickle('parse_pose_star', out, input=str(DATA / 'toy_projections.star'),
                                                  outpkl=str(out), D=30, Apix=1.0)
    one_line_error(lambda: parse_pose_star(DATA / 'toy_projections.star'), 'toy_projections.star', 'no column(s) rlnAngleRot')


@pytest.mark.parametrize('name, D, apix', [('relion31.star', None, None), ('toy_projections.star', 30, 1.0),
                                          ('empiar_10076_7.star', 320, 1.31)])
def test_parse_ctf_star_matches_cryodrgn(tmp_path, name, D, apix):
    out = tmp_path / 'ctf.pkl'
    ref = cryodrgn_pickle('parse_ctf_star', out, star=str(DATA / name), o=str(out), png=None, D=D, Apix=apix,
                          kv=None, cs=None, w=None, ps=None)
    ours = parse_ctf_star(DATA / name, D=D, pixel_size=apix).numpy()
    if name == 'empiar_10076_7.star':  # no rlnPhaseShift column: cryoDRGN writes NaN, we write 0
        assert np.isnan(ref[:, 8]).all() and (ours[:, 8] == 0).all()
        ours, ref = ours[:, :8], ref[:, :8]
    assert np.array_equal(ours, ref)


def test_parse_ctf_star_finds_box_and_pixel_size():
    "Without arguments: D from the stack (3.0) and pixel size from the header or detector pixel / magnification."
    toy = parse_ctf_star(DATA / 'toy_projections.star')
    assert torch.equal(toy, read_ctf(DATA / 'test_ctf.pkl'))          # cryoDRGN's own ctf.pkl for this star file
    empiar = parse_ctf_star(DATA / 'empiar_10076_7.star')
    assert (empiar[:, 0] == 320).all() and torch.allclose(empiar[:, 1], torch.tensor(5e4 / 38168))


def make_cs(path, n=50, seed=0):
    "A cryoSPARC-like particles .cs file with random CTF and poses."
    rng = np.random.default_rng(seed)
    fields = [('blob/path', 'S40'), ('blob/idx', '<u4'), ('blob/shape', '<u4', (2,)), ('blob/psize_A', '<f4'),
              ('ctf/accel_kv', '<f4'), ('ctf/cs_mm', '<f4'), ('ctf/amp_contrast', '<f4'), ('ctf/df1_A', '<f4'),
              ('ctf/df2_A', '<f4'), ('ctf/df_angle_rad', '<f4'), ('ctf/phase_shift_rad', '<f4'),
              ('alignments3D/pose', '<f4', (3,)), ('alignments3D/shift', '<f4', (2,))]
    cs = np.zeros(n, dtype=fields)
    cs['blob/path'], cs['blob/idx'], cs['blob/shape'], cs['blob/psize_A'] = b'>J1/extract/hand.mrcs', np.arange(n), 64, 1.7
    cs['ctf/accel_kv'], cs['ctf/cs_mm'], cs['ctf/amp_contrast'] = 300, 2.7, 0.07
    cs['ctf/df1_A'], cs['ctf/df2_A'] = rng.uniform(1e4, 3e4, n), rng.uniform(1e4, 3e4, n)
    cs['ctf/df_angle_rad'], cs['ctf/phase_shift_rad'] = rng.uniform(-np.pi, np.pi, n), rng.uniform(0, 1, n)
    cs['alignments3D/pose'] = rng.normal(size=(n, 3))
    cs['alignments3D/shift'] = rng.uniform(-5, 5, (n, 2))
    write_cs(path, cs)
    return cs


def test_csparc_matches_cryodrgn(tmp_path):
    make_cs(tmp_path / 'particles.cs')
    out = tmp_path / 'out.pkl'
    ctf_ref = cryodrgn_pickle('parse_ctf_csparc', out, cs=str(tmp_path / 'particles.cs'), o=str(out), png=None, D=None, Apix=None)
    assert np.allclose(parse_ctf_csparc(tmp_path / 'particles.cs').numpy(), ctf_ref, rtol=1e-6)
    rots_ref, trans_ref = cryodrgn_pickle('parse_pose_csparc', out, input=str(tmp_path / 'particles.cs'), abinit=False,
                                          hetrefine=False, o=str(out), D=None)
    rots, shift_px = parse_pose_csparc(tmp_path / 'particles.cs')
    assert np.allclose(rots.numpy(), rots_ref, atol=1e-5)
    assert np.allclose(-shift_px.numpy() / 64, trans_ref, atol=1e-7)


def test_cs_particles(tmp_path):
    "blob/path with a leading '>' and leftover folders: found by file name under the .cs folder (or datadir)."
    make_cs(tmp_path / 'particles.cs', n=10)
    one_line_error(lambda: load_particles(tmp_path / 'particles.cs'), 'particles.cs', 'stack J1/extract/hand.mrcs not found')
    src = load_particles(tmp_path / 'particles.cs', datadir=DATA, invert=False)
    assert torch.equal(src[:], load_particles(DATA / 'hand.mrcs', invert=False)[:10])
    assert src.pixel_size == pytest.approx(1.7)


def test_written_star_reads_the_same_in_cryodrgn(tmp_path):
    "write_relion_star -> cryoDRGN's parse_pose_star / parse_ctf_star give our write_poses / write_ctf pickles."
    from cryodrgn2.tables import write_ctf, write_poses, write_relion_star
    n, D, apix = 8, 32, 2.5
    rots = random_rotations(n, torch.Generator().manual_seed(0))
    shift_px = torch.randn(n, 2, generator=torch.Generator().manual_seed(1)) * 3
    ctf = torch.tensor([D, apix, 1.5e4, 1.4e4, 20., 300, 2.7, 0.1, 0.]).repeat(n, 1)
    ctf[:, 2] += torch.arange(n) * 500
    write_relion_star(tmp_path / 'p.star', [f'{i + 1}@p.mrcs' for i in range(n)], ctf, rots, shift_px, pixel_size=apix, D=D)
    write_poses(tmp_path / 'poses.pkl', rots, shift_px, D)
    write_ctf(tmp_path / 'ctf.pkl', ctf)
    out = tmp_path / 'ref.pkl'
    rots_ref, trans_ref = cryodrgn_pickle('parse_pose_star', out, input=str(tmp_path / 'p.star'), outpkl=str(out), D=None, Apix=None)
    ours_rots, ours_trans = pickle.load(open(tmp_path / 'poses.pkl', 'rb'))
    assert np.allclose(rots_ref, ours_rots, atol=1e-5) and np.allclose(trans_ref, ours_trans, atol=1e-6)
    ctf_ref = cryodrgn_pickle('parse_ctf_star', out, star=str(tmp_path / 'p.star'), o=str(out), png=None, D=None, Apix=None,
                              kv=None, cs=None, w=None, ps=None)
    assert np.allclose(ctf_ref, pickle.load(open(tmp_path / 'ctf.pkl', 'rb')), rtol=1e-6)
