"""LlamaCppGenerator with the real default GGUF (slow) and its failure paths."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kefu.errors import BackendTimeoutError, NotReadyError
from kefu.generators import ChatMessage, GenerationOptions, generate
from kefu.generators.llamacpp import LlamaCppGenerator

pytestmark = pytest.mark.anyio

PASSAGE = (
    "打包中的转账通常是因为矿工费设置过低。"
    "在交易详情页点击「加速」，以更高的矿工费重新广播同一笔交易（相同 nonce）即可。"
)
SYSTEM = "你是钱包客服助手。只根据资料回答，回答简短。引用资料时在句末写上资料编号，如 [1]。"
EXAMPLE_Q = "资料：\n[1] 钱包密码只保存在本机，忘记后可以用助记词重新导入钱包并设置新密码。\n\n问题：密码忘了怎么办"
EXAMPLE_A = "可以用助记词重新导入钱包，并设置一个新密码 [1]。"
MESSAGES = [
    ChatMessage("system", SYSTEM),
    ChatMessage("user", EXAMPLE_Q),
    ChatMessage("assistant", EXAMPLE_A),
    ChatMessage("user", f"资料：\n[1] {PASSAGE}\n\n问题：我的转账一直在打包中，怎么办？"),
]


async def test_missing_model_file_is_not_ready(tmp_path: Path) -> None:
    gen = LlamaCppGenerator(tmp_path / "absent.gguf")
    with pytest.raises(NotReadyError, match="kefu setup-models"):
        await gen.warm_up()
    with pytest.raises(NotReadyError):
        await generate(gen, MESSAGES)


@pytest.mark.slow
async def test_answers_a_one_passage_chinese_question_with_a_citation(gguf: Path) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=2048, max_tokens=96)
    try:
        await gen.warm_up()
        chunks = [c async for c in gen.stream(MESSAGES)]
    finally:
        await gen.close()
    text = "".join(c.text for c in chunks)
    assert len([c for c in chunks if c.text]) > 3, "tokens arrive one by one, not in one block"
    assert "[1]" in text
    assert "加速" in text
    final = chunks[-1]
    assert final.done and final.finish_reason in {"stop", "length"}
    assert final.usage is not None and final.usage.completion_tokens
    assert 100 < (final.usage.prompt_tokens or 0) < 400


@pytest.mark.slow
async def test_concurrent_generations_are_serialised_and_an_abandoned_one_frees_the_model(gguf: Path) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=2048, max_tokens=48)
    try:
        await gen.warm_up()
        # A consumer that stops after the first token must not hold the context.
        stream = gen.stream(MESSAGES)
        first = await anext(stream)
        assert first.text
        await stream.aclose()  # type: ignore[attr-defined]
        a, b = await asyncio.wait_for(
            asyncio.gather(
                generate(gen, MESSAGES, GenerationOptions(max_tokens=16)),
                generate(gen, MESSAGES, GenerationOptions(max_tokens=16)),
            ),
            timeout=120,
        )
        assert a.text and b.text
        # Same prompt, temperature and seed through one serialised context: same answer.
        assert a.text == b.text
    finally:
        await gen.close()


@pytest.mark.slow
async def test_deadline_stops_a_long_generation(gguf: Path) -> None:
    gen = LlamaCppGenerator(gguf, threads=2, context=2048, max_tokens=400, timeout=1.5)
    try:
        await gen.warm_up()
        long_ask = [ChatMessage("user", "请详细写一篇三千字的文章，介绍区块链钱包的历史。")]
        with pytest.raises(BackendTimeoutError, match=r"did not finish within 1\.5 s"):
            await generate(gen, long_ask)
    finally:
        await gen.close()
