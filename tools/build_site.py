"""Build the documentation website from nbs/, offline, in pure Python.

    python tools/build_site.py            # -> _proc/ (executed, nbdev-processed notebooks) and _site/ (the website)
    python tools/build_site.py --serve    # build, then serve _site on http://127.0.0.1:8000

Two stages:

1. Execute and process (the nbdev step). Every notebook in nbs/ goes through nbdev's own docs processors (the ones
   `nbdev_docs` runs: show_doc cells after every exported function, `#| hide` and `#| export` cells removed,
   Quarto cell options kept), except that nbdev's `exec_show_docs` (which runs only imports, exports and show_doc
   cells, so pages show just the outputs committed in git) is replaced by `ExecAll`, which runs every cell the way
   `nbdev_test` does (cells flagged with settings.ini `tst_flags`, e.g. `#| slow`, and `#| eval: false` are not run).
   Notebooks are committed without outputs; this is where outputs come from. Plotly figures become a `<div>`
   plus a call to the page's local plotly.js; ipywidgets become a static snapshot (their plotly figures drawn,
   their controls shown disabled). The result, `_proc/`, is a Quarto project: `quarto render _proc` would also
   build it where Quarto exists.
2. Render `_proc/` to `_site/` with smalldocs, which renders a Quarto website project (_quarto.yml, notebooks with
   their outputs, Quarto cell options) in pure Python; or with Quarto itself (`--quarto`) where it is installed.
   All assets are local: plotly.js from the installed plotly package, MathJax 2.7 from the jupyter-server-mathjax
   package (smalldocs's CDN KaTeX tags are swapped for it), no web fonts. No request leaves the machine.
"""
from __future__ import annotations
import argparse, html, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLOTLY_MARK = 'cryodrgn2-plotly'         # class of every figure div the build writes
SLOW_CELL = 10.0                         # seconds: cells slower than this are named in the build log


# ---------------------------------------------------------------- stage 1: execute and process notebooks
def _figure_html(fig) -> str:
    "A plotly figure as a div plus the script that draws it with the page's plotly.js (loaded in the page head)."
    import plotly.io as pio
    div = pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False, default_height='450px',
                      config={'displaylogo': False})
    return f'<div class="{PLOTLY_MARK}" style="overflow-x:auto">{div}</div>'


def _widget_html(w) -> str:
    "Static snapshot of an ipywidget: plotly FigureWidgets drawn, boxes laid out, controls shown disabled."
    import ipywidgets as widgets
    from plotly.basedatatypes import BaseFigure
    import plotly.graph_objects as go
    if isinstance(w, BaseFigure): return _figure_html(go.Figure(w))
    if isinstance(w, widgets.Box):
        direction = 'row' if isinstance(w, widgets.HBox) else 'column'
        inner = ''.join(_widget_html(c) for c in w.children)
        return f'<div style="display:flex;flex-direction:{direction};gap:0.5em;flex-wrap:wrap">{inner}</div>'
    desc = html.escape(str(getattr(w, 'description', '') or ''))
    label = f'<label style="margin-right:0.4em">{desc}</label>' if desc else ''
    if isinstance(w, (widgets.IntSlider, widgets.FloatSlider)):
        return (f'<span>{label}<input type="range" disabled min="{w.min}" max="{w.max}" step="{w.step}" value="{w.value}">'
                f' <code>{w.value}</code></span>')
    if isinstance(w, widgets.Dropdown):
        opts = ''.join(f'<option{" selected" if lab == w.label else ""}>{html.escape(str(lab))}</option>' for lab in w._options_labels)
        return f'<span>{label}<select disabled>{opts}</select></span>'
    if isinstance(w, (widgets.HTML, widgets.Label)): return f'<span>{w.value}</span>'
    if hasattr(w, 'value'): return f'<span>{label}<code>{html.escape(str(w.value))}</code></span>'
    return f'<span>{html.escape(type(w).__name__)}</span>'


_LIVE = {}  # widgets shown by the running cell: snapshotted again when the cell ends (widgets update in place)
_WIDGET = re.compile(r'<div class="widget-static" data-widget="(\w+)">.*?<!--/widget-->', re.S)


def _widget_static(w) -> str:
    note = ('<p class="widget-static-note"><small>Static snapshot of an interactive widget, as it was at the end of '
            'its cell: run the notebook in Jupyter to use its controls.</small></p>')
    return f'<div class="widget-static" data-widget="{w.model_id}">{_widget_html(w)}{note}</div><!--/widget-->'


def _widget_bundle(w, include=None, exclude=None):
    _LIVE[w.model_id] = w
    return {'text/html': _widget_static(w), 'text/plain': repr(w)}


def _resnap_widgets(cell) -> None:
    "Replace the snapshots of the widgets a cell showed by their state at the end of the cell."
    for o in cell.get('outputs', []):
        h = o.get('data', {}).get('text/html')
        if h is None: continue
        text = ''.join(h) if isinstance(h, list) else h
        if 'data-widget=' not in text: continue
        new = _WIDGET.sub(lambda m: _widget_static(_LIVE[m.group(1)]) if m.group(1) in _LIVE else m.group(0), text)
        o['data']['text/html'] = new.splitlines(True) if isinstance(h, list) else new
    _LIVE.clear()


def _figure_bundle(fig, include=None, exclude=None):
    return {'text/html': _figure_html(fig), 'text/plain': f'<plotly figure: {len(fig.data)} traces>'}


SETUP = """
from nbdev.showdoc import show_doc
"""


def _setup_shell(k):
    "Make the shell display plotly figures as local-plotly.js HTML and widgets as static snapshots."
    k.run_cell(SETUP)
    from plotly.basedatatypes import BaseFigure
    import ipywidgets
    # plotly figures display themselves through `_ipython_display_` and plotly's renderers (plotly.js from a CDN):
    # switch that path off so that they, like everything else, go through the mime-bundle formatters below
    k.display_formatter.ipython_display_formatter.enabled = False
    f = k.display_formatter.mimebundle_formatter
    f.for_type(BaseFigure, lambda fig: (_widget_bundle if isinstance(fig, ipywidgets.Widget) else _figure_bundle)(fig))
    f.for_type(ipywidgets.Widget, _widget_bundle)


def _exec_proc(skip_flags):
    from nbdev.processors import Processor
    from execnb.shell import CaptureShell

    class ExecAll(Processor):
        "Run every code cell as nbdev_test does (skipping `eval: false` and flagged cells); raise on the first error."
        def begin(self):
            self.k = CaptureShell(self.nb.path_ if hasattr(self.nb, 'path_') else None)
            _setup_shell(self.k)
        def __call__(self, cell):
            if cell.cell_type != 'code' or not cell.source.strip(): return
            d = getattr(cell, 'directives_', {}) or {}
            if d.get('eval:', [''])[0].lower() == 'false' or set(skip_flags) & d.keys(): return
            t0 = time.time()
            self.k.cell(cell)
            _resnap_widgets(cell)
            dt = time.time() - t0
            if dt > SLOW_CELL:
                first = next((l for l in cell.source.splitlines() if l.strip() and not l.startswith('#|')), '')
                print(f'    slow cell: {Path(str(getattr(self.nb, "path_", "?"))).name} cell {cell.idx_}: {dt:.1f} s: {first[:70]}', flush=True)
            if self.k.exc:
                raise RuntimeError(f'cell {cell.idx_} failed:\n{cell.source}\n' + self.k.prettytb(fname=str(getattr(self.nb, 'path_', 'notebook')))) from self.k.exc
        def end(self):
            self.k.reset(new_session=False)  # the worker goes on to the next notebook: drop this one's objects
    return ExecAll


def process_notebook(src: str, proc: str, threads: int = 0) -> tuple[str, str, float]:
    """Execute and nbdev-process one notebook (in a worker process) into folder `proc`, named after its `output-file`
    (00_geometry.ipynb -> geometry.ipynb, so pages keep nbdev's URLs: geometry.html). Returns (source, written, seconds)."""
    t0 = time.time()
    src, proc = Path(src), Path(proc)
    os.chdir(src.parent)
    if threads:  # share the cores between the workers instead of each torch using all of them
        import torch
        torch.set_num_threads(threads)
    from execnb.nbio import read_nb, write_nb
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.processors import (populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_,
                                  rm_header_dash, clean_show_doc, rm_export, ai_magics, clean_magics, hide_,
                                  add_links, add_fold, mv_exports, strip_hidden_metadata)
    skip = get_config().get('tst_flags', '').split()
    nb = read_nb(src)
    nb.path_ = src
    # nbdev's FilterDefaults.base_procs, with exec_show_docs replaced by ExecAll (run before the output cleaners)
    procs = [FrontmatterProc, populate_language, add_show_docs, _exec_proc(skip), strip_ansi, hide_line, filter_stream_,
             rm_header_dash, clean_show_doc, rm_export, ai_magics, clean_magics, hide_, add_links, add_fold,
             mv_exports, strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs).process()
    out = getattr(nb, 'frontmatter_', {}).get('output-file')
    dst = proc / (Path(out).with_suffix('.ipynb').name if out else src.name)
    write_nb(nb, dst)
    return src.name, dst.name, time.time() - t0


def _fingerprint(nb: Path) -> str:
    "What a notebook's executed page depends on: itself, the package, and this script."
    import hashlib
    h = hashlib.sha256(nb.read_bytes())
    for f in sorted((ROOT / 'cryodrgn2').glob('*.py')) + [Path(__file__)]: h.update(f.read_bytes())
    return h.hexdigest()


def stage_proc(nbs: Path, proc: Path, jobs: int, force: bool = False) -> list[str]:
    """Stage 1: nbs/*.ipynb -> proc/*.ipynb (executed and processed). A notebook whose fingerprint is unchanged since the
    last build is not run again (unless `force`). Returns the processed notebooks' names in nbs/ order."""
    files = sorted(nbs.glob('*.ipynb'))
    proc.mkdir(parents=True, exist_ok=True)
    cache_file = proc / '.build-cache.json'
    cache = {} if force or not cache_file.exists() else json.loads(cache_file.read_text())
    todo = [f for f in files if f.name not in cache or cache[f.name]['key'] != _fingerprint(f)
            or not (proc / cache[f.name]['out']).exists()]
    todo.sort(key=lambda f: -cache.get(f.name, {}).get('seconds', f.stat().st_size / 1000))  # longest first
    for f in files:
        if f not in todo: print(f'  unchanged {f.name}')
    sys.path.insert(0, str(Path(__file__).parent))
    import build_site  # a module-level function, picklable whatever __main__ is
    failed = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context('fork')) as ex:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        futs = {ex.submit(build_site.process_notebook, str(f), str(proc), threads): (f, _fingerprint(f)) for f in todo}
        for fu in as_completed(futs):
            f, key = futs[fu]
            try: name, out, dt = fu.result()
            except Exception as e:
                failed.append(f.name)
                print(f'  FAILED    {f.name}: {e}', flush=True)
                ex.shutdown(wait=False, cancel_futures=True)
                continue
            cache[name] = dict(key=key, out=out, seconds=round(dt, 1))
            cache_file.write_text(json.dumps(cache, indent=1))
            print(f'  executed  {name:24s} {dt:5.1f} s', flush=True)
    if failed: sys.exit(f'site build stopped: {", ".join(failed)} failed (see above)')
    names = [cache[f.name]['out'] for f in files]
    for stale in set(p.name for p in proc.glob('*.ipynb')) - set(names): (proc / stale).unlink()
    return names


def write_quarto_files(proc: Path, pages: list[str]) -> None:
    """The Quarto project around the processed notebooks, as nbdev_docs makes it (_quarto.yml, nbdev.yml, sidebar.yml
    with the pages in notebook order, index first), plus assets/: plotly.js and MathJax."""
    import yaml
    from nbdev.config import get_config
    from nbdev.quarto import _nbdev_yml, IndentDumper
    cfg = get_config()
    shutil.copy(ROOT / '_quarto.yml', proc / '_quarto.yml')
    vals = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    (proc / 'nbdev.yml').write_text(_nbdev_yml.format(doc_path='_docs', **vals))
    pages = sorted(pages, key=lambda p: p != 'index.ipynb')
    sidebar = {'website': {'sidebar': {'contents': pages}}}
    (proc / 'sidebar.yml').write_text(yaml.dump(sidebar, Dumper=IndentDumper, sort_keys=False))
    assets = proc / 'assets'
    if assets.exists(): shutil.rmtree(assets)
    assets.mkdir()
    shutil.copy(plotly_js(), assets / 'plotly.min.js')
    shutil.copytree(mathjax_dir(), assets / 'mathjax', ignore=_mathjax_unused)


def plotly_js() -> Path:
    "plotly.js as shipped inside the installed plotly package (the version that made the figures)."
    import plotly
    return Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js'


def mathjax_dir() -> Path:
    "MathJax 2.7 as shipped inside the jupyter-server-mathjax package."
    import jupyter_server_mathjax
    return Path(jupyter_server_mathjax.__file__).parent / 'static'


def _mathjax_unused(folder, names):
    "Leave out MathJax's translations (all but English) and the SVG output (HTML-CSS is used)."
    folder = Path(folder)
    if folder.name == 'localization': return [n for n in names if n != 'en']
    if folder.name == 'output': return [n for n in names if n == 'SVG']
    return []


# ---------------------------------------------------------------- stage 2: render the site
KATEX_TAGS = re.compile(r'<link[^>]*katex[^>]*>|<script[^>]*katex[^>]*></script>')


def _math_head(proc: Path) -> str:
    "The MathJax tags for a page with formulas, from _quarto.yml's html-math-method (the same URL Quarto uses)."
    import yaml
    url = yaml.safe_load((proc / '_quarto.yml').read_text())['format']['html']['html-math-method']['url']
    config = ('MathJax.Hub.Config({tex2jax: {inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]], '
              'processEscapes: true}, "HTML-CSS": {imageFont: null, availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", '
              'webFont: "STIX-Web"}, menuSettings: {zoom: "None"}, showMathMenu: false});')
    return f'<script type="text/x-mathjax-config">{config}</script><script src="{url}"></script>'


def stage_render(proc: Path, out: Path) -> int:
    """Stage 2: render the Quarto project proc/ with smalldocs into out/, then make it self-contained: formulas with the
    local MathJax (smalldocs links KaTeX from a CDN), no web-font @import in the theme, and links to the API of other
    pages (nbdev writes them with the absolute doc_host URL) made relative. Returns the page count."""
    from nbdev.config import get_config
    from smalldocs.site import build
    cfg = get_config()
    site = build(proc, quiet=True)
    for w in site.warnings:
        if 'output-file is not read' not in w and 'html-math-method is ignored' not in w: print(f'  warning: {w}')
    built, math, n = proc / '_docs', _math_head(proc), 0
    home = f'href="{cfg.doc_host}{cfg.doc_baseurl}/'
    for page in built.rglob('*.html'):
        text = page.read_text().replace(home, 'href="')
        if 'katex' in text: text = KATEX_TAGS.sub('', text).replace('</head>', math + '</head>', 1)
        page.write_text(text)
        n += 1
    for css in built.rglob('*.css'):
        text = css.read_text()
        if '@import url(http' in text: css.write_text(re.sub(r'@import url\(https?://[^)]*\);?', '', text))
    if out.exists(): shutil.rmtree(out)
    shutil.move(str(built), str(out))
    return n


def serve(folder: Path, port: int = 0) -> tuple:
    "Serve `folder` on 127.0.0.1 (port 0: a free one) in a background thread; returns (server, url)."
    import functools, http.server, threading
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}/'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--jobs', type=int, default=2, help='notebooks executed in parallel')
    ap.add_argument('--proc', default=str(ROOT / '_proc'))
    ap.add_argument('--out', default=str(ROOT / '_site'))
    ap.add_argument('--force', action='store_true', help='execute every notebook, even those unchanged since the last build')
    ap.add_argument('--quarto', action='store_true', help='render with Quarto (if installed) instead of smalldocs')
    ap.add_argument('--serve', action='store_true', help='then serve the site on 127.0.0.1')
    ap.add_argument('--port', type=int, default=8000)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    t0 = time.time()
    print('== executing and processing notebooks', flush=True)
    pages = stage_proc(ROOT / 'nbs', Path(args.proc), args.jobs, args.force)
    write_quarto_files(Path(args.proc), pages)
    if args.quarto:  # the nbdev/Quarto renderer, where Quarto is installed: same project, same pages
        if not shutil.which('quarto'): sys.exit('--quarto: the quarto command is not installed')
        print(f'== rendering {args.proc} with Quarto', flush=True)
        subprocess.run(['quarto', 'render', str(args.proc)], check=True)
        if Path(args.out).exists(): shutil.rmtree(args.out)
        shutil.move(str(Path(args.proc) / '_docs'), args.out)
        n = len(list(Path(args.out).glob('*.html')))
    else:
        print(f'== rendering {args.proc} with smalldocs', flush=True)
        n = stage_render(Path(args.proc), Path(args.out))
    print(f'== {n} pages in {args.out}, built in {time.time() - t0:.1f} s')
    if args.serve:
        srv, url = serve(Path(args.out), args.port)
        print(f'serving on {url} (Ctrl-C stops)')
        try: srv.serve_forever()
        except KeyboardInterrupt: pass


if __name__ == '__main__':
    main()
