"""The embedded model in its own process: no AMX, and crashes, kills and hangs survived.

The crashes are real: the model process is sent SIGSEGV or SIGKILL, or stopped with
SIGSTOP (a hang), and the generator must fail the request in flight, restart the process
and answer the next request with the real model.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kefu.errors import BackendTimeoutError, BackendUnavailableError
from kefu.generators import ChatMessage, GenerationOptions, generate
from kefu.generators.base import with_deadline
from kefu.generators.llamacpp import LlamaCppGenerator, crash_advice, describe_exit, worker_command
from kefu.generators.llamacpp_worker import amx_in_build, extra_bufts_allowed, system_info
from kefu.settings import Settings

pytestmark = pytest.mark.anyio

ASK = [ChatMessage("user", "用三句话介绍一下什么是助记词。")]
AMX_INFO = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |"


# --- never the AMX path -------------------------------------------------------------------------


@pytest.mark.integration  # loads the installed llama.cpp library
def test_the_installed_llama_cpp_would_not_run_amx_kernels() -> None:
    """Fails on a build with AMX compiled in (e.g. a native build picked from a wheel cache)."""
    import llama_cpp

    info = system_info(llama_cpp)
    assert "AVX2 = 1" in info or "x86" not in platform.machine(), info
    assert not amx_in_build(info), f"llama.cpp was built with AMX: {info}"
    # Were it built with AMX, the model process would load with the extra buffer types off.
    assert extra_bufts_allowed(info, requested=True)
    assert not extra_bufts_allowed(AMX_INFO, requested=True)


@pytest.mark.slow
async def test_the_model_process_loads_with_the_extra_buffer_types_off_when_asked(gguf: Path) -> None:
    """What llama.cpp itself reports back: the parameter reaches the loaded model."""
    gen = LlamaCppGenerator(gguf, threads=2, context=512, extra_bufts=False, timeout=300)
    try:
        await gen.warm_up()
        assert gen.process.loaded["use_extra_bufts"] is False
        assert not amx_in_build(gen.process.loaded["system_info"])
        answer = await generate(gen, ASK, GenerationOptions(max_tokens=4))
        assert answer.text.strip()
    finally:
        await gen.close()


@pytest.mark.parametrize(
    ("info", "amx"),
    [
        (AMX_INFO, True),
        ("CPU : SSE3 = 1 | AVX2 = 1 | FMA = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |", False),
        ("CPU : AMX_INT8 = 0 | AVX2 = 1", False),
        ("AMX_TILE = 1", True),
    ],
)
def test_amx_is_read_from_the_system_info(info: str, amx: bool) -> None:
    assert amx_in_build(info) is amx


def test_exits_are_described_by_their_signal() -> None:
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV (signal 11)"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL (signal 9)"
    assert describe_exit(3) == "exited with status 3"
    assert "make clean setup" in crash_advice(-signal.SIGSEGV)
    assert "memory" in crash_advice(-signal.SIGKILL)


# --- crashes, kills and hangs ---------------------------------------------------------------------


async def _first_token_then(gen: LlamaCppGenerator, sig: signal.Signals) -> BaseException:
    """Start a long generation, send ``sig`` to the model process after its first token."""
    stream = gen.stream(ASK, GenerationOptions(max_tokens=200))
    first = await anext(stream)
    assert first.text
    pid = gen.process.pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, sig)
    with pytest.raises((BackendUnavailableError, BackendTimeoutError)) as caught:
        async for _chunk in stream:
            pass
    return caught.value


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
async def test_a_model_process_killed_mid_answer_fails_that_answer_and_comes_back(
    gguf: Path, sig: signal.Signals
) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=1024, max_tokens=200, timeout=300, backoff=(0.2, 5.0))
    try:
        await gen.warm_up()
        old_pid = gen.process.pid
        error = await _first_token_then(gen, sig)
        assert sig.name in str(error), error
        # The next question waits for the restarted process and is answered by the model.
        answer = await generate(gen, ASK, GenerationOptions(max_tokens=8))
        assert answer.text.strip()
        assert gen.process.pid not in (None, old_pid)
        assert gen.health().restarts == 1 and gen.health().ready
    finally:
        await gen.close()


@pytest.mark.slow
async def test_a_hung_model_process_is_killed_after_the_deadline_and_replaced(gguf: Path) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=1024, max_tokens=200, timeout=300, cancel_grace=1.0,
                            backoff=(0.2, 5.0))  # fmt: skip
    try:
        await gen.warm_up()
        hung = gen.process.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)  # alive, but answers nothing: a hang
        # The answer's deadline, as the answerer applies it around the generator's stream.
        with pytest.raises(BackendTimeoutError, match="did not finish within 3 s"):
            async for _chunk in with_deadline(gen.stream(ASK), 3, "the answer"):
                pass
        deadline = time.monotonic() + 30
        while gen.process.pid in (None, hung) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert gen.process.pid not in (None, hung), "the hung process was not replaced"
        with pytest.raises(ProcessLookupError):
            os.kill(hung, 0)  # killed and reaped, not left behind
        answer = await generate(gen, ASK, GenerationOptions(max_tokens=8))
        assert answer.text.strip()
        assert gen.health().restarts == 1
    finally:
        await gen.close()


@pytest.mark.slow
async def test_closing_the_generator_ends_the_model_process(gguf: Path) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=512)
    await gen.warm_up()
    pid = gen.process.pid
    assert pid is not None
    await gen.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert gen.process.restarts == 0


# --- set-up and `kefu check` name the crash -------------------------------------------------------

#: Makes llama.cpp's process really segfault at its first generation: a null pointer read
#: through ctypes, installed when the model process imports llama_cpp (the API process never does).
CRASH_ON_GENERATE = textwrap.dedent(
    """
    import importlib.abc, importlib.machinery, sys

    class _Crash(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "llama_cpp":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                import ctypes

                def crash(self, *args, **kwargs):
                    ctypes.string_at(0)

                module.Llama.create_chat_completion = crash

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Crash())
    """
)


@pytest.mark.slow
def test_kefu_check_names_the_signal_when_the_model_process_dies(tmp_path: Path, settings: Settings) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASH_ON_GENERATE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "KEFU_DATA_DIR": str(settings.data_dir.resolve()),
        "KEFU_LLM_BACKEND": "llamacpp",
        "HF_HUB_OFFLINE": "1",
    }
    kefu = Path(sys.executable).with_name("kefu")
    done = subprocess.run([str(kefu), "check"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert "was killed by SIGSEGV (signal 11)" in done.stderr
    assert "make clean setup" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_model_process_whose_api_process_is_gone_stops_generating_and_exits(gguf: Path) -> None:
    """Its stdin closes when the API process dies (even by SIGKILL): no orphan keeps the CPU."""
    worker = subprocess.Popen(
        worker_command(gguf, threads=2, context=512, seed=0),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert json.loads(worker.stdout.readline())["event"] == "ready"
        request = {"op": "generate", "id": 1, "messages": [{"role": "user", "content": "写一篇长文章。"}],
                   "max_tokens": 400, "temperature": 0.2, "stop": []}  # fmt: skip
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        assert json.loads(worker.stdout.readline())["id"] == 1  # the first token
        worker.stdin.close()
        lines = worker.stdout.read().splitlines()
        assert worker.wait(timeout=60) == 0
        done = json.loads(lines[-1])
        assert done["event"] == "done" and done["finish_reason"] == "cancelled"
        assert len(lines) < 50, "it went on generating after its API process was gone"
    finally:
        if worker.poll() is None:
            worker.kill()
