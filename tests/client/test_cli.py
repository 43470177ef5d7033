"""`imagine edit` and `imagine account`, run as real processes against the real app."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import Api
from tests.support import ImageHost, image_bytes

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(url: str, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env["PYTHONPATH"] = SRC
    env["IMAGINE_URL"] = url
    if key is not None:
        env["IMAGINE_API_KEY"] = key
    env["COLUMNS"] = "200"
    return env


async def _imagine(
    env: dict[str, str], *args: str, cwd: Path, module: str = "imagine"
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_edit_shows_progress_and_writes_the_file(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    (tmp_path / "car.jpg").write_bytes(image_bytes((800, 600)))
    env = _env(api.url, key)
    proc = await _imagine(
        env,
        "edit",
        "car.jpg",
        "make it brighter",
        "-o",
        "night.jpg",
        "--model",
        "flux-kontext-pro",
        "--ratio",
        "16:9",
        "--seed",
        "3",
        "--format",
        "jpeg",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    # not a terminal: one line per stage, in order
    assert lines[:3] == ["uploading photo", "submitting", "queued"], proc.stderr
    assert "finished 100%" in lines
    assert "downloading" in lines
    assert lines.index("queued") < lines.index("finished 100%") < lines.index("downloading")
    processing = [line for line in lines if line.startswith("processing ")]
    assert all(lines.index(p) < lines.index("finished 100%") for p in processing)
    assert any(line.startswith("warning: ") for line in lines)  # the offline engine says so
    assert any(line.startswith("saved night.jpg (task ") for line in lines), proc.stderr
    assert proc.stdout.strip() == "night.jpg"
    img = Image.open(io.BytesIO((tmp_path / "night.jpg").read_bytes()))
    assert (img.format, img.size) == ("JPEG", (1360, 768))

    # a URL, the default output name, and --url/--key instead of the environment
    default = await _imagine(
        {k: v for k, v in env.items() if k not in ("IMAGINE_URL", "IMAGINE_API_KEY")},
        "edit",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mM8"
        "YaPBgA0wMeAAg1MCAO+wATws8x7vAAAAAElFTkSuQmCC",
        "make it brighter",
        "--url",
        api.url,
        "--key",
        key,
        cwd=tmp_path,
    )
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "image-edited.png"
    assert Image.open(io.BytesIO((tmp_path / "image-edited.png").read_bytes())).size == (
        1024,
        1024,
    )

    account = await _imagine(env, "account", cwd=tmp_path)
    assert account.returncode == 0, account.stderr
    assert "credits:  88" in account.stdout.splitlines()  # 100 - 4 (pro) - 8 (max)
    assert "plan:     basic" in account.stdout


async def test_edit_from_an_image_host_url(api: Api, image_host: ImageHost, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/shots/street.jpg", image_bytes(), content_type="image/jpeg")
    proc = await _imagine(_env(api.url, key), "edit", url, "make it brighter", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "street-edited.png"
    assert (tmp_path / "street-edited.png").stat().st_size > 0


async def test_failures_are_one_line_and_exit_1(api: Api, tmp_path: Path) -> None:
    poor = await api.account(credits=0)
    work = tmp_path / "work"
    work.mkdir()
    (work / "car.jpg").write_bytes(image_bytes())
    cases = {
        "wrong key": (_env(api.url, "japi_live_wrong"), ("edit", "car.jpg", "make it brighter")),
        "no credits": (_env(api.url, poor), ("edit", "car.jpg", "make it brighter")),
        "no file": (_env(api.url, poor), ("edit", "nope.jpg", "make it brighter")),
        "no key": (_env(api.url, None), ("account",)),
        "account, wrong key": (_env(api.url, "japi_live_wrong"), ("account",)),
        "bad ratio": (
            _env(api.url, poor),
            ("edit", "car.jpg", "make it brighter", "--ratio", "5:1"),
        ),
    }
    expected = {
        "wrong key": "error: 401 Invalid or missing API key (check IMAGINE_API_KEY or --key)",
        "no credits": "error: 402 Insufficient credits",
        "no file": "error: image: no such file: nope.jpg",
        "no key": "error: no API key: set IMAGINE_API_KEY or pass --key",
        "account, wrong key": "error: 401 Invalid or missing API key (check IMAGINE_API_KEY or"
        " --key)",
    }
    for name, (env, args) in cases.items():
        proc = await _imagine(env, *args, cwd=work)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (name, proc.stderr)
        assert "Traceback" not in proc.stderr
        if name in expected:
            assert errors[0] == expected[name], (name, proc.stderr)
        else:
            assert errors[0].startswith("error: 400 ") and "aspect_ratio" in errors[0]
    assert sorted(p.name for p in work.iterdir()) == ["car.jpg"]  # nothing half-written


async def test_client_commands_run_alone(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=7)
    proc = await _imagine(_env(api.url, key), "account", cwd=tmp_path, module="imagine.client")
    assert proc.returncode == 0, proc.stderr
    assert "credits:  7" in proc.stdout.splitlines()
    imported = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            "import sys, imagine.client.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('imagine.', 'sqlalchemy',"
            " 'fastapi', 'uvicorn', 'PIL'))))",
        ],
        env=_env(api.url, key),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = eval(imported.stdout)
    assert [m for m in loaded if not m.startswith(("imagine.client", "imagine.terminal"))] == []
