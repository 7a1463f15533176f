"""A second wallet deploys kefu with its own brand file: its names, texts and domains are used,
and a broken file is refused with the file and the field or line named."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.brand import DEMO_BRAND_FILE, MESSAGE_KEYS, active_brand, demo_brand, load_brand
from kefu.errors import ConfigError
from kefu.settings import Settings
from service.handoff import ANSWER_REASONS, build_handoff, user_message
from service.intents import FRAUD_KINDS, warning
from service.rules import REASONS, check_rules
from service.safety import check_shown, promises_recovery

ORCA = """
official_domains = ["orcawallet.example", "etherscan.io"]

[names]
zh = ["鲸鱼钱包", "鲸鱼"]
en = ["Orca Wallet", "Orca"]

[user_messages.zh]
human_requested = "好的，鲸鱼钱包的客服马上来。"
default = "这个问题交给鲸鱼钱包的同事处理。"
fraud_fake_app = "鲸鱼钱包只在 https://orcawallet.example/download 发布，别人发来的安装包都是假的。"

[user_messages.en]
human_requested = "Sure, an Orca Wallet agent is on the way."
default = "An Orca Wallet colleague will take this one."
fraud_fake_app = "Orca Wallet is only published at https://orcawallet.example/download: an APK someone sends is fake."
"""


@pytest.fixture
def orca_file(tmp_path: Path) -> Path:
    path = tmp_path / "orca.toml"
    path.write_text(ORCA, encoding="utf-8")
    return path


def reasons(text: str, **kwargs: object) -> list[str]:
    return [hit.reason for hit in check_rules(text, **kwargs)]  # type: ignore[arg-type]


def test_the_message_keys_are_the_handoff_reasons() -> None:
    # secret_shared_password: the text for a password pasted alone, secret_shared_elsewhere: for a
    # secret given away elsewhere, nothing pasted (both fall back to secret_shared);
    # low_confidence_after_answer: after an answer already shown (falls back to low_confidence)
    variants = {"secret_shared_password", "secret_shared_elsewhere", "low_confidence_after_answer"}
    # fraud_<kind>: the warning a question about a scam gets first (not a handoff reason)
    warnings = {f"fraud_{kind}" for kind in FRAUD_KINDS}
    assert {*REASONS, *ANSWER_REASONS, "default", *variants, *warnings} == MESSAGE_KEYS


def test_the_demo_brand_is_the_default() -> None:
    brand = demo_brand()
    assert brand.file == DEMO_BRAND_FILE
    assert brand.display_name("zh") == "港湾钱包"
    assert "harborwallet.example" in brand.official_domains
    assert Settings.from_env({}).official_domains == brand.official_domains
    assert "港湾钱包是非托管钱包" in (brand.agent_reply("stolen_funds", "zh") or "")


def test_a_second_brand_is_the_company_to_the_rules(orca_file: Path) -> None:
    orca = load_brand(orca_file)
    assert "compensation" in reasons("orca will pay for this", brand=orca)
    assert "compensation" not in reasons("orca will pay for this", brand=demo_brand())
    assert "compensation" in reasons("harbor will pay for this", brand=demo_brand())
    assert "compensation" not in reasons("harbor will pay for this", brand=orca)


def test_a_second_brand_is_kefu_to_the_answer_check(orca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    promise = "Orca Wallet will recover your funds."
    assert promises_recovery(promise) is None  # to the demo brand, Orca is nobody
    monkeypatch.setenv("KEFU_BRAND_FILE", str(orca_file))
    assert "kefu promises" in (promises_recovery(promise) or "")
    assert "kefu promises" in (promises_recovery("鲸鱼钱包会帮您追回被盗的资金。") or "")


def test_a_second_brands_texts_are_what_the_user_and_agent_get(orca_file: Path) -> None:
    orca = load_brand(orca_file)
    assert user_message("human_requested", "zh", brand=orca) == "好的，鲸鱼钱包的客服马上来。"
    assert user_message("low_confidence", "en", brand=orca) == "An Orca Wallet colleague will take this one."
    # what the file leaves out is the demo brand's text, in this brand's name
    assert user_message("stolen_funds", "en", brand=orca) == demo_brand().user_message("stolen_funds", "en")
    handoff = build_handoff(
        reason="stolen_funds",
        question="币被盗了",
        history=[],
        lang="zh",
        hits=[],
        category=None,
        priority="urgent",
        sentiment="anxious",
        brand=orca,
    )
    assert "鲸鱼钱包是非托管钱包" in handoff.suggested_reply
    assert "港湾" not in handoff.suggested_reply


def test_a_second_brands_scam_warning_is_what_the_user_gets(orca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orca = load_brand(orca_file)
    assert warning("fake_app", "zh", brand=orca).startswith("鲸鱼钱包只在 https://orcawallet.example/download 发布")
    assert "orcawallet.example" in warning("fake_app", "en", brand=orca)
    # a warning the file leaves out is the demo brand's
    assert warning("phishing_site", "en", brand=orca) == warning("phishing_site", "en", brand=demo_brand())
    monkeypatch.setenv("KEFU_BRAND_FILE", str(orca_file))
    assert warning("fake_app", "en") == warning("fake_app", "en", brand=orca)


def test_the_demo_brand_warns_of_every_kind_of_scam_in_both_languages() -> None:
    demo = demo_brand()
    for kind in FRAUD_KINDS:
        for lang in ("zh", "en"):
            # a missing text would fall back to "default", which is no warning
            assert f"fraud_{kind}" in demo.user_messages[lang], (kind, lang)
            assert warning(kind, lang, brand=demo) != demo.user_message("default", lang)


def test_the_environment_picks_the_brand(orca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_BRAND_FILE", str(orca_file))
    assert active_brand().display_name("en") == "Orca Wallet"
    assert user_message("human_requested", "en") == "Sure, an Orca Wallet agent is on the way."
    assert "compensation" in reasons("orca will pay for this")
    settings = Settings.from_env({"KEFU_BRAND_FILE": str(orca_file)})
    assert settings.brand_file == orca_file
    assert settings.official_domains == ("orcawallet.example", "etherscan.io")
    assert settings.brand.display_name("zh") == "鲸鱼钱包"
    explicit = {"KEFU_BRAND_FILE": str(orca_file), "KEFU_OFFICIAL_DOMAINS": "orca.example"}
    assert Settings.from_env(explicit).official_domains == ("orca.example",)


def test_a_second_brands_official_domains_are_honoured(orca_file: Path) -> None:
    domains = Settings.from_env({"KEFU_BRAND_FILE": str(orca_file)}).official_domains
    answer = "请从 https://orcawallet.example/download 下载。不要访问 https://harborwallet.example/verify 。"
    sources = [answer]
    result = check_shown(answer, sources, official_domains=domains)
    assert [v.detail for v in result.violations] == ["not an official domain: https://harborwallet.example/verify"]
    assert result.text == "请从 https://orcawallet.example/download 下载。"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('official_domains = ["a.example"]\n[names\nzh = ["x"]\n', r"not valid TOML.*line 2"),
        ('official_domains = ["a.example"]\n[names]\nzh = "鲸鱼"\nen = ["Orca"]\n', r"names\.zh: must be a list"),
        ('official_domains = ["a.example"]\n[names]\nzh = ["鲸鱼"]\n', r"names\.en: must be a list"),
        ('official_domains = ["a.example"]\n[names]\nzh = ["鲸鱼", ""]\nen = ["Orca"]\n', r"names\.zh\[1\]"),
        ('official_domains = ["a.example", "a b"]\n[names]\nzh = ["鲸"]\nen = ["O"]\n', r"official_domains\[1\]"),
        ('official_domains = ["a.example"]\n', r"names: missing"),
        (
            'official_domains = ["a.example"]\n[names]\nzh = ["鲸"]\nen = ["O"]\n[user_messages.en]\nhuman = "x"\n',
            r"user_messages\.en\.human: not a reason",
        ),
        (
            'official_domains = []\n[names]\nzh = ["鲸"]\nen = ["O"]\n[agent_replies.zh]\nstolen_funds = 3\n',
            r"agent_replies\.zh\.stolen_funds: must be a non-empty string",
        ),
        ('official_domain = ["a.example"]\n[names]\nzh = ["鲸"]\nen = ["O"]\n', r"official_domain: unknown field"),
    ],
)
def test_a_malformed_brand_file_names_the_file_and_the_field_or_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad-brand.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"brand file .*bad-brand\.toml: .*{where}"):
        load_brand(path)
    with pytest.raises(ConfigError, match=r"bad-brand\.toml"):
        Settings.from_env({"KEFU_BRAND_FILE": str(path)})


def test_a_missing_brand_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: not found"):
        Settings.from_env({"KEFU_BRAND_FILE": str(tmp_path / "nowhere.toml")})
