"""What the benchmark scripts share."""
import subprocess, time


def run(cmd, env, **kw):
    "Run `cmd` with environment `env`; its stdout and wall seconds; a RuntimeError with its stderr's end if it fails."
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if out.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{out.stderr[-3000:]}")
    return out.stdout, time.perf_counter() - start
