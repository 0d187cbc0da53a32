"""A job never loses work, never mixes runs, never prints a traceback (issue 17): signals, locks, concurrency.

- SIGTERM in the middle of an epoch (what a scheduler sends): the batch finishes, the job exits with status 143 and
  says how to resume, `run.log` tells the truth, and `--load latest` ends with exactly the poses of an uninterrupted run.
- SIGKILL in the middle of an epoch: no half-written checkpoint, and the resume ends with exactly that run's result too;
  the dead job's lock is taken over.
- The command line under SIGTERM: one line naming what was saved and the command that carries on.
- Two jobs started at once into one folder: exactly one runs; the other refuses without touching the folder.
- `--force` with a mistyped input leaves the previous run as it was; an unexpected error prints its traceback and says so.

The one-line errors of single commands (outputs onto inputs, folders, unwritable places, resumes that make no sense)
are rows of the README's bad-input table (tests/test_bad_input.py).
"""
import os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
import torch

from cryodrgn2.simulate import phantom, write_dataset
from cryodrgn2.tables import read_poses

D, N = 32, 200
TINY = dict(hidden=64, layers=2, l_start=8, l_end=12, ramp_epochs=2, search_warmup=2, search_chunk=100, reset_epochs=(3,),
            base_level=1, iters=2, t_extent=4., t_ngrid=8, progress=False)
CLI = [sys.executable, '-m', 'cryodrgn2.cli']


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('faults')
    write_dataset(out, phantom(D), N, snr=1.0, pixel_size=6.0, max_shift_px=2.0, seed=2, progress=False)
    return out


CHILD = textwrap.dedent('''
    import sys, time, torch
    torch.set_num_threads(1)
    from cryodrgn2.jobs import abinit_homo
    from cryodrgn2.runs import Interrupted
    from cryodrgn2.train import Callback
    data, out, epochs, load, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == 'pause'
    class PauseMidEpoch(Callback):
        "Announce the middle of epoch 2, then wait until the signal has been received."
        def before_batch(self, learn):
            if pause and learn.epoch == 2 and learn.iter == len(learn.batches) // 2:
                stop = next(cb for cb in learn.cbs if type(cb).__name__ == 'StopCallback').stop
                open(out + '/MID_EPOCH_2', 'w').close()
                for _ in range(2400):
                    if stop.requested is not None: break
                    time.sleep(0.05)
    try: abinit_homo(data + '/particles.mrcs', data + '/ctf.pkl', out, epochs=epochs, load=None if load == '-' else load,
                     cbs=[PauseMidEpoch()], **TINY)
    except Interrupted as e:
        print(e, file=sys.stderr); sys.exit(e.status)
''')


def _child(dataset, out, epochs, load='-', pause='no'):
    return subprocess.Popen([sys.executable, '-c', f'TINY = {TINY!r}\n' + CHILD, str(dataset), str(out), str(epochs), load, pause],
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path:Path, child, seconds=300):
    deadline = time.time() + seconds
    while not path.exists():
        assert child.poll() is None, f'the job ended before {path.name}: {child.stderr.read()}'
        assert time.time() < deadline, f'{path.name} never appeared'
        time.sleep(0.1)


@pytest.fixture(scope='module')
def straight(dataset, tmp_path_factory):
    "An uninterrupted 4-epoch run: what a stopped and resumed one must end with."
    out = tmp_path_factory.mktemp('straight') / 'run'
    assert _child(dataset, out, 4).wait() == 0
    return out


def _same_result(resumed:Path, straight:Path):
    (r1, s1), (r2, s2) = read_poses(resumed / 'poses.pkl', D), read_poses(straight / 'poses.pkl', D)
    torch.testing.assert_close(r1, r2)
    torch.testing.assert_close(s1, s2)
    h1 = torch.load(resumed / 'weights.3.pt', weights_only=False)['history']
    h2 = torch.load(straight / 'weights.3.pt', weights_only=False)['history']
    assert [r['loss'] for r in h1] == [r['loss'] for r in h2]


def test_sigterm_mid_epoch_then_resume(dataset, straight, tmp_path):
    stopped = tmp_path / 'stopped'
    child = _child(dataset, stopped, 4, pause='pause')
    _wait_for(stopped / 'MID_EPOCH_2', child)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=120) == 128 + signal.SIGTERM
    assert child.stderr.read().strip().splitlines()[-1] == 'interrupted by SIGTERM during epoch 2; epochs up to 1 are saved (weights.1.pt)'
    assert (stopped / 'weights.1.pt').is_file() and not (stopped / 'weights.2.pt').exists()
    assert not (stopped / '.lock').exists()
    log = (stopped / 'run.log').read_text()
    assert 'fit ended; last complete epoch 1' in log and 'stopped: interrupted by SIGTERM during epoch 2' in log
    assert 'fit ended after epoch 2' not in log
    resumed = _child(dataset, stopped, 4, load='latest')
    assert resumed.wait() == 0, resumed.stderr.read()
    _same_result(stopped, straight)


def test_kill_9_mid_epoch_then_resume(dataset, straight, tmp_path):
    killed = tmp_path / 'killed'
    child = _child(dataset, killed, 4, pause='pause')
    _wait_for(killed / 'MID_EPOCH_2', child)
    os.kill(child.pid, signal.SIGKILL); child.wait()
    assert (killed / 'weights.1.pt').is_file() and not (killed / 'weights.2.pt').exists()
    assert not list(killed.glob('.*.tmp'))  # no half-written checkpoint left behind
    resumed = _child(dataset, killed, 4, load='latest')
    assert resumed.wait() == 0, resumed.stderr.read()
    _same_result(killed, straight)
    assert 'resuming from' in (killed / 'run.log').read_text()


def _cli(args, cwd, **kw):
    return subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_cli_sigterm_says_how_to_carry_on(dataset, tmp_path):
    args = ['abinit-homo', str(dataset / 'particles.mrcs'), '--ctf', str(dataset / 'ctf.pkl'), '-o', 'run', '-n', '3']
    job = _cli(args, tmp_path)
    deadline = time.time() + 300
    while 'fit: epochs' not in ((tmp_path / 'run' / 'run.log').read_text() if (tmp_path / 'run' / 'run.log').exists() else ''):
        assert job.poll() is None, job.stderr.read()
        assert time.time() < deadline
        time.sleep(0.1)
    job.send_signal(signal.SIGTERM)
    out, err = job.communicate(timeout=300)
    assert job.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith('cryodrgn2 abinit-homo: interrupted by SIGTERM during epoch 0; no epoch was complete; nothing was saved; '
                           'start again with: cryodrgn2 abinit-homo'), err
    assert last.endswith('-n 3 --force'), last
    assert 'Traceback' not in err and '\r' not in err and '\x1b' not in err  # no progress bars in a file
    log = (tmp_path / 'run' / 'run.log').read_text().splitlines()
    assert log[0].split('  ', 1)[1].startswith('command: ') and 'abinit-homo' in log[0]
    assert any('versions: cryodrgn2' in line for line in log[:4])
    assert not (tmp_path / 'run' / '.lock').exists()


def test_two_jobs_one_folder(dataset, tmp_path):
    args = ['abinit-homo', str(dataset / 'particles.mrcs'), '--ctf', str(dataset / 'ctf.pkl'), '-o', 'run', '-n', '1']
    jobs = [_cli(args, tmp_path) for _ in range(2)]
    results = [(job.wait(timeout=600), *job.communicate()) for job in jobs]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 2], results
    refused = next(err for status, _, err in results if status == 2)
    assert 'cryodrgn2 abinit-homo: error: run: in use by another job (pid' in refused, refused
    assert refused.count('\n') == 1 and 'Traceback' not in refused
    log = (tmp_path / 'run' / 'run.log').read_text()
    assert log.count('command: ') == 1 and log.count('fit: epochs') == 1  # the refused job wrote nothing
    assert (tmp_path / 'run' / 'reconstruct.mrc').is_file() and not (tmp_path / 'run' / '.lock').exists()


def test_force_with_a_mistyped_input_keeps_the_old_run(dataset, tmp_path):
    from cryodrgn2.jobs import abinit_homo
    abinit_homo(dataset / 'particles.mrcs', dataset / 'ctf.pkl', tmp_path / 'run', epochs=1, **TINY)
    before = {p.name: p.read_bytes() for p in (tmp_path / 'run').iterdir()}
    job = _cli(['abinit-homo', 'typo.mrcs', '--ctf', str(dataset / 'ctf.pkl'), '-o', 'run', '--force'], tmp_path)
    out, err = job.communicate(timeout=300)
    assert job.returncode == 2 and err.strip() == 'cryodrgn2 abinit-homo: error: typo.mrcs: file not found', err
    assert {p.name: p.read_bytes() for p in (tmp_path / 'run').iterdir()} == before


def test_kill_9_leaves_a_lock_that_the_resume_takes_over(dataset, tmp_path):
    run = tmp_path / 'run'
    child = _child(dataset, run, 4, pause='pause')
    _wait_for(run / 'MID_EPOCH_2', child)
    os.kill(child.pid, signal.SIGKILL); child.wait()
    assert (run / '.lock').is_file()
    resumed = _child(dataset, run, 3, load='latest')  # fewer epochs than asked before, more than done: allowed
    assert resumed.wait() == 0, resumed.stderr.read()
    assert 'took over the lock of a job that no longer runs (pid' in (run / 'run.log').read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_absent_device_is_one_line(dataset, tmp_path):
    job = _cli(['abinit-homo', str(dataset / 'particles.mrcs'), '-o', 'run', '--device', 'cuda'], tmp_path)
    out, err = job.communicate(timeout=300)
    assert job.returncode == 2 and err.strip() == 'cryodrgn2 abinit-homo: error: --device cuda: this torch was built without CUDA; use --device cpu' \
        or 'no CUDA device is visible' in err, err
    assert not (tmp_path / 'run').exists()  # refused before any work


def test_unexpected_error_shows_its_traceback(monkeypatch, capsys, tmp_path):
    from cryodrgn2 import cli, cli_data
    def boom(args): raise RuntimeError('a bug')
    monkeypatch.setattr(cli_data, '_run_show', boom)
    assert cli.main(['show', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'Traceback' in err and 'RuntimeError: a bug' in err
    assert err.strip().splitlines()[-1].startswith('cryodrgn2 show: unexpected error (RuntimeError): a bug, please report it')


def test_diverged_training_is_one_line_with_what_to_try(monkeypatch, capsys, tmp_path):
    from cryodrgn2 import cli, cli_data
    from cryodrgn2.train import TrainingDiverged
    def diverge(args): raise TrainingDiverged('loss diverged (nan, previous epoch 2.1) at epoch 1, batch 3; last good checkpoint: run/weights.0.pt')
    monkeypatch.setattr(cli_data, '_run_show', diverge)
    assert cli.main(['show', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('cryodrgn2 show: error: loss diverged (nan') and 'Check the images' in err[0], err
