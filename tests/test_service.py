"""`edgecam service`: the unit's text read back by the real `systemd-analyze verify`, its file
written and removed in a folder of the test's, the command line checked before anything is
written, and the one line a machine without a running systemd gets (this one: a container)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgecam.service.install import plan, remove_unit, token_note, write_unit
from edgecam.service.systemd import BOOTED
from edgecam.service.unit import executable, quote
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, run_cli

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not installed (scripts/system-deps installs systemd)")
no_systemd_here = pytest.mark.skipif(
    BOOTED.is_dir(), reason="systemd runs here: install would install for real")

# every character systemd treats specially in a command line, and a few it does not
NASTY = ["live", "--source", "rtsp://user:p@ss@cam/live?a=1&b=%20", "--sink", "we ird \"q\" 'x'",
         "--sink", "$HOME ${USER} $$", "--sink", "back\\slash\\", "--sink", ";", "--sink", "a;b",
         "--sink", "new\nline\ttab", "--sink", "ünïcödé", "--threshold", "gate open=0.8",
         "--sink", "", "--sink", "%h%n%%"]


def verify(unit_file: Path, per_user: bool, tmp_path: Path) -> list[str]:
    """What the real `systemd-analyze verify` says about ``unit_file`` (the lines naming it:
    the machine's own units may have warnings of their own)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    proc = subprocess.run([ANALYZE, "verify", "--man=no", *(["--user"] if per_user else []),
                           str(unit_file)], capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    said = [line for line in (proc.stdout + proc.stderr).splitlines()
            if unit_file.name in line or unit_file.stem in line]
    return said + ([f"exit {proc.returncode}"] if proc.returncode else [])


def test_words_are_quoted_as_systemd_reads_them():
    assert quote("--source") == "--source"
    assert quote("0.0.0.0:8080") == "0.0.0.0:8080"
    assert quote("100%") == "100%%"  # a specifier otherwise
    assert quote("$HOME") == "$$HOME"  # a variable otherwise
    assert quote("$HOME", variables=False) == "$HOME"  # Environment= expands none
    assert quote("a b") == '"a b"'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("back\\slash") == '"back\\\\slash"'
    assert quote("two\nlines\t\x01") == '"two\\nlines\\t\\x01"'
    assert quote(";") == '";"'  # a lone unquoted ; separates commands
    assert quote("") == '""'
    assert executable("/home/pi/my venv/bin/python") == '"/home/pi/my venv/bin/python"'
    assert executable("/opt/100%/python") == "/opt/100%%/python"
    assert executable("/opt/a$b/python") == "/opt/a$b/python"  # never expanded there
    with pytest.raises(EdgecamError, match="quotes, backslashes"):
        executable('/opt/a"b/python')


@needs_analyze
@pytest.mark.parametrize("per_user", [False, True], ids=["system", "user"])
def test_the_unit_passes_systemd_analyze_verify(tmp_path, per_user):
    # a venv whose path has a space and a percent sign: systemd must find the interpreter
    # there, so a wrong quoting of the executable fails the verification
    venv = tmp_path / "my %venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    unit = plan(NASTY, name="gate-1", per_user=per_user, watchdog_s=45,
                environ={"EDGECAM_MODELS": str(tmp_path / "my models %d"), "SUDO_USER": ""},
                python=str(venv / "python"), workdir=str(tmp_path / "site 100%"))
    path, replaced = write_unit(tmp_path / "units", unit)
    assert not replaced and path.name == "gate-1.service"
    assert verify(path, per_user, tmp_path) == []
    text = path.read_text()
    assert f'ExecStart="{tmp_path}/my %%venv/bin/python" -m edgecam live --source ' in text
    assert "WatchdogSec=45\n" in text and "Type=notify\n" in text
    assert "NotifyAccess=main\n" in text and "Restart=on-failure\n" in text
    assert f"WorkingDirectory={tmp_path}/site 100%%\n" in text
    assert f'Environment="EDGECAM_MODELS={tmp_path}/my models %%d"\n' in text
    assert "p@ss" not in text.split("ExecStart=")[0]  # the description hides the password
    if per_user:
        assert "User=" not in text and "WantedBy=default.target" in text
    else:
        assert "User=root\n" in text and "WantedBy=multi-user.target" in text
        assert "After=network-online.target\nWants=network-online.target\n" in text


@needs_analyze
def test_verify_does_catch_a_broken_command_line(tmp_path):
    """The check above has teeth: a quote left open is reported on the unit's own line."""
    unit = plan(["live", "--source", "a b"], name="broken", workdir=str(tmp_path))
    path, _ = write_unit(tmp_path, unit)
    path.write_text(path.read_text().replace('"a b"', '"a b'))
    assert any("Unbalanced quoting" in line for line in verify(path, False, tmp_path))


def test_unit_files_are_replaced_when_ours_and_never_when_not(tmp_path):
    unit = plan(["live", "--source", "0"], name="cam.service", workdir=str(tmp_path))
    assert unit.name == "cam"
    path, replaced = write_unit(tmp_path, unit)
    assert path.read_text() == unit.render() and not replaced
    unit.command = ["live", "--source", "1"]
    path, replaced = write_unit(tmp_path, unit)
    assert replaced and "--source 1" in path.read_text()
    foreign = tmp_path / "ssh.service"
    foreign.write_text("[Service]\nExecStart=/usr/sbin/sshd -D\n")
    with pytest.raises(EdgecamError, match="not written by edgecam"):
        write_unit(tmp_path, plan(["live"], name="ssh", workdir=str(tmp_path)))
    with pytest.raises(EdgecamError, match="not written by `edgecam service install`"):
        remove_unit(tmp_path, "ssh")
    assert foreign.read_text().startswith("[Service]")
    assert remove_unit(tmp_path, "cam") == path and not path.exists()
    with pytest.raises(EdgecamError, match="cannot read"):
        remove_unit(tmp_path, "cam")


def test_the_unit_runs_as_the_user_behind_sudo_from_this_venv(tmp_path):
    me = pwd.getpwuid(os.geteuid()).pw_name
    unit = plan(["live"], environ={"SUDO_USER": "nobody"}, workdir=str(tmp_path),
                python=".venv/bin/python")
    assert unit.python == os.path.abspath(".venv/bin/python")  # absolute, links kept
    assert plan(["live"], environ={}, workdir=str(tmp_path)).user == me
    if os.geteuid() != 0:
        assert unit.user == me  # SUDO_USER only counts for root
        return
    assert unit.user == "nobody"
    with pytest.raises(EdgecamError, match="without sudo"):
        plan(["live"], per_user=True, environ={"SUDO_USER": "nobody"})


def test_the_token_from_the_environment_is_not_copied_into_the_unit():
    note = token_note(["live", "--serve", "0.0.0.0:8080"], {"EDGECAM_SERVE_TOKEN": "s"})
    assert note and "--serve-token-file" in note
    assert token_note(["live", "--serve", "8080", "--serve-token-file", "t"],
                      {"EDGECAM_SERVE_TOKEN": "s"}) is None


@needs_analyze
def test_dry_run_prints_a_unit_that_verifies(tmp_path):
    proc = run_cli("service", "install", "--dry-run", "--name", "yard", "--", "live",
                   "--source", "synthetic://", "--serve", "0.0.0.0:8080", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "yard.service"
    unit.write_text(proc.stdout)
    assert verify(unit, False, tmp_path) == []
    assert (f"ExecStart={sys.executable} -m edgecam live --source synthetic:// --serve "
            "0.0.0.0:8080\n") in proc.stdout
    assert f"WorkingDirectory={tmp_path}\n" in proc.stdout


@pytest.mark.parametrize("args,says", [
    ([], "give the edgecam command line the service runs after --"),
    (["--", "classify", "x.mp4"], "keeps running (live), not 'classify'"),
    (["--", "live", "--sorce", "0"], "No such option: --sorce"),
    (["--", "live", "--threads", "two"], "Invalid value for '--threads'"),
    (["--", "live", "--help"], "--help in the service's command line"),
    (["--name", "../etc/x", "--", "live"], "--name takes letters, digits"),
    (["--watchdog", "0", "--", "live"], "--watchdog is in whole seconds"),
    # values a run would refuse at once (and be restarted for, forever): refused now
    (["--", "live", "--source", "0", "--region", "bad"], "--region takes NAME=X,Y,W,H"),
    (["--", "live", "--config", "site.toml"], "cannot read --config site.toml"),
    (["--", "live", "--model", "nosuch.onnx"], "model file not found: nosuch.onnx"),
    (["--", "live", "--region", "gate=0,0,10,10:gone.onnx"], "model file not found: gone.onnx"),
    (["--", "live", "--model", "mobilenet_v9-1.0-224"], "unknown model 'mobilenet_v9-1.0-224'"),
    (["--", "live", "--source", "a", "--source", "b", "--output", "x.mp4"],
     "--output writes one camera's video"),
    (["--", "live", "--profile", "gone.json"], "profile not found: gone.json"),
    (["--", "live", "--model", "efficientnet_lite0-0.5-160"], "no ImageNet weights are published"),
    (["--", "live", "--model", "efficientnet_lite0-1.0-160-int8"],
     "an INT8 model is made by edgecam quantize"),
    (["--", "live", "--profile", "auto", "--source", "a", "--source", "b"],
     "--profile switches the model of one camera"),
])
def test_a_bad_service_command_line_is_one_line_before_anything_is_written(tmp_path, args, says):
    proc = run_cli("service", "install", "--dry-run", *args, cwd=tmp_path,
                   env={"EDGECAM_MODELS": str(tmp_path / "store")})  # an empty model store
    assert says in assert_one_line_error(proc)
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_model_files_of_any_name_and_store_names_at_hand_are_taken(tmp_path):
    """What live runs, install takes: a model file named without .onnx, a store name whose
    file is in the store, a region's own model from the site file."""
    (tmp_path / "GATE.ONNX").write_bytes(b"x")
    (tmp_path / "gatemodel").write_bytes(b"x")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "efficientnet_lite0-1.0-160-int8.onnx").write_bytes(b"x")
    (tmp_path / "site.toml").write_text(
        '[[camera]]\nsource = "0"\n[[camera.region]]\nname = "gate"\n'
        'box = [0, 0, 10, 10]\nmodel = "gatemodel"\n')
    for args in (["--model", "GATE.ONNX"], ["--model", "efficientnet_lite0-1.0-160-int8"],
                 ["--config", "site.toml", "--model", "gatemodel"]):
        proc = run_cli("service", "install", "--dry-run", "--", "live", *args, cwd=tmp_path,
                       env={"EDGECAM_MODELS": str(tmp_path / "store")})
        assert proc.returncode == 0 and "ExecStart=" in proc.stdout, (args, proc.stderr)


@no_systemd_here
def test_without_a_running_systemd_every_command_says_so_in_one_line(tmp_path):
    for args in (["install", "--", "live", "--source", "synthetic://"], ["status"],
                 ["logs", "-f"], ["uninstall", "--name", "gate"], ["install", "--user", "--",
                                                                   "live"]):
        line = assert_one_line_error(run_cli("service", *args, cwd=tmp_path))
        assert "systemd is not running here" in line or "systemctl not found" in line, line
    assert list(tmp_path.iterdir()) == []
