"""The answer path's stages with fakes (tests/fakes: no model, no index, no server): prepare,
retrieve, decide, compose (quote, rendering, generation, fraud warning) and score each do what
they say, and every way out (answer, warning, each handoff reason) is reached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kefu.errors import BackendUnavailableError, BadInputError
from kefu.vocab import MAX_QUESTION_CHARS
from service.answerer import Answerer, Found
from service.confidence import Calibration
from service.glossary import Glossary
from service.retriever import CONTENDER_SHARE, DocumentHit, SearchFilters, SearchResult
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.generator import FakeGenerator, collect
from tests.fakes.retriever import SlowRetriever, article_hit

pytestmark = pytest.mark.anyio


def hit(doc_id: str, passage: str, *, dense: float = 0.9, title: str = "标题", kind: str = "article") -> DocumentHit:
    return article_hit(doc_id, passage, title=title, dense=dense, kind=kind)


PENDING = hit(
    "help/zh/pending.md",
    "转账一直打包中，通常是矿工费设置过低。\n在交易详情页点击「加速」，提高矿工费后重新提交。\n港湾钱包成立于2020年。",
    title="转账一直打包中",
)
OPEN = Calibration(threshold=0.0)


def answerer(hits: list[DocumentHit], gen: FakeGenerator | None = None, **kw: object) -> Answerer:
    retriever = SlowRetriever(hits=hits, embedder=FakeEmbedder())
    return Answerer(retriever, gen or FakeGenerator([]), **kw)  # type: ignore[arg-type]


def test_prepare_redacts_runs_the_rules_and_knows_the_language() -> None:
    a = answerer([PENDING])
    seed = "abandon ability able about above absent absorb abstract absurd abuse access accident"
    turn = a.prepare(f"我的助记词是 {seed} 帮我看看")
    assert "abandon" not in turn.question and turn.reasons[0] == "secret_shared" and turn.lang == "zh"
    assert a.prepare("why is my transfer pending?").lang == "en"


async def test_rules_and_empty_search_decide_before_any_answer() -> None:
    gen = FakeGenerator(["不会用到"])
    _, stolen = await collect(answerer([PENDING], gen), "我的币被盗了，被转走了全部USDT")
    assert stolen.action == "handoff" and stolen.reason == "stolen_funds"
    _, nothing = await collect(answerer([], gen), "转账一直打包中怎么办")
    assert nothing.action == "handoff" and nothing.reason == "no_sources"
    assert gen.prompts == []


async def test_a_chinese_question_is_quoted_without_the_llm() -> None:
    gen = FakeGenerator(["不会用到"])
    streamed, result = await collect(answerer([PENDING], gen, calibration=OPEN), "转账一直打包中怎么办")
    assert result.action == "answer" and result.mode == "quoted" and gen.prompts == []
    assert "矿工费设置过低" in result.answer and result.answer.rstrip().endswith("[1]")
    assert streamed == result.answer and [c.source for c in result.citations] == ["help/zh/pending.md"]


async def test_an_english_question_gets_the_chinese_sentences_rendered_and_cited() -> None:
    gen = FakeGenerator(["Here is the translation:\n", "The fee is too low. Tap Speed up", " [3] to resubmit."])
    streamed, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "rendered" and result.action == "answer" and result.lang == "en"
    assert result.answer == "The fee is too low. Tap Speed up to resubmit. [1]" and streamed == result.answer
    (prompt,) = gen.prompts
    assert prompt[-1].content == " ".join(result.sources[0].text.split("\n"))


async def test_a_rendered_line_is_cited_to_the_source_it_renders_when_the_model_skips_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("service.answerer.OTHER_SOURCE_FLOOR", 1.0)  # both articles join
    switch = hit("help/zh/arb.md", "打开钱包，点击左上角切换到 Arbitrum 网络。", title="Arbitrum")
    fee = hit("help/zh/gas.md", "转账的 gas 费用以 ETH 支付。", title="gas")
    # The model renders only the second line: by position it would be cited to the first source.
    gen = FakeGenerator(["The gas fee is paid in ETH.\n"])
    _, result = await collect(answerer([switch, fee], gen, calibration=OPEN), "does arbitrum cost gas")
    (prompt,) = gen.prompts
    assert len(result.sources) == 2 and len(prompt[-1].content.split("\n")) == 2
    assert result.answer == "The gas fee is paid in ETH. [2]"
    assert [c.source for c in result.citations] == ["help/zh/gas.md"]
    # Rendered in order, each line keeps its own source.
    gen = FakeGenerator(["Switch to Arbitrum.\nThe gas fee is paid in ETH.\n"])
    _, both = await collect(answerer([switch, fee], gen, calibration=OPEN), "does arbitrum cost gas")
    assert both.answer == "Switch to Arbitrum. [1]\nThe gas fee is paid in ETH. [2]"


@pytest.mark.parametrize(
    ("style", "question"),
    [
        ("quote", "转账一直打包中怎么办"),
        ("quote", "my transfer is stuck pending"),
        ("generate", "转账一直打包中怎么办"),
    ],
)
async def test_an_article_search_scores_far_below_the_top_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, style: str, question: str
) -> None:
    # Its sentence comes as close as the top article's (the floor lets every sentence join),
    # which is how clutter from unrelated articles got into answers: only its score keeps it out.
    monkeypatch.setattr("service.answerer.OTHER_SOURCE_FLOOR", 1.0)
    other = hit("help/zh/cancel.md", "转账一直打包中，也可以在交易详情页点击「取消」。", title="取消交易")
    for share, shown in ((CONTENDER_SHARE + 0.05, 2), (CONTENDER_SHARE - 0.05, 1)):
        low = replace(other, score=PENDING.score * share)
        a = answerer([PENDING, low], FakeGenerator(["x"]), style=style, calibration=OPEN)
        turn = a.prepare(question)
        measured = await a.measure(turn, await a.retrieve(turn))
        picked = measured.selected.sources if style == "quote" else measured.sources
        assert [s.doc_id for s in picked] == [PENDING.doc_id, other.doc_id][:shown], (share, style, question)


async def test_a_chinese_term_the_rendering_left_in_is_put_in_english_by_the_glossary() -> None:
    gen = FakeGenerator(["The 矿工费 is too low, so tap Speed up. The app is a正版 one.\n"])
    a = answerer([PENDING], gen, calibration=OPEN)
    a.retriever.glossary = Glossary.load()
    _, result = await collect(a, "my transfer is stuck pending")
    assert result.answer == "The gas is too low, so tap Speed up. The app is a genuine one. [1]"
    # Words the glossary does not know stay as the model wrote them.
    assert Glossary.load().in_english("one hundred percent名额 free") == "one hundred percent名额 free"


async def test_a_late_rendering_falls_back_to_the_sentences_said_to_be_chinese() -> None:
    slow = FakeGenerator(["The fee", " is too low."], delay=2.0)
    _, result = await collect(answerer([PENDING], slow, calibration=OPEN, deadline=1.0), "my transfer is stuck")
    assert result.mode == "extractive" and result.action == "answer"
    lead, shown = result.answer.split("\n", 1)
    # The fake embedder cannot match English to Chinese: whichever section was picked is shown as written.
    assert lead == "From the help center (in Chinese):"
    assert set(shown.removesuffix(" [1]").split(" ")) <= set(PENDING.passage.split("\n"))


async def test_a_rendering_in_the_wrong_language_is_not_shown_as_english() -> None:
    gen = FakeGenerator(["转账一直打包中，矿工费太低。"])
    _, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "extractive" and result.answer.startswith("From the help center (in Chinese):")


async def test_a_rendering_that_copies_the_chinese_is_given_up_at_once() -> None:
    # A small model sometimes numbers the line and then copies the source instead of translating.
    copying = [
        "1.\n",
        "转账一直打包中，",
        "通常是矿工费设置过低。",
        "在交易详情页点击「加速」。",
        *["港湾钱包成立于2020年。"] * 20,
    ]
    gen = FakeGenerator(copying, delay=0.05)
    _, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "extractive" and result.answer.startswith("From the help center (in Chinese):")
    # Two untranslated sentences in a row: the stream is closed (the model stops), not read to its end.
    assert gen.served < 6 and gen.closed_early
    # A line with no word in it ("1.") is never shown.
    assert not result.answer.startswith("1.")


async def test_a_rendered_web_address_is_never_cut_at_its_question_mark() -> None:
    text = "在区块浏览器 https://etherscan.io/tx?a=1 输入交易哈希查看状态。"
    explorer = hit("help/zh/explorer.md", text, title="查看交易")
    # The model's stream breaks inside the address, just after its "?".
    gen = FakeGenerator(["Check the status at https://etherscan.io/tx?", "a=1 by entering the hash.\n"])
    _, result = await collect(answerer([explorer], gen, calibration=OPEN), "where do I check my transaction status?")
    assert result.mode == "rendered"
    assert result.answer == "Check the status at https://etherscan.io/tx?a=1 by entering the hash. [1]"


async def test_a_rendered_steps_number_stays_with_its_step() -> None:
    # The first step came back untranslated: its number must not be left standing alone.
    gen = FakeGenerator(["1.", " 打开这笔交易的详情页。", " 2.", " Tap Speed up to resubmit.\n"])
    _, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "rendered" and result.answer == "2. Tap Speed up to resubmit. [1]"


async def test_a_scam_question_opens_with_the_warning_at_high_priority() -> None:
    fake = hit("help/zh/scam.md", "官方客服不会私信你，也不会索要助记词。\n请只通过官网联系客服。", title="防骗")
    _, result = await collect(answerer([fake], calibration=OPEN), "有个自称官方客服的加我电报 让我填助记词验证钱包")
    assert result.action == "answer" and result.intent == "fraud:secret_request" and result.priority == "high"
    first, *rest = result.answer.split("\n")
    assert first.startswith("这是诈骗") and rest


async def test_a_scam_question_is_never_quoted_a_step_that_has_the_user_enter_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every sentence of the second article may join, so the import step would be quoted.
    monkeypatch.setattr("service.answerer.OTHER_SOURCE_FLOOR", 1.0)
    scam = hit("help/zh/scam.md", "电报群的假客服会私信你，让你填写表单，企图盗取助记词。\n客服不会让你输入助记词。")
    import_steps = hit("help/zh/import.md", "导入钱包的步骤：\n导入钱包时，输入已备份好的助记词并点击确认。")
    question = "电报群里的客服私信我 让我输入助记词导入钱包 靠谱吗"
    _, result = await collect(answerer([scam, import_steps], calibration=OPEN), question)
    assert result.intent == "fraud:secret_request" and result.mode == "quoted"
    assert "输入已备份好的助记词" not in result.answer and "导入钱包的步骤" not in result.answer
    # The article's account of the scam, and its "never", stay.
    assert "企图盗取助记词" in result.answer and "客服不会让你输入助记词" in result.answer
    assert [c.source for c in result.citations] == ["help/zh/scam.md"]
    # Where the step was all there was to quote, the warning stands alone.
    _, alone = await collect(answerer([import_steps], calibration=OPEN), question)
    assert alone.action == "answer" and alone.reason == "fraud_warning" and "导入钱包" not in alone.answer
    # The same step answers a question that is not about a scam.
    _, plain = await collect(answerer([import_steps], calibration=OPEN), "导入钱包 输入助记词")
    assert "输入已备份好的助记词" in plain.answer


async def test_under_a_scam_warning_only_what_tells_of_scams_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.answerer.OTHER_SOURCE_FLOOR", 1.0)
    fees = hit("help/zh/gas.md", "手续费是由Gas Price和Gas Limit确定的。\n矿工费会支付给矿工。", title="什么是矿工费")
    fake_support = hit("help/zh/fake-support.md", "骗子会冒充客服私信用户，谎称交手续费就能解决问题。", title="假客服")
    question = "有个客服说能帮我解决转账问题 但要先交一笔手续费 这是真的客服吗"
    # A fee formula under "beware of fake support" reads as the help center's answer to the scam.
    _, alone = await collect(answerer([fees], calibration=OPEN), question)
    assert alone.intent == "fraud:impersonation" and alone.reason == "fraud_warning" and "Gas" not in alone.answer
    _, both = await collect(answerer([fees, fake_support], calibration=OPEN), question)
    assert "冒充客服" in both.answer and "Gas" not in both.answer
    assert [c.source for c in both.citations] == ["help/zh/fake-support.md"]
    # The same article answers a question about fees.
    _, plain = await collect(answerer([fees], calibration=OPEN), "转账手续费是怎么算的")
    assert "Gas Price" in plain.answer


async def test_a_scam_question_no_article_answers_still_gets_the_warning() -> None:
    unrelated = hit("help/zh/nft.md", "NFT 是非同质化代币。", dense=0.1)
    strict = Calibration(threshold=0.99)
    _, result = await collect(answerer([unrelated], calibration=strict), "有人发我tp国际版下载链接 说功能更全 能装吗")
    assert result.action == "answer" and result.reason == "fraud_warning" and result.mode == "warning"
    assert "官网" in result.answer and result.citations == [] and result.priority == "high"


async def test_a_scam_warning_is_the_deployments_brand_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another wallet words the warning its own way and names its site.
    text = "鲸鱼钱包只在 https://orcawallet.example 发布，别人发来的安装包都是假的。"
    brand = tmp_path / "orca.toml"
    brand.write_text(
        'official_domains = ["orcawallet.example"]\n[names]\nzh = ["鲸鱼钱包"]\nen = ["Orca Wallet"]\n'
        f'[user_messages.zh]\nfraud_fake_app = "{text}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("KEFU_BRAND_FILE", str(brand))
    unrelated = hit("help/zh/nft.md", "NFT 是非同质化代币。", dense=0.1)
    a = answerer([unrelated], calibration=Calibration(threshold=0.99), official_domains=["orcawallet.example"])
    _, result = await collect(a, "有人发我tp国际版下载链接 说功能更全 能装吗")
    assert result.reason == "fraud_warning" and result.intent == "fraud:fake_app"
    assert result.answer == text


async def test_a_quote_the_output_check_cut_entirely_is_a_handoff_not_an_empty_answer() -> None:
    # The one line holds a link outside the official domains: the check cuts it, and the
    # user was once shown only "帮助中心的相关说明：".
    line = "提交代币图标请在 https://github.com/TP-Lab/tokens 上提交代币图标和信息文件。"
    linked = hit("help/zh/logo.md", line, title="提交图标")
    question = "怎么提交代币图标"
    _, result = await collect(answerer([linked], calibration=OPEN, official_domains=["harborwallet.example"]), question)
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert "帮助中心的相关说明" not in result.answer
    # With the link's domain official, the same line is the answer.
    _, shown = await collect(answerer([linked], calibration=OPEN, official_domains=["github.com"]), question)
    assert shown.action == "answer" and "github.com/TP-Lab/tokens" in shown.answer


async def test_a_weak_answer_goes_to_the_agent_as_a_draft() -> None:
    _, result = await collect(answerer([PENDING], calibration=Calibration(threshold=0.999)), "转账一直打包中怎么办")
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.handoff is not None and "矿工费" in (result.handoff.suggested_reply or "")


async def test_a_rendering_already_shown_that_scores_low_says_it_may_fall_short() -> None:
    # Only how much of the question the answer holds counts here: a rendering that holds none
    # of "transfer stuck pending" scores low, after its lines were streamed.
    wordy = Calibration(weights={"word_overlap": 10.0}, bias=-5.0, threshold=0.5)
    gen = FakeGenerator(["The fee is too low. Tap Speed up to resubmit."])
    streamed, result = await collect(answerer([PENDING], gen, calibration=wordy), "my transfer is stuck pending")
    assert result.action == "handoff" and result.reason == "low_confidence" and result.evidence.word_overlap == 0.0
    shown, said = streamed.rsplit("\n", 1)
    assert shown.startswith("The fee is too low.")
    assert said == result.answer == "This may not fully answer your question, so I've also passed you to a human agent."
    # Nothing shown yet: the user is told no reliable answer was found.
    _, unshown = await collect(answerer([PENDING], calibration=Calibration(threshold=0.999)), "转账一直打包中怎么办")
    assert unshown.answer.startswith("这个问题我没有在帮助中心找到可靠的答案")
    # A caller that reads only the final answer (no streaming) never saw the rendering: it is
    # told of the handoff, not that an answer it never got may fall short.
    gen = FakeGenerator(["The fee is too low. Tap Speed up to resubmit."])
    collected = await answerer([PENDING], gen, calibration=wordy).answer("my transfer is stuck pending")
    assert collected.reason == "low_confidence" and "The fee is too low" in (collected.handoff.suggested_reply or "")
    assert collected.answer.startswith("I couldn't find a reliable answer")


# --- prepare, retrieve, decide -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "mode", "field"),
    [("", "answer", "question"), ("  \n ", "answer", "question"),
     ("x" * (MAX_QUESTION_CHARS + 1), "answer", "question"), ("转账打包中", "chat", "mode")],
)  # fmt: skip
def test_prepare_refuses_what_cannot_be_asked_naming_the_field(question: str, mode: str, field: str) -> None:
    with pytest.raises(BadInputError, match=f"^{field}: "):
        answerer([PENDING]).prepare(question, mode=mode)  # type: ignore[arg-type]


def test_prepare_takes_the_language_asked_for_and_rewrites_a_follow_up() -> None:
    a = answerer([PENDING])
    assert a.prepare("转账一直打包中", lang="en").lang == "en"
    turn = a.prepare("那手续费呢？", [("user", "波场转USDT需要什么"), ("assistant", "需要能量 [1]。")])
    assert turn.standalone.startswith("波场转USDT需要什么") and turn.history[0] == ("user", "波场转USDT需要什么")


def test_decide_puts_a_rule_before_an_empty_search_and_lets_found_passages_through() -> None:
    a = answerer([PENDING])
    found = Found(hits=[PENDING], similar=[], query="q", category=None, priority="normal")
    empty = Found(hits=[], similar=[], query="q", category=None, priority="normal")
    assert a.decide(a.prepare("我要投诉 转人工"), empty) == "compensation"
    assert a.decide(a.prepare("转账一直打包中怎么办"), empty) == "no_sources"
    assert a.decide(a.prepare("转账一直打包中怎么办"), found) is None


async def test_a_reply_draws_on_articles_and_only_an_agent_sees_similar_tickets() -> None:
    ticket = hit("tickets/t-1.jsonl", "用户：转账一直打包中\n客服：请加速。", kind="ticket")
    a = answerer([ticket, PENDING])
    user = await a.retrieve(a.prepare("转账一直打包中怎么办"))
    agent = await a.retrieve(a.prepare("转账一直打包中怎么办", mode="suggest"))
    assert [h.doc_id for h in user.hits] == [PENDING.doc_id] and user.similar == []
    assert [h.doc_id for h in agent.hits] == [PENDING.doc_id] and [h.doc_id for h in agent.similar] == [ticket.doc_id]


async def test_a_question_search_refuses_is_handed_off_as_finding_nothing() -> None:
    class Refusing(SlowRetriever):
        def search(self, query: str, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
            raise BadInputError("query: nothing to search for")

    a = Answerer(Refusing(hits=[PENDING], embedder=FakeEmbedder()), FakeGenerator([]), calibration=OPEN)
    _, result = await collect(a, "转账一直打包中怎么办")
    assert result.action == "handoff" and result.reason == "no_sources" and result.hits == []


async def test_a_handoff_for_a_score_is_no_more_urgent_than_the_message() -> None:
    # A low score adds no urgency of its own; a rule does.
    weak = answerer([PENDING], calibration=Calibration(threshold=0.999))
    _, result = await collect(weak, "转账一直打包中怎么办")
    _, stolen = await collect(weak, "我的币被盗了，被转走了全部USDT")
    assert result.reason == "low_confidence" and result.handoff is not None
    assert result.handoff.priority == "normal"
    assert stolen.handoff is not None and stolen.handoff.priority == "urgent"


# --- the generate style: the LLM writes, the score decides --------------------------------------

SOURCE_SENTENCE = "转账一直打包中，通常是矿工费设置过低"


def generating(reply: list[str], **kw: object) -> tuple[Answerer, FakeGenerator]:
    gen = FakeGenerator(reply, **kw)  # type: ignore[arg-type]
    return answerer([PENDING], gen, style="generate", calibration=OPEN), gen


async def test_a_cited_supported_answer_is_given_with_its_citation() -> None:
    a, gen = generating([SOURCE_SENTENCE, " [1]", "。"])
    streamed, result = await collect(a, "转账一直打包中怎么办")
    assert result.action == "answer" and result.reason == "grounded" and result.mode == "generated"
    assert streamed.strip() == result.answer and [c.source for c in result.citations] == [PENDING.doc_id]
    assert result.evidence.grounded > 0 and result.evidence.cited == 1.0
    (prompt,) = gen.prompts
    assert "[1]" in prompt[-1].content and "矿工费" in prompt[-1].content


async def test_a_citation_to_no_source_is_not_shown() -> None:
    a, _ = generating([SOURCE_SENTENCE, " [7]", "。"])
    _, result = await collect(a, "转账一直打包中怎么办")
    assert "[7]" not in result.answer and all(c.n == 1 for c in result.citations)


async def test_a_cited_answer_no_source_supports_goes_to_the_agent_as_a_draft() -> None:
    a, _ = generating(["火星上的天气非常寒冷", " [1]", "。"])
    _, result = await collect(a, "转账一直打包中怎么办")
    assert result.evidence.cited == 1.0 and result.evidence.grounded == 0.0
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.handoff is not None and "火星" in (result.handoff.suggested_reply or "")


async def test_an_unsafe_sentence_is_never_shown_and_an_answer_of_little_else_is_handed_off() -> None:
    a, _ = generating([SOURCE_SENTENCE, " [1]。", "请提供您的助记词以便我们验证 [1]。"])
    streamed, result = await collect(a, "转账一直打包中怎么办")
    assert "助记词" not in streamed and "助记词" not in result.answer and "asks_for_secret" in result.violations
    short, _ = generating(["加速 [1]。", "请提供您的助记词以便我们验证 [1]。"])
    _, unsafe = await collect(short, "转账一直打包中怎么办")
    assert unsafe.action == "handoff" and unsafe.reason == "unsafe_answer" and "助记词" not in unsafe.answer


async def test_a_model_that_cannot_answer_hands_off_with_the_passage_as_draft() -> None:
    a, _ = generating(["无法根据资料回答。"])
    _, result = await collect(a, "转账一直打包中怎么办")
    assert result.action == "handoff" and result.reason == "no_answer"
    assert result.handoff is not None and "矿工费" in (result.handoff.suggested_reply or "")


async def test_an_llm_that_fails_is_replaced_by_the_passage_itself() -> None:
    a, _ = generating([], fail=BackendUnavailableError("LLM server at 127.0.0.1:1 is not reachable"))
    streamed, result = await collect(a, "转账一直打包中怎么办")
    assert result.action == "answer" and result.reason == "extractive_fallback" and result.mode == "extractive"
    assert result.answer.startswith("以下内容摘自帮助中心文章《转账一直打包中》") and "矿工费" in result.answer
    assert streamed.strip() == result.answer and [c.source for c in result.citations] == [PENDING.doc_id]


async def test_an_answerer_over_a_new_index_keeps_its_settings_and_answers_from_the_new_one() -> None:
    # What the service does after a reindex: same calibration, limits and generator, new index.
    old = answerer([PENDING], calibration=Calibration(threshold=0.999), quote_chars=120, max_sources=2)
    stolen = article_hit("help/zh/stolen.md", "钱包被盗后请立即创建新钱包，把剩余资产转走。", dense=0.9)
    fresh = old.with_parts(retriever=SlowRetriever(hits=[stolen], embedder=FakeEmbedder()))  # type: ignore[arg-type]
    assert fresh is not old and fresh.generator is old.generator and fresh.calibration is old.calibration
    assert (fresh.quote_chars, fresh.max_sources, fresh.style) == (120, 2, old.style)
    _, result = await collect(fresh, "转账一直打包中怎么办")
    # The strict threshold came along (a handoff), and the draft is drawn from the new index.
    assert result.action == "handoff" and [h.doc_id for h in result.hits] == ["help/zh/stolen.md"]


def test_a_scam_that_asks_to_verify_the_wallet_is_a_scam_question_not_an_account_lookup() -> None:
    a = answerer([PENDING])
    turn = a.prepare("a guy in telegram says he's harbor support and wants my seed phrase to verify my wallet")
    assert turn.fraud is not None and turn.fraud.kind == "secret_request" and turn.reasons == []
    # Without a scam, the same words still ask a person to look the account up.
    assert a.prepare("can you verify my wallet 0x52908400098527886E0F7030069857D2E4169EE7").reasons == [
        "account_lookup"
    ]


async def test_a_secret_given_away_elsewhere_is_not_said_to_have_been_hidden_here() -> None:
    _, told = await collect(answerer([PENDING]), "我把助记词发给了一个自称客服的人，现在怎么办")
    assert told.action == "handoff" and told.reason == "secret_shared" and told.priority == "urgent"
    assert "已经给了别人" in told.answer and "隐藏" not in told.answer and "新钱包" in told.answer
    seed = "abandon ability able about above absent absorb abstract absurd abuse access accident"
    _, pasted = await collect(answerer([PENDING]), f"我的助记词是 {seed} 帮我看看")
    assert pasted.reason == "secret_shared" and "已将其隐藏" in pasted.answer


def test_a_fee_first_scam_question_gets_the_warning_not_an_out_of_scope_handoff() -> None:
    # "先交税才能提币" reads like a tax question to the out-of-scope rule; it is the scam.
    turn = answerer([PENDING]).prepare("平台客服说先交税才能提币 这是真的吗")
    assert turn.fraud is not None and turn.fraud.kind == "impersonation" and turn.reasons == []


def test_an_index_whose_articles_link_outside_the_served_domains_is_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from service.answerer import warn_of_foreign_links

    index = SimpleNamespace(
        manifest=SimpleNamespace(name="tp-cn"),
        documents=[SimpleNamespace(kind="article"), SimpleNamespace(kind="ticket")],
        chunks=[
            SimpleNamespace(doc=0, text="打开 https://bridge.base.org/deposit 进行跨链。"),
            SimpleNamespace(doc=1, text="我在 https://scam.example 领了空投"),  # a ticket: never quoted
        ],
    )
    with caplog.at_level("WARNING", logger="kefu.answer"):
        assert warn_of_foreign_links(index, ["harborwallet.example"]) == {"bridge.base.org": 1}
    assert "bridge.base.org (1)" in caplog.text and "KEFU_BRAND_FILE" in caplog.text
    caplog.clear()
    assert not warn_of_foreign_links(index, ["base.org"]) and not caplog.text
