"""`bench report` in headless Chromium: a database with profiled validation
runs (copied from benchdb_validate_e2e's, else made here) and a small
matrix in two precisions is written as a page; the page is checked to be
self-contained (no http(s) URLs, no scripts), opened in Chromium with
--dump-dom (every plot's SVG and series paths present, no console errors
in Chromium's log) and a screenshot kept beside it as the test's artifact.
Exits 77 (skipped) when Chromium is not installed or cannot start here,
never passing without it.
Usage: report_test.py CLI MODEL WORKDIR"""
import os
import re
import shutil
import subprocess
import sys

cli, model, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
db = os.path.join(work, "bench.db")


def run(*args):
    p = subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit(f"{args} failed ({p.returncode}): {p.stderr}")
    return p


# Profiled runs for the predicted-against-measured plot: bench validate's,
# short (every grid point once at 0.2 s).
run("bench", "validate", "--model", model, "--batch-sizes", "1,4", "--seq-lens", "16,32", "--threads", "1",
    "--time-limit", "0.2", "--db", db, "-q")
run("bench", "--model", model, "-b", "1,4,16", "-s", "16", "--threads", "1", "--precision", "fp32,int8",
    "--time-limit", "0.2", "--min-samples", "3", "--db", db, "-q")
page = os.path.join(work, "report.html")
p = run("bench", "report", "-o", page, "--db", db)
html = open(page, encoding="utf-8").read()
assert html.startswith("<!DOCTYPE html>"), html[:100]
assert not re.search(r"(src|href)\s*=\s*\"?(https?:)?//", html), "an external resource"
assert "<script" not in html
# throughput (one model), latency, predicted, history
assert html.count("<svg") == 4, (html.count("<svg"), p.stderr)
m = re.search(r"(\d+) predicted points", p.stderr)
assert m and int(m.group(1)) > 0, p.stderr
p = subprocess.run([cli, "bench", "report", "-o", page, "--db", os.path.join(work, "none.db")],
                   capture_output=True, text=True)
assert p.returncode == 1 and "none.db" in p.stderr, p.stderr

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    print("SKIP: chromium is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)
flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--user-data-dir=" + os.path.join(work, "profile"), "--enable-logging=stderr", "--v=0"]
url = "file://" + os.path.abspath(page)
try:
    d = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
except (OSError, subprocess.TimeoutExpired) as e:
    print(f"SKIP: chromium cannot run here: {e}")
    sys.exit(77)
if d.returncode != 0 or "<svg" not in d.stdout:
    print(f"SKIP: chromium cannot run here (exit {d.returncode}): {d.stderr[-1500:]}")
    sys.exit(77)
dom = d.stdout
assert dom.count("<svg") == 4, dom.count("<svg")
series = dom.count('class="series"')
assert series >= 4, series  # 2 throughput lines, latency rows, history lines
assert "class=\"diagonal\"" in dom and dom.count("<circle") > 10
console = [ln for ln in d.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
assert not console, console
shot = os.path.join(work, "report.png")
s = subprocess.run(flags + ["--screenshot=" + shot, "--window-size=1000,2400", url], capture_output=True,
                   text=True, timeout=120)
assert s.returncode == 0 and os.path.getsize(shot) > 10000, (s.returncode, s.stderr[-1500:])
print(f"report_test: ok ({series} series paths; screenshot {shot})")
