"""Run the notebooks and keep their small text outputs (shapes, numbers, short tables) in the committed files.

    python tools/fill_outputs.py                 # every notebook in nbs/
    python tools/fill_outputs.py nbs/10_pose.ipynb ...

A reader on GitHub then sees what each example gives. Cells run as `nbdev_test` runs them (cells flagged with
settings.ini's `tst_flags`, e.g. `#| slow`, and `#| eval: false` are skipped). Only plain text is kept, at most
`MAX_LINES` lines per output: figures, widgets, HTML and warnings or progress on stderr are left to the website,
which executes the notebooks itself (tools/build_site.py). Run `nbdev_clean` afterwards.
"""
from __future__ import annotations
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES, MAX_CHARS = 25, 3000
PLAIN = {'text/plain', 'text/html'}  # results shown as text here; anything else (figures, widgets) is left to the website


def _short(text: str) -> str:
    lines = text.rstrip('\n').split('\n')
    text = '\n'.join(lines[:MAX_LINES]) + ('\n...' if len(lines) > MAX_LINES else '')
    return text[:MAX_CHARS] + ('...' if len(text) > MAX_CHARS else '')


def text_outputs(outputs: list) -> list:
    "The plain-text part of a cell's outputs, shortened; everything else dropped."
    kept = []
    for out in outputs:
        kind = out.get('output_type')
        if kind == 'stream' and out.get('name') == 'stdout':
            text = ''.join(out.get('text', ''))
            if '\r' not in text: kept.append(dict(output_type='stream', name='stdout', text=_short(text)))
        elif kind == 'execute_result':
            data = out.get('data', {})
            if 'text/plain' in data and set(data) <= PLAIN:  # a table's HTML twin is dropped; figures and widgets are not plain
                kept.append(dict(output_type='execute_result', data={'text/plain': _short(''.join(data['text/plain']))},
                                 metadata={}, execution_count=None))
    return kept


def fill(path: Path) -> str:
    "Execute one notebook and write its text outputs into it."
    import os
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    os.environ['IN_TEST'] = '1'
    flags = set(get_config().tst_flags.split())
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb

    def skip(cell):
        if cell.cell_type != 'code': return True
        direc = getattr(cell, 'directives_', {}) or {}
        return direc.get('eval:', [''])[0].lower() == 'false' or bool(flags & direc.keys())

    shell = CaptureShell(path)
    with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=skip)
    outputs = {c.get('id'): c.get('outputs', []) for c in nb.cells}
    raw = json.loads(path.read_text())
    for cell in raw['cells']:
        if cell['cell_type'] == 'code': cell['outputs'] = text_outputs(outputs.get(cell.get('id'), []))
    path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n')
    return f'{path.name}: {sum(bool(c.get("outputs")) for c in raw["cells"])} cells with text output'


def _one_process(path: Path) -> str:
    "Fill one notebook in its own Python process (an IPython shell takes over its process's __main__)."
    done = subprocess.run([sys.executable, __file__, str(path)], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else f'{path.name}: FAILED\n{done.stderr[-2000:]}'


if __name__ == '__main__':
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    if len(paths) == 1: print(fill(paths[0]))
    else:
        with ThreadPoolExecutor(2) as pool:
            for line in pool.map(_one_process, paths): print(line)
