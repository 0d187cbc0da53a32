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


_MD_LINK = re.compile(r'\[(`[^`\n]+`)\]\(https?://[^)\s]+\)')


def unlink_code(cell) -> None:
    """nbdev's `add_links` links every backticked name in a markdown output line by line, also inside the fenced code of a
    show_doc signature (a parameter's comment naming a function in backticks), where the link shows as raw markdown
    and makes the line ~60 characters longer: put those names back as they were written."""
    for o in cell.get('outputs', []):
        md = o.get('data', {}).get('text/markdown')
        if not md or '```' not in ''.join(md): continue
        lines, fenced = [], False
        for line in (md if isinstance(md, list) else md.splitlines(True)):
            if line.lstrip().startswith('```'): fenced = not fenced
            elif fenced: line = _MD_LINK.sub(r'\1', line)
            lines.append(line)
        o['data']['text/markdown'] = lines if isinstance(md, list) else ''.join(lines)


def page_names(nbs: Path) -> dict[str, str]:
    "Each notebook's page: `00_geometry.ipynb` -> `geometry.html` (nbdev names a module's page after the module)."
    names = {}
    for f in nbs.glob('*.ipynb'):
        code = [''.join(c['source']) for c in json.loads(f.read_text())['cells'] if c['cell_type'] == 'code']
        m = next((m for src in code for m in [re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)] if m), None)
        names[f.name] = (m.group(1).split('.')[-1] if m else f.stem) + '.html'
    return names


_NB_LINK = re.compile(r'\]\((?:\./)?([\w-]+\.ipynb)(#[^)\s]*)?\)')


def notebook_links(pages: dict[str, str]):
    "A processor: a markdown link to another notebook (`[Pose search](10_pose.ipynb)`, as it works in Jupyter) to its page."
    def link(cell):
        if cell.cell_type == 'markdown' and '.ipynb' in cell.source:
            cell.source = _NB_LINK.sub(lambda m: f']({pages.get(m.group(1), m.group(1))}{m.group(2) or ""})', cell.source)
    return link


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
             rm_header_dash, clean_show_doc, rm_export, ai_magics, clean_magics, hide_, add_links, unlink_code,
             notebook_links(page_names(src.parent)),
             add_fold, mv_exports, strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs).process()
    out = getattr(nb, 'frontmatter_', {}).get('output-file')
    dst = proc / (Path(out).with_suffix('.ipynb').name if out else src.name)
    write_nb(nb, dst)
    return src.name, dst.name, time.time() - t0


STAGE2 = '# ' + '-' * 64 + ' stage 2'  # the line that starts stage 2 (written so that it is not that line itself)


def _fingerprint(nb: Path) -> str:
    """What a notebook's executed page depends on: itself, the package, and stage 1 of this script (everything above
    the stage 2 line: a change to how pages are rendered does not execute the notebooks again)."""
    import hashlib
    h = hashlib.sha256(nb.read_bytes())
    for f in sorted((ROOT / 'cryodrgn2').glob('*.py')): h.update(f.read_bytes())
    h.update(Path(__file__).read_text().split(STAGE2)[0].encode())
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
    shutil.copy(ROOT / 'nbs' / 'styles.css', proc / 'styles.css')  # the site's own CSS (`css:` in _quarto.yml), where nbdev keeps it
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


_CODE = re.compile(r'(<pre\b[^>]*>\s*<code\b[^>]*>)(.*?)(</code>\s*</pre>)', re.S)
_TAG = re.compile(r'<(/?)([a-zA-Z][\w-]*)\b[^>]*>')
_FLAG = re.compile(r'(?<![\w-])(--?[A-Za-z][\w-]*)')  # a command-line flag: a browser would break it after its dashes


def _nobreak_flags(line: str) -> str:
    "Each `--flag` in the text of a highlighted line (not in its tags) in a span.sd-nobr, which wraps only as a whole."
    parts = re.split(r'(<[^>]*>)', line)
    return ''.join(p if p.startswith('<') else _FLAG.sub(r'<span class="sd-nobr">\1</span>', p) for p in parts)


def code_lines(page: str) -> str:
    """Every line of every code block in its own `<span class="sd-line" style="--indent:N">` (N: its leading spaces),
    so that a line too long for the column wraps under its own indentation, plus a hanging indent (nbs/styles.css),
    instead of running off the page. Highlighting spans that run over several lines are closed at each line's end and
    opened again on the next; the newlines stay between the spans, so copying a block gives the code as written.
    A `--flag` wraps as a whole (`_nobreak_flags`)."""
    def split(m):
        stack, out = [], []
        for line in m.group(2).split('\n'):
            text = html.unescape(re.sub(r'<[^>]*>', '', line))
            indent = len(text) - len(text.lstrip(' '))
            opened = ''.join(t.group(0) for t in stack)
            for t in _TAG.finditer(line):
                if t.group(0).endswith('/>'): continue
                if not t.group(1): stack.append(t)
                elif stack: stack.pop()
            closed = ''.join(f'</{t.group(2)}>' for t in reversed(stack))
            out.append(f'<span class="sd-line" style="--indent:{indent}">{opened}{_nobreak_flags(line)}{closed}</span>' if line else '')
        return m.group(1) + '\n'.join(out) + m.group(3)
    return _CODE.sub(split, page)


_API_LINK = re.compile(r'<a href="([\w-]+\.html)#([^"]+)">(<code>[^<]*</code>)</a>')


def unlink_missing(out: Path) -> int:
    """nbdev links every backticked name that its index knows (`[`_run_job`](train.html#_run_job)`), also names with no
    entry on the page (a private function, a method documented inside its class): show those as plain code rather than
    as a link to nowhere. Links written by hand are left alone (tests/test_site.py checks them). Returns how many."""
    ids = {p.name: set(re.findall(r'\sid="([^"]+)"', p.read_text())) for p in out.glob('*.html')}
    n = 0
    for page in out.glob('*.html'):
        text = page.read_text()
        def unlink(m):
            nonlocal n
            if m.group(1) in ids and m.group(2) not in ids[m.group(1)]:
                n += 1
                return m.group(3)
            return m.group(0)
        new = _API_LINK.sub(unlink, text)
        if new != text: page.write_text(new)
    return n


def command_search(out: Path) -> int:
    """Add to the site's search.json one entry per `cryodrgn2` command (section `cryodrgn2 CMD`, text its usage and
    help), pointing at the section of the command-line pages (cli, cli_data) that lists it (else the index's command list): the search
    finds a command by its name, as it finds a function by its API entry. Returns the number of commands."""
    import argparse
    from cryodrgn2.cli import build_parser
    index = out / 'search.json'
    entries = json.loads(index.read_text())
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or '' for a in sub._choices_actions}
    sections = {e['href']: [c.strip() for c in e['section'].split(',')] for e in entries
                if e['href'].startswith(('cli.html#', 'cli_data.html#'))}
    for cmd, parser in sub.choices.items():
        href = next((h for h, names in sections.items() if cmd in names), 'index.html#command-line')
        page = next((e['title'] for e in entries if e['href'].split('#')[0] == href.split('#')[0]), 'Command line')
        usage = ' '.join(parser.format_usage().split())
        entries.append(dict(objectID=f'command:{cmd}', href=href, title=page, section=f'cryodrgn2 {cmd}',
                            text=f'{helps.get(cmd, "")} {usage}'.strip()))
    index.write_text(json.dumps(entries, ensure_ascii=False))
    return len(sub.choices)


def stage_render(proc: Path, out: Path) -> int:
    """Stage 2: render the Quarto project proc/ with smalldocs into out/, then make it self-contained: formulas with the
    local MathJax (smalldocs links KaTeX from a CDN), no web-font @import in the theme, and links to the API of other
    pages (nbdev writes them with the absolute doc_host URL) made relative; each code line in a span of its own
    (`code_lines`), for wrapping; nbdev's links to API entries that do not exist shown as plain code (`unlink_missing`);
    every `cryodrgn2` command added to the search (`command_search`). Returns the page count."""
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
        text = code_lines(text)
        page.write_text(text)
        n += 1
    for css in built.rglob('*.css'):
        text = css.read_text()
        if '@import url(http' in text: css.write_text(re.sub(r'@import url\(https?://[^)]*\);?', '', text))
    if out.exists(): shutil.rmtree(out)
    shutil.move(str(built), str(out))
    unlink_missing(out)
    command_search(out)
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
