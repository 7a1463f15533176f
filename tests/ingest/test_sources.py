"""Source readers: every format, detection, the demo corpus, a real GitBook export, bad input."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ingest.documents import Problem, Section, SourceDocument
from ingest.sources import FORMATS, SourceRead, detect_format, read_source
from kefu.errors import BadInputError
from kefu.text import split_passage
from tests.timing import cpu_seconds

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sources"
HARBOR = REPO / "corpora" / "harbor"
TP_CN = REPO.parent / "shared" / "corpora" / "tp-cn"

MARKUP = ("{%", "%}", "<figure", "<img", "<a ", "<mark", "</", "![", "](", "**", "&#x", "&amp;")


def docs(read: SourceRead) -> dict[str, SourceDocument]:
    return {d.path: d for d in read.documents}


def texts(doc: SourceDocument) -> list[str]:
    return [doc.title, *(h for s in doc.sections for h in s.heading_path), *(s.text for s in doc.sections)]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def ticket(tid: str, **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": tid,
        "lang": "en",
        "subject": f"Subject {tid}",
        "messages": [{"role": "customer", "text": f"Help with {tid}"}],
        "resolution": f"Fixed {tid}",
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


# --------------------------------------------------------------------------- fixtures, one per format


def test_markdown_with_front_matter() -> None:
    read = read_source(FIXTURES / "markdown")
    assert read.format == "markdown" and read.root == FIXTURES / "markdown"
    assert read.problems == []
    assert [d.path for d in read.documents] == ["faq/fees.md", "faq/memo.md"]
    fees, memo = read.documents
    assert fees.title == "Why do I need ETH to send USDT?"
    assert (fees.lang, fees.category, fees.kind, fees.source_file) == ("en", "fees", "article", "faq/fees.md")
    assert fees.sections == [
        Section(
            (),
            "Network fees on Ethereum are paid in ETH, whatever token you send. Keep a little ETH in the "
            "same wallet, on the same network, to move your USDT.",
        )
    ]
    assert memo.title == "充值交易所忘记填写 MEMO 怎么办？"
    assert (memo.lang, memo.category) == ("zh", "transfers")
    assert (memo.url, memo.updated) == ("https://help.example.org/zh/memo", "2026-03-01")
    assert memo.meta["id"] == "demo-memo"
    assert memo.sections == [
        Section((), "部分币种（如 XRP、EOS）充值到交易所时必须填写 MEMO（也叫标签）。"),
        Section(
            ("处理步骤",),
            "1. 在区块浏览器确认交易已成功。\n"
            "2. 联系交易所客服，提供交易哈希和充值地址。\n"
            "注意：港湾钱包无法替你补填 MEMO。",
        ),
    ]


def test_markdown_without_front_matter() -> None:
    read = read_source(FIXTURES / "markdown-plain")
    (doc,) = read.documents
    assert doc.path == "backup.md"
    assert doc.title == "如何备份助记词"  # the first heading, not repeated as a section heading
    assert (doc.lang, doc.category, doc.url) == (None, None, None)  # a file at the root: no folder
    assert doc.sections == [
        Section(
            (),
            "请用纸笔按顺序抄写 12 个单词，保存在安全的地方。不要截图，不要存到网盘。\n"
            # A table row names its columns, so a row quoted on its own still reads.
            "做法：纸笔抄写 | 是否安全：安全\n做法：截图 | 是否安全：不安全",
        )
    ]


def test_gitbook_titles_and_categories_come_from_summary() -> None:
    read = read_source(FIXTURES / "gitbook")
    assert read.format == "gitbook" and read.problems == []
    by_path = docs(read)
    assert list(by_path) == ["README.md", "guides/pending.md"]  # SUMMARY.md is the table of contents
    assert by_path["README.md"].title == "帮助中心"
    assert by_path["README.md"].sections == [Section((), "欢迎来到帮助中心。")]
    pending = by_path["guides/pending.md"]
    assert pending.title == "转账一直在打包中"  # SUMMARY's entry, not the page's own heading
    assert pending.category == "转账"  # the `## ` group, its anchor dropped
    # The page's heading differs from the title, so it stays as the section heading; the hint's
    # text, the figure's caption and the link text are kept, the markup and link target are not.
    assert pending.sections == [
        Section(
            ("转账打包中",),
            "打包中表示交易已广播，等待矿工确认。\n交易详情页\n可以在交易详情页点击加速提高矿工费。",
        )
    ]


def test_html_article() -> None:
    read = read_source(FIXTURES / "html")
    (doc,) = read.documents
    assert (doc.path, doc.title, doc.lang, doc.kind) == (
        "approvals.html",
        "Revoke a token approval",
        "en",
        "article",
    )
    assert doc.sections == [
        Section((), "An approval lets a contract move your tokens. Revoke any you no longer use."),
        Section(
            ("Steps",),
            "1. Open Me → Security Center → Approval Manager.\n2. Tap Revoke next to the contract.",
        ),
    ]
    assert "Home" not in doc.text() and "©" not in doc.text()  # navigation and footer are dropped


def test_zendesk_export_skips_drafts() -> None:
    read = read_source(FIXTURES / "zendesk")
    assert read.format == "zendesk" and read.problems == []
    assert read.skipped_drafts == 1 and any("draft" in n for n in read.notes)
    (doc,) = read.documents
    assert doc.path == "zendesk/360001234567" and doc.source_file == "articles.json"
    assert (doc.title, doc.lang, doc.category) == ("如何取消授权", "zh", "approvals")
    assert doc.url == "https://example.zendesk.com/hc/zh-cn/articles/360001234567"
    assert doc.updated == "2026-02-10T09:30:00Z"
    assert doc.sections == [
        Section((), "授权允许合约动用你的代币。"),
        Section(("取消步骤",), "1. 打开安全中心\n2. 点击授权管理并取消"),
    ]


def test_tickets_jsonl() -> None:
    read = read_source(FIXTURES / "tickets" / "tickets.jsonl")
    assert read.format == "tickets-jsonl" and read.problems == []
    x1, x2 = read.documents
    assert (x1.path, x1.kind, x1.title, x1.lang, x1.category) == (
        "tickets/X-1",
        "ticket",
        "转账没到",
        "zh",
        "transfers",
    )
    assert x1.source_file == "tickets.jsonl"
    assert x1.sections == [
        Section(("问题",), "转账没到\n转了 100 USDT 到交易所一直没到"),
        Section(("解决方法",), "链上已成功，交易所充值通道维护，恢复后自动入账。"),
    ]
    assert x1.meta == {
        "subject": "转账没到",
        "resolution": "链上已成功，交易所充值通道维护，恢复后自动入账。",
        "channel": "in-app",
        "priority": "normal",
        "tags": ["usdt", "exchange"],
        "csat": 5,
        "created": "2026-01-05T10:00:00+08:00",
        "resolved": "2026-01-05T11:00:00+08:00",
        "escalated": False,
        "articles": [],
        "messages": [
            {"role": "customer", "text": "转了 100 USDT 到交易所一直没到"},
            {"role": "agent", "text": "请提供交易哈希，我帮您查一下。"},
        ],
    }
    assert x2.sections == [
        Section(("Problem",), "Forgot password\nI forgot my wallet password."),
        Section(("Resolution",), "Re-imported with the recovery phrase and set a new password."),
    ]
    assert x2.meta["csat"] is None and x2.lang == "en"


def test_tickets_csv() -> None:
    read = read_source(FIXTURES / "tickets" / "tickets.csv")
    assert read.format == "tickets-csv" and read.problems == []
    c1, c2 = read.documents
    assert (c1.path, c1.title, c1.lang, c1.category) == ("tickets/C-1", "能量不足", "zh", "fees")
    assert c1.sections == [
        Section(("问题",), "能量不足\nUSDT 转账提示能量不足怎么办"),
        Section(("解决方法",), "账户需要持有 TRX 支付能量和带宽；充值少量 TRX 后转账成功。"),
    ]
    assert c1.meta["tags"] == ["tron", "energy"] and c1.meta["csat"] == 4
    assert c1.meta["messages"] == [{"role": "customer", "text": "USDT 转账提示能量不足怎么办"}]
    assert c1.meta["created"] == "2026-02-01T10:00:00+08:00"
    assert c2.sections[0] == Section(("Problem",), "Swap failed\nMy swap failed with slippage error")
    assert c2.sections[1].heading_path == ("Resolution",)
    assert c2.meta["csat"] is None and c2.meta["channel"] == "email"


def test_csv_conversation_becomes_messages(tmp_path: Path) -> None:
    write(
        tmp_path / "t.csv",
        "id,subject,question,resolution,conversation\n"
        'C-9,Stuck,My transfer is stuck,Sped it up,"customer: My transfer is stuck\n'
        'agent: Send the hash please\ncustomer: abc123\nit is on TRON"\n',
    )
    (doc,) = read_source(tmp_path / "t.csv").documents
    assert doc.meta["messages"] == [
        {"role": "customer", "text": "My transfer is stuck"},
        {"role": "agent", "text": "Send the hash please"},
        {"role": "customer", "text": "abc123\nit is on TRON"},
    ]
    assert doc.sections[0].text == "Stuck\nMy transfer is stuck\nabc123\nit is on TRON"


def test_a_folder_of_tickets_reads_both_kinds() -> None:
    read = read_source(FIXTURES / "tickets")
    assert read.format == "tickets-jsonl"
    assert [d.path for d in read.documents] == ["tickets/C-1", "tickets/C-2", "tickets/X-1", "tickets/X-2"]


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("markdown", "markdown"),
        ("markdown/faq/memo.md", "markdown"),
        ("markdown-plain", "markdown"),
        ("gitbook", "gitbook"),
        ("gitbook/guides/pending.md", "markdown"),  # its folder has no SUMMARY.md
        ("gitbook/README.md", "gitbook"),
        ("html", "html"),
        ("html/approvals.html", "html"),
        ("zendesk", "zendesk"),
        ("zendesk/articles.json", "zendesk"),
        ("tickets", "tickets-jsonl"),
        ("tickets/tickets.jsonl", "tickets-jsonl"),
        ("tickets/tickets.csv", "tickets-csv"),
    ],
)
def test_detect_format(source: str, expected: str) -> None:
    assert expected in FORMATS
    assert detect_format(FIXTURES / source) == expected


def test_detect_format_of_the_demo_corpus() -> None:
    assert detect_format(HARBOR) == "markdown"
    assert detect_format(HARBOR / "tickets") == "tickets-jsonl"


def test_unknown_or_missing_sources_raise_naming_the_path(tmp_path: Path) -> None:
    notes = write(tmp_path / "notes.txt", "hello")
    with pytest.raises(BadInputError, match=re.escape(str(notes))):
        detect_format(notes)
    with pytest.raises(BadInputError, match=re.escape(str(notes))):
        read_source(notes)
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    write(empty / "image.png", b"\x89PNG")
    with pytest.raises(BadInputError, match=re.escape(str(empty))):
        detect_format(empty)
    missing = tmp_path / "nowhere"
    with pytest.raises(BadInputError, match=re.escape(str(missing))):
        detect_format(missing)
    with pytest.raises(BadInputError, match=re.escape(str(missing))):
        read_source(missing)
    with pytest.raises(BadInputError, match="unknown format"):
        read_source(FIXTURES / "markdown", fmt="docx")


def test_format_override(tmp_path: Path) -> None:
    only_tickets = read_source(HARBOR, fmt="tickets-jsonl")
    assert only_tickets.format == "tickets-jsonl"
    assert {d.kind for d in only_tickets.documents} == {"ticket"}
    dump = write(tmp_path / "export.txt", jsonl(ticket("T-1")))
    read = read_source(dump, fmt="tickets-jsonl")
    assert [d.path for d in read.documents] == ["tickets/T-1"]


def test_single_file_paths_are_relative_to_its_folder() -> None:
    read = read_source(FIXTURES / "markdown" / "faq" / "memo.md")
    assert read.root == FIXTURES / "markdown" / "faq"
    assert [d.path for d in read.documents] == ["memo.md"]


@pytest.mark.integration  # reads a whole corpus
def test_reading_is_deterministic() -> None:
    assert read_source(HARBOR).documents == read_source(HARBOR).documents


# --------------------------------------------------------------------------- the demo corpus


@pytest.mark.integration  # reads a whole corpus
def test_demo_corpus() -> None:
    read = read_source(HARBOR)
    elapsed = cpu_seconds(lambda: read_source(HARBOR), repeat=1)  # CPU time: a loaded machine does not count
    assert read.problems == []
    articles = [d for d in read.documents if d.kind == "article"]
    tickets = [d for d in read.documents if d.kind == "ticket"]
    assert len(articles) == 70 and len(tickets) == 225
    assert any("README.md" in n for n in read.notes)  # the corpus's own README is not an article
    by_path = docs(read)
    pending = by_path["help/zh/transfers/pending-transfer.md"]
    assert pending.title == "转账一直显示“打包中”怎么办？"
    assert (pending.lang, pending.category) == ("zh", "transfers")
    assert pending.url == "https://help.harborwallet.example/zh/transfers/pending-transfer"
    assert pending.sections and all(s.heading_path != (pending.title,) for s in pending.sections)
    assert all(re.fullmatch(r"help/(zh|en)/[a-z-]+/[a-z0-9-]+\.md", d.path) for d in articles)
    assert all(re.fullmatch(r"tickets/T-1\d{3}", d.path) for d in tickets)
    t1001 = by_path["tickets/T-1001"]
    assert [s.heading_path for s in t1001.sections] == [("问题",), ("解决方法",)]
    assert t1001.meta["messages"][0]["role"] == "customer" and t1001.meta["resolution"]
    en = next(d for d in tickets if d.lang == "en")
    assert [s.heading_path for s in en.sections] == [("Problem",), ("Resolution",)]
    for doc in articles:
        assert doc.sections, doc.path
        for text in texts(doc):
            assert not any(m in text for m in ("{%", "<figure", "![", "](")), (doc.path, text)
    assert elapsed < 2.0, f"reading the demo corpus took {elapsed:.2f} s"


# --------------------------------------------------------------------------- a real GitBook export


def _summary_entries(summary: str) -> tuple[dict[str, str], dict[str, str]]:
    """Titles and groups by page, parsed here independently of the reader."""
    titles: dict[str, str] = {}
    groups: dict[str, str] = {}
    group = ""
    for line in summary.splitlines():
        if line.startswith("## "):
            group = re.sub(r"<a [^>]*></a>", "", line[3:])
            group = re.sub(r"^[^\w]+", "", group).strip()
        m = re.match(r"\s*\* \[(.*)\]\((?:<([^>]+)>|([^)]+))\)", line)
        if m:
            page = m.group(2) or m.group(3)
            titles.setdefault(page, " ".join(m.group(1).replace("\\", "").split()))
            if group:
                groups.setdefault(page, group)
    return titles, groups


@pytest.mark.skipif(not TP_CN.is_dir(), reason=f"the GitBook export {TP_CN} is not on this machine")
@pytest.mark.integration  # reads a whole corpus
def test_real_gitbook_export() -> None:
    read = read_source(TP_CN)
    elapsed = cpu_seconds(lambda: read_source(TP_CN), repeat=1)  # CPU time: a loaded machine does not count
    assert read.format == "gitbook" and read.problems == []
    markdown_files = sorted(p.relative_to(TP_CN).as_posix() for p in TP_CN.rglob("*.md"))
    assert len(markdown_files) == 392
    # Every Markdown file is read; SUMMARY.md is the table of contents, not an article.
    assert sorted(d.path for d in read.documents) == [p for p in markdown_files if p != "SUMMARY.md"]
    titles, groups = _summary_entries((TP_CN / "SUMMARY.md").read_text(encoding="utf-8"))
    by_path = docs(read)
    listed = [p for p in titles if p in by_path]
    assert len(listed) > 350
    for page in listed:
        assert by_path[page].title == titles[page], page
    assert by_path["fqa/pending-status-transfer.md"].category == groups["fqa/pending-status-transfer.md"]
    assert by_path["fqa/pending-status-transfer.md"].sections
    unlisted = next(p for p in by_path if p not in titles and "/" in p)
    assert by_path[unlisted].category == unlisted.split("/")[0]  # the first folder
    for doc in read.documents:
        assert doc.kind == "article" and doc.lang is None
        for text in texts(doc):
            assert not any(m in text for m in MARKUP), (doc.path, text)
            assert "\\\n" not in text and not text.endswith("\\"), doc.path
    assert elapsed < 2.0, f"reading tp-cn took {elapsed:.2f} s"


# --------------------------------------------------------------------------- cleaning markup


def test_gitbook_markup_is_cleaned(tmp_path: Path) -> None:
    write(
        tmp_path / "SUMMARY.md",
        '# Table of contents\n\n## 🔐 安全 <a href="#sec" id="sec"></a>\n\n* [页面](page.md)\n* [另一页](other.md)\n',
    )
    write(tmp_path / "other.md", "# 另一页\n\n正文。\n")
    write(
        tmp_path / "page.md",
        "---\ndescription: 一句话简介\n---\n\n# 页面\n\n"
        '## 第一步 <a href="#step" id="step"></a>\n\n'
        "<!-- 编辑备注 -->\n"
        "**注意：**收款地址要核对&#x20;&amp; 确认。\n"
        "这一行接着上一行\n继续写。\\\n\n"
        '<figure><img src="a.png" alt=""><figcaption></figcaption></figure>\n\n'
        '<figure><img src="b.png" alt=""><figcaption><p>b.png</p></figcaption></figure>\n\n'
        '{% tabs %}\n{% tab title="iOS" %}\n在 App Store 下载。\n{% endtab %}\n{% endtabs %}\n\n'
        '{% embed url="https://video.example/x" %}\n演示视频\n{% endembed %}\n\n'
        '{% content-ref url="other.md" %}\n[other.md](other.md)\n{% endcontent-ref %}\n\n'
        '请先了解：\n[other.md](other.md "mention")\n\n[gone.md](gone.md "mention")\n\n'
        "- 一级\n  - 二级\n\n"
        "```\ncode  line\n```\n\n"
        "![](<.gitbook/assets/x (1).png>)\n",
    )
    read = read_source(tmp_path)
    assert read.problems == []
    page = docs(read)["page.md"]
    assert (page.title, page.category) == ("页面", "安全")
    assert page.meta["description"] == "一句话简介"
    assert page.sections == [
        Section((), "一句话简介"),
        Section(
            ("第一步",),
            "注意：收款地址要核对 & 确认。这一行接着上一行继续写。\n"
            "iOS\n在 App Store 下载。\n演示视频\n另一页\n请先了解：另一页\n- 一级\n  - 二级\ncode  line",
        ),
    ]


def test_html_page_is_cleaned(tmp_path: Path) -> None:
    write(
        tmp_path / "guides" / "a.html",
        "<html><head><title>Site | Fees</title><script>var x = 1;</script>"
        '<link rel="canonical" href="https://help.example/fees"></head><body>'
        "<nav>Home</nav><main><h1>Fees &amp; gas</h1><!-- draft note -->"
        "<p>Pay   fees in <a href='/eth'>ETH</a>.</p><table><tr><th>Chain</th><th>Token</th></tr>"
        "<tr><td>Ethereum</td><td>ETH</td></tr></table><pre>gas = 21000\n  limit</pre>"
        "<style>p{}</style></main><footer>Footer</footer></body></html>",
    )
    (doc,) = read_source(tmp_path).documents
    assert (doc.path, doc.title, doc.category, doc.url) == (
        "guides/a.html",
        "Fees & gas",
        "guides",
        "https://help.example/fees",
    )
    assert doc.sections == [Section((), "Pay fees in ETH.\nChain: Ethereum | Token: ETH\ngas = 21000\n  limit")]


# --------------------------------------------------------------------------- bad input


def test_bad_files_become_problems_and_the_rest_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "good.md", "# Good\n\nRead me.\n")
    write(tmp_path / "bom.md", "\ufeff# With a BOM\n\nStill UTF-8.\n")
    write(tmp_path / "gbk.md", b"# Title\n\nfine\n" + "中文\n".encode("gbk"))
    write(tmp_path / "empty.md", "  \n")
    locked = write(tmp_path / "locked.md", "# Locked\n")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make the read fail as it would for a user
        real_read_bytes = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "locked.md":
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    try:
        read = read_source(tmp_path)
    finally:
        locked.chmod(0o644)
    assert sorted(d.title for d in read.documents) == ["Good", "With a BOM"]
    problems = {p.file: p for p in read.problems}
    assert set(problems) == {"gbk.md", "empty.md", "locked.md"}
    assert problems["gbk.md"].line == 4 and "UTF-8" in problems["gbk.md"].message
    assert problems["empty.md"].line is None and "empty" in problems["empty.md"].message
    assert "cannot read" in problems["locked.md"].message
    assert str(problems["gbk.md"]).startswith("gbk.md:4: ")


def test_broken_front_matter_is_reported_and_the_body_read(tmp_path: Path) -> None:
    write(tmp_path / "bad-yaml.md", "---\ntitle: ok\ncategory: [unclosed\n---\n# Body title\n\nBody text.\n")
    write(tmp_path / "unclosed.md", "---\ntitle: never closed\n\n# Heading\n\nText.\n")
    write(tmp_path / "list.md", "---\n- a\n- b\n---\n# Listed\n\nText.\n")
    read = read_source(tmp_path)
    by_path = docs(read)
    assert by_path["bad-yaml.md"].title == "Body title"
    assert by_path["bad-yaml.md"].sections == [Section((), "Body text.")]
    assert "Text." in by_path["unclosed.md"].text()
    assert by_path["list.md"].title == "Listed"
    problems = {p.file: p for p in read.problems}
    assert problems["bad-yaml.md"].line == 4 and "YAML" in problems["bad-yaml.md"].message
    assert problems["unclosed.md"].line == 1 and "never closed" in problems["unclosed.md"].message
    assert problems["list.md"].line == 2


def test_bad_jsonl_lines_and_tickets_missing_fields(tmp_path: Path) -> None:
    write(
        tmp_path / "tickets" / "a.jsonl",
        jsonl(
            ticket("T-1"),
            '{"id": "T-2", "subject": "broken',
            ticket("T-3", resolution=None),
            ticket("T-4", messages=[{"role": "agent", "text": "Hello?"}]),
            "[1, 2]",
            ticket("T-6", subject=None, resolution=""),
            ticket("T-7", csat=9, created="yesterday"),
        )
        + "\n"
        + jsonl(ticket("T-9")),
    )
    read = read_source(tmp_path)
    assert [d.path for d in read.documents] == ["tickets/T-1", "tickets/T-7", "tickets/T-9"]
    where = [(p.file, p.line) for p in read.problems]
    assert where == [("tickets/a.jsonl", n) for n in (2, 3, 4, 5, 6, 7, 7)]
    messages = [p.message for p in read.problems]
    assert "not valid JSON" in messages[0]
    assert "T-3" in messages[1] and "'resolution'" in messages[1]
    assert "T-4" in messages[2] and "customer message" in messages[2]
    assert "JSON object" in messages[3]
    assert "'subject'" in messages[4] and "'resolution'" in messages[4]
    assert "csat" in messages[5] and "created" in messages[6]
    t7 = docs(read)["tickets/T-7"]
    assert t7.meta["csat"] is None and t7.meta["created"] is None


def test_csv_missing_columns_and_values(tmp_path: Path) -> None:
    write(tmp_path / "a-no-question.csv", "id,subject,resolution\nC-1,Hi,Done\n")
    write(
        tmp_path / "b-ok.csv",
        'id,subject,question,resolution\nC-2,Multi,"line one\nline two",Done\nC-3,,Where is it,Done\n'
        "C-4,No question,,Done\nC-5,Fine,It works,Done,extra\n",
    )
    read = read_source(tmp_path)
    assert [d.path for d in read.documents] == ["tickets/C-2", "tickets/C-5"]
    assert docs(read)["tickets/C-2"].sections[0].text == "Multi\nline one\nline two"
    problems = read.problems
    assert (problems[0].file, problems[0].line) == ("a-no-question.csv", 1)
    assert "question" in problems[0].message and "column" in problems[0].message
    # C-2's question spans lines 2 and 3, so C-3 starts on line 4.
    assert [(p.file, p.line) for p in problems[1:]] == [("b-ok.csv", 4), ("b-ok.csv", 5), ("b-ok.csv", 6)]
    assert "'subject'" in problems[1].message and "'question'" in problems[2].message
    assert "extra cells" in problems[3].message


def test_bad_zendesk_files(tmp_path: Path) -> None:
    write(tmp_path / "a.json", '{\n  "articles": [\n    {"id": 1,}\n  ]\n}\n')
    write(tmp_path / "b.json", '{"results": []}')
    write(
        tmp_path / "c.json",
        json.dumps({"articles": [{"title": "No id"}, {"id": 7, "title": "T", "body": None}]}),
    )
    read = read_source(tmp_path)
    assert read.format == "zendesk"
    assert [d.path for d in read.documents] == ["zendesk/7"]
    assert [(p.file, p.line) for p in read.problems] == [("a.json", 3), ("b.json", None), ("c.json", None)]
    assert "not a Zendesk" in read.problems[1].message and "'id'" in read.problems[2].message


# --------------------------------------------------------------------------- redaction


def test_redactor_gets_the_previous_message_as_context(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    def recording(text: str, context: str = "") -> str:
        calls.append((text, context))
        return text

    tx_hash = "a3f1" * 16
    write(
        tmp_path / "t.jsonl",
        jsonl(
            ticket(
                "T-1",
                lang="zh",
                subject="转账没到",
                messages=[
                    {"role": "customer", "text": "币没到账"},
                    {"role": "agent", "text": "请提供交易哈希"},
                    {"role": "customer", "text": tx_hash},
                ],
            )
        ),
    )
    read_source(tmp_path / "t.jsonl", redact=recording)
    assert ("币没到账", "转账没到") in calls  # the first turn answers the subject
    assert ("请提供交易哈希", "币没到账") in calls
    assert (tx_hash, "请提供交易哈希") in calls


def test_every_ticket_text_passes_through_the_redactor() -> None:
    def marking(text: str, context: str = "") -> str:
        return f"«{text}»"

    for source in ("tickets.jsonl", "tickets.csv"):
        for doc in read_source(FIXTURES / "tickets" / source, redact=marking).documents:
            for section in doc.sections:
                assert all(line.startswith("«") and line.endswith("»") for line in section.text.split("\n"))
            meta = doc.meta
            assert doc.title.startswith("«") and doc.category and doc.category.startswith("«")
            for key in ("subject", "resolution", "channel", "priority"):
                assert meta[key].startswith("«"), (doc.path, key)
            assert meta["tags"] and all(t.startswith("«") for t in meta["tags"])
            assert all(m["text"].startswith("«") for m in meta["messages"])


def test_help_content_is_not_redacted() -> None:
    def failing(text: str, context: str = "") -> str:
        raise AssertionError("help content went through the redactor")

    assert read_source(FIXTURES / "markdown", redact=failing).documents


def test_problem_str_names_file_and_line() -> None:
    assert str(Problem("a.jsonl", 3, "bad")) == "a.jsonl:3: bad"


def test_links_to_other_pages_are_remembered_by_their_text(tmp_path: Path) -> None:
    page = write(
        tmp_path / "help" / "deposit.md",
        "# 充值未到账\n\n交易还在打包中，见[转账一直显示打包中怎么办？](../transfers/pending.md)。\n"
        "也可以看[这里](other.md)、[官网](https://example.com/a)和[本页下文](#steps)。\n\n"
        "<a href='fees.html'>矿工费是什么？</a>\n",
    )
    (doc,) = read_source(page.parent).documents
    # Relative links name other pages of the help center; external, in-page and
    # too-short ("这里") link texts are not names of pages.
    assert doc.link_texts == ("转账一直显示打包中怎么办？", "矿工费是什么？")
    # The text itself keeps them: passages are shown as written.
    assert "见转账一直显示打包中怎么办？。" in doc.sections[0].text


def test_a_web_link_that_says_only_here_keeps_its_address_in_the_text(tmp_path: Path) -> None:
    page = write(
        tmp_path / "help" / "wrong-chain.md",
        "# 转错链\n\n你也可以通过点击[**这里**](https://tools.example.com/find#/)来找回转错链的资产。\n"
        "See [here](https://example.com/x) or the [fee guide](https://example.com/fees); [这里](other.md) is a page.\n",
    )
    (doc,) = read_source(page.parent).documents
    text = doc.sections[0].text
    # An answer quoting the sentence must not tell the user to click on nothing.
    assert "点击这里（https://tools.example.com/find#/）来找回转错链的资产" in text
    assert "See here (https://example.com/x) or the fee guide (https://example.com/fees);" in text
    # A link to another page of the help center stays as written: the answer cites that page.
    assert "这里 is a page" in text


def test_a_named_web_link_shows_its_address_where_the_domain_is_official(tmp_path: Path) -> None:
    page = write(
        tmp_path / "help" / "explorers.md",
        "# 常见的公链浏览器\n\n[以太坊浏览器](https://cn.etherscan.com/)\\\n[波场链](https://tronscan.io/#/)\\\n"
        "关注我们：[Twitter](https://twitter.com/example) 或 [etherscan.io](https://etherscan.io/)，"
        "教程截图见[这张图](https://files.gitbook.io/x/files/shot.png)。\n"
        "点击[这里](https://tools.example.com/find?locale=zh#/)找回。\n",
    )
    (doc,) = read_source(page.parent, official_domains=["cn.etherscan.com", "etherscan.io", "tronscan.io"]).documents
    text = doc.sections[0].text
    # A quote is plain text: "以太坊浏览器" alone would send the user nowhere.
    assert "以太坊浏览器（https://cn.etherscan.com/）" in text and "波场链（https://tronscan.io/#/）" in text
    # Another domain's address would leave the sentence out of the index: the word stays alone.
    # A text that shows its address, and a picture, are not repeated.
    assert "关注我们：Twitter 或 etherscan.io，教程截图见这张图。" in text
    # "Click here" shows its address whatever the domain (ingest.screen judges it), and the
    # address's "?" ends no sentence of the passage.
    assert "点击这里（https://tools.example.com/find?locale=zh#/）找回。" in split_passage(text)


def test_absolute_links_to_the_sources_own_pages_are_links_to_pages(tmp_path: Path) -> None:
    write(tmp_path / "faq" / "fees" / "gas.md", "# 矿工费\n\n说明。\n")
    write(tmp_path / "faq" / "wallet" / "README.md", "# 钱包\n\n说明。\n")
    write(
        tmp_path / "faq" / "pending.md",
        "# 打包中\n\n"
        "见[矿工费怎么设置才合适](https://help.example.com/cn/faq/fees/gas)、"
        "[钱包的基础知识介绍](/cn/faq/wallet/)和[如何查看手续费说明](https://help.example.com/cn/Faq/Fees/Gas.html#top)。\n"
        "外部的[区块浏览器使用教程](https://etherscan.io/faq/fees/other)、"
        "[另一个网站的说明](https://example.org/gas)不算。\n",
    )
    docs = {d.path: d for d in read_source(tmp_path).documents}
    # The URL's path ends with a page's path (two segments or more): that page, whatever the
    # site's prefix (/cn/), case, suffix or fragment. Other sites' pages are not.
    assert docs["faq/pending.md"].link_texts == ("矿工费怎么设置才合适", "如何查看手续费说明", "钱包的基础知识介绍")
