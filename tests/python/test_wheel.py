"""`pip wheel .` gives one py3 wheel for the platform that installs into a fresh venv and runs there,
outside the source tree, with nothing but the standard library."""
import glob
import os
import subprocess
import sys
import venv

from conftest import ROOT


def test_wheel_builds_installs_and_runs(tmp_path, model):
    dist = tmp_path / "dist"
    env = dict(os.environ)
    env.pop("LLMC_LIBRARY", None)
    env.pop("PYTHONPATH", None)
    # CUDA off keeps the test's build short; the wheel is otherwise the same
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", str(dist), "-q",
                        "-C", "cmake.define.LLMC_CUDA=OFF", "-C", f"build-dir={tmp_path / 'build'}"],
                       capture_output=True, text=True, env=env, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = glob.glob(str(dist / "llmc-*.whl"))
    assert len(wheels) == 1, wheels
    assert "-py3-none-" in os.path.basename(wheels[0]), wheels[0]  # one wheel per platform, any Python 3
    v = tmp_path / "venv"
    venv.create(v, with_pip=True)
    py = str(v / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", wheels[0]], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    code = ("import llmc; p = llmc.pipeline('text-generation', model=%r, n_threads=2); "
            "print(llmc.__file__); print(p('Hello', max_new_tokens=3, do_sample=False)[0]['generated_text'])" % model)
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    where, text = r.stdout.splitlines()[:2]
    assert where.startswith(str(v)) and text.startswith("Hello")
