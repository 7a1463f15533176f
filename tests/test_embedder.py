"""The converted default embedder, loaded through sentence-transformers (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from kefu.embedder import SentenceTransformerEmbedder
from kefu.errors import NotReadyError

PASSAGES = [
    "转账一直显示“打包中”，通常是矿工费设置过低，可以在交易详情页点击“加速”。",
    "钱包密码只保存在本机，忘记后可用助记词重新导入钱包并设置新密码。",
    "波场（TRON）转 USDT 会消耗能量和带宽，账户里没有 TRX 时无法转账。",
    "授权（Approve）允许合约动用你的代币；可在安全中心的授权管理里取消可疑授权。",
    "Deposits to exchanges for XRP or EOS need a memo or tag, otherwise the exchange cannot credit you.",
    "Never share your recovery phrase: real support staff will never ask for it.",
    "A transfer stuck as pending usually paid too low a fee; open it and tap Speed up.",
    "To revoke a token approval, open Security Center, then Approval Manager, and tap Revoke.",
]

QUERIES = [
    ("我转的币卡在打包中好几个小时了", 0),
    ("密码忘记了咋办 还有助记词", 1),
    ("为什么我的usdt转不出去 说能量不足", 2),
    ("怎么取消合约的授权", 3),
    ("I sent XRP to Binance without the tag, where is it?", 4),
    ("someone from support asked me for my seed words, is that normal?", 5),
    ("My transfer has been pending for hours", 6),
    ("How do I remove an approval I gave to a dapp?", 7),
]


@pytest.mark.slow
def test_ranks_the_right_passage_first_in_chinese_and_english(embedder: SentenceTransformerEmbedder) -> None:
    p = embedder.embed_passages(PASSAGES)
    q = embedder.embed_queries([text for text, _ in QUERIES])
    ranked = np.argsort(-(q @ p.T), axis=1)[:, 0].tolist()
    assert ranked == [gold for _, gold in QUERIES]


@pytest.mark.slow
def test_vectors_are_normalised_float32_with_the_models_dimension(
    embedder: SentenceTransformerEmbedder,
) -> None:
    v = embedder.embed_passages(["一", "two", "三 four"])
    assert v.dtype == np.float32 and v.shape == (3, embedder.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_query_and_passage_prompts_differ(embedder: SentenceTransformerEmbedder) -> None:
    q = embedder.embed_queries(["如何备份助记词"])[0]
    p = embedder.embed_passages(["如何备份助记词"])[0]
    assert 0.8 < float(q @ p) < 0.9999


def test_missing_folder_says_to_run_setup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotReadyError, match="kefu setup-models"):
        SentenceTransformerEmbedder(str(tmp_path / "nothing-here")).warm_up()
