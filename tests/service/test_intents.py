"""The anti-fraud intent: questions about a scam are told so first; ordinary questions that
share its words (a password, a sync, a 0 in an amount) are not."""

from __future__ import annotations

import pytest

from service.intents import detect_fraud, warning


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("有个自称tp客服的加我电报 说帮我验证钱包 让我填助记词", "secret_request"),
        ("有人说是tp工作人员 要我发助记词给他核实 官方会这样吗", "secret_request"),
        ("刷到一个跟官网长得一模一样的网站 要输助记词才能领空投 我没输", "secret_request"),
        ("在电报群里问了个问题 马上就有个官方客服私聊我 让我去个网站同步一下钱包", "impersonation"),
        ("someone claiming to be support DM'd me on telegram", "impersonation"),
        ("有个客服说能帮我解决转账问题 但要先交一笔手续费 这是真的客服吗", "impersonation"),
        ("an agent on telegram says I have to pay a release fee first before he can fix my wallet", "impersonation"),
        ("群里有人说我的账户被冻结了，要先转500u保证金才能解冻", "impersonation"),
        ("对方说要先充值手续费才能提现", "impersonation"),
        # Anyone who asks for the phrase, a friend too; a link that had the user sign.
        ("朋友让我把助记词发给他帮我看看", "secret_request"),
        ("a friend asked for my recovery phrase", "secret_request"),
        ("i clicked a link and signed something, now i'm scared", "phishing_site"),
        ("刚才点了一个链接签名了 会不会有问题", "phishing_site"),
        # A "frozen" wallet that wants a deposit, a stranger who offers to get stolen coins back,
        # a token from nowhere "worth" a lot.
        ("我的钱包被冻结了，客服说要交保证金", "impersonation"),
        ("a recovery service dm'd me saying they can get my funds back", "impersonation"),
        ("收到一个不认识的币 价值好几万 能卖吗", "fake_token"),
        ("got a random token worth 20k in my wallet, how do i sell it", "fake_token"),
        # "Support" that talks on a messenger, has the user install an app, or wants the screen.
        ("support on whatsapp asked me to install an app to fix my wallet", "impersonation"),
        ("admin in the discord says my wallet is locked", "impersonation"),
        ("客服让我下载一个app来修复钱包", "impersonation"),
        ("客服说要远程帮我看看", "impersonation"),
        ("support asked me to share my screen so they can check the transfer", "impersonation"),
        ("空投群里发了个领币链接 要先授权才能领 能点吗", "phishing_site"),
        ("电脑上打开的官网 怎么确认不是钓鱼站", "phishing_site"),
        ("有人发我tp国际版下载链接 说功能更全 能装吗", "fake_app"),
        # A version that does not exist, even when someone "says it is TP".
        ("朋友发我一个链接说是tp国际版 功能更多 能下吗", "fake_app"),
        ("网上有个tp高级版 能下载吗", "fake_app"),
        ("a friend sent me a link to the international version of tp, can i install it", "fake_app"),
        ("有人说是tp官方客服 加我微信", "impersonation"),
        ("a friend sent me a wallet APK on WhatsApp saying its the newest version", "fake_app"),
        ("收款地址跟我常转的那个前几位后几位一模一样 差点转错 这是啥套路", "address_poisoning"),
        ("钱包里突然多了好几条0 usdt的转出记录", "address_poisoning"),
        ("how do I avoid address poisoning? someone keeps sending me dust", "address_poisoning"),
        ("钱包里莫名多了个币 说是交易所空投的 能买但卖不出去", "fake_token"),
    ],
)
def test_a_question_about_a_scam_names_its_kind(question: str, kind: str) -> None:
    found = detect_fraud(question)
    assert found is not None and found.kind == kind


@pytest.mark.parametrize(
    "question",
    [
        "手滑把500u转到了usdt的合约地址上 浏览器显示成功 还能要回来吗",
        "core链想直接用我现在bsc那个地址 不想再新建一套助记词了 能不能一键同步过去",
        "eth节点质押 提款的私钥和验证的私钥分别在谁手上？",
        "uniswap现在让我签个permit2的名 这种签名会不会更容易被钓鱼",
        "忘记钱包密码怎么办",
        "how do I back up my recovery phrase?",
        "我的转账一直显示打包中怎么办？",
        "问了客服 转账是不是要付手续费",
        "does support charge a fee for transfers?",
        "波场地址需要先转点trx激活吗",
        "我的钱包怎么激活",
        "how do I contact support",
        "怎么联系客服",
        "how do I download the app from the official site",
        "客服说转账要等确认",
        "how do I sign a message on a dapp site",
        "朋友转给我的u怎么没到",
        "my friend sent me usdt but it doesn't show",
        "how do I recover my wallet with the seed phrase",
        "can I get my funds back if I sent to the wrong address",
        "怎么找回转错链的币",
        "账户异常被冻结了怎么办",
        "is there a pro version of tokenpocket",
    ],
)
def test_an_ordinary_question_is_not_a_scam(question: str) -> None:
    assert detect_fraud(question) is None


def test_the_warning_is_in_the_users_language() -> None:
    assert "诈骗" in warning("secret_request", "zh")
    assert warning("secret_request", "en").startswith("This is a scam")
