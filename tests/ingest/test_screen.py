"""Links to domains that are not the deployment's: each a problem with its file and line
(however the file marks the link up), a note naming the domains and what to do, and
nothing reported once the deployment names its own domains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.pipeline import read_all
from ingest.screen import foreign_link_hosts
from kefu.brand import load_brand
from kefu.redaction import Redactor
from kefu.settings import DEFAULT_OFFICIAL_DOMAINS
from tests.conftest import TP_CN

#: The help center's own domains, then the explorers its articles send users to
#: (docs/security.md says how this list was drawn up).
TP_DOMAINS = (
    "tokenpocket.pro", "tpwallet.io", "tpglobalwallet.net", "keypal.pro", "tphelp.gitbook.io",
    "etherscan.io", "etherscan.com", "bscscan.com", "tronscan.org", "tronscan.io", "solscan.io",
    "polygonscan.com", "arbiscan.io", "basescan.org", "explorer.solana.com", "revoke.cash",
)  # fmt: skip

ARTICLE = """\
# 如何下载 Acme 钱包

Acme 钱包支持安卓和 iOS。

* 客服邮箱：help@acme.example
* **安卓版本**：在APP内更新或在[<mark style="color:red;">**www.acme.example**</mark>](https://acme.example/)官网下载。
1\\. acme.example&#x20;

（具体步骤请点击**[**这里**](https://tools.acme.example/find#/)**）**\\

iOS 用户请在 App Store 搜索 Acme。
"""


def _read(folder: Path, domains: tuple[str, ...]) -> tuple[str, list[str], list[str]]:
    docs, problems, summary = read_all([folder], "markdown", Redactor(), domains)
    text = "\n".join(section.text for doc in docs for section in doc.sections)
    return text, [str(p) for p in problems], summary[0]["notes"]


def test_links_outside_the_official_domains_are_reported_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "download.md").write_text(ARTICLE, encoding="utf-8")
    text, problems, notes = _read(tmp_path, DEFAULT_OFFICIAL_DOMAINS)
    lines = sorted(int(p.split(":")[1]) for p in problems)
    # The e-mail, the marked-up link, the escaped list item, and a "这里" link whose address the
    # text shows though the file keeps it in the link.
    assert lines == [5, 6, 7, 9], problems
    assert all("unknown_url: not an official domain" in p for p in problems)
    assert "acme.example" not in text and "iOS 用户请在 App Store 搜索 Acme" in text
    note = next(n for n in notes if "KEFU_OFFICIAL_DOMAINS" in n)
    assert note.startswith("4 link(s) outside KEFU_OFFICIAL_DOMAINS") and "acme.example (4)" in note


def test_a_deployment_that_names_its_domains_keeps_its_links(tmp_path: Path) -> None:
    (tmp_path / "download.md").write_text(ARTICLE, encoding="utf-8")
    text, problems, notes = _read(tmp_path, ("acme.example",))
    assert problems == [] and not any("KEFU_OFFICIAL_DOMAINS" in n for n in notes)
    assert "help@acme.example" in text and "www.acme.example" in text


@pytest.mark.skipif(not TP_CN.is_dir(), reason=f"no tp-cn corpus at {TP_CN}")
@pytest.mark.integration  # reads a whole corpus
def test_tp_cn_links_are_found_where_they_are_written() -> None:
    _, problems, notes = _read(TP_CN, DEFAULT_OFFICIAL_DOMAINS)
    foreign = [p for p in problems if "not an official domain" in p]
    assert len(foreign) > 200 and "tokenpocket.pro" in next(n for n in notes if "KEFU_OFFICIAL_DOMAINS" in n)
    for problem in foreign:
        file, line, *_ = problem.split(":")
        host = re.search(r"not an official domain: (?:\S+://|\S+@)?(?:www\.)?([^/\s;:]+)", problem)
        assert host, problem
        assert host.group(1).lower() in (TP_CN / file).read_text(encoding="utf-8").split("\n")[int(line) - 1].lower()
    # With the help center's own domains, its own links stay.
    _, problems, _ = _read(TP_CN, TP_DOMAINS)
    assert not [p for p in problems if "tokenpocket.pro" in p or "tpwallet.io" in p]


@pytest.mark.skipif(not TP_CN.is_dir(), reason=f"no tp-cn corpus at {TP_CN}")
@pytest.mark.integration  # reads a whole corpus
def test_the_shipped_tp_cn_brand_keeps_every_link_of_tp_cn_but_messenger_ones() -> None:
    brand = load_brand(Path(__file__).parents[2] / "eval" / "brands" / "tp-cn.toml")
    _, found, _ = read_all([TP_CN], "gitbook", Redactor(), tuple(brand.official_domains))
    problems = [str(p) for p in found]
    foreign = [p for p in problems if "not an official domain" in p]
    assert foreign and all(re.search(r"not an official domain: https?://(?:t\.me|telegra\.ph)/", p) for p in foreign)
    # An APK's SHA256 in the verification table is a checksum, not a leaked key.
    assert not [p for p in problems if "leaks_secret" in p]


def test_an_index_served_with_other_domains_than_it_was_ingested_with_names_the_hosts_it_would_cut() -> None:
    texts = [
        "提交代币图标请前往 https://github.com/TP-Lab/tokens 。客服邮箱：service@tokenpocket.pro",
        "钓鱼域名示例：tokenpocket-app.example | 手法：用横线冒充官网",  # a scam's example: kept on purpose
        "在 https://etherscan.io 查询交易。",
    ]
    hosts = foreign_link_hosts(texts, ("etherscan.io",))
    assert hosts == {"github.com": 1, "tokenpocket.pro": 1}
    assert not foreign_link_hosts(texts, ("etherscan.io", "github.com", "tokenpocket.pro"))


def test_a_list_item_left_out_goes_whole(tmp_path: Path) -> None:
    (tmp_path / "missing.md").write_text(
        "# 提币未到账\n\n若代币仍显示为零，则有以下2种可能：\n\n"
        "1）代币重名，请确认该代币的合约地址，添加对应的代币地址，资产即可显示；\\\n"
        "2）提错链，若提到其他EVM链，只需将私钥导入对应链，即可找回资产；（具体步骤请点击[这里](https://acme.example/find)）\\\n"
        "3）地址填写有误，这种情况需要联系该地址的拥有者。\n\n"
        "转账前请核对地址。如有疑问请访问 https://evil.example 查看。请耐心等待。\n",
        encoding="utf-8",
    )
    text, problems, _ = _read(tmp_path, ("acme.example",))
    assert len(problems) == 2 and "asks_for_secret" in problems[0] and "unknown_url" in problems[1]
    # The rest of item 2 would read as part of item 1: the whole item goes.
    assert "代币重名" in text and "3）地址填写有误" in text and "具体步骤" not in text
    # In a paragraph, only the sentence goes.
    assert "转账前请核对地址。" in text and "请耐心等待。" in text and "evil" not in text
