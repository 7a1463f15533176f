"""Triage: what an agent needs to pick up a conversation, read at a glance.

Three small, fast, keyword-based judgements over a user's message, Chinese or English:

- :func:`detect_sentiment`: ``negative`` (angry, insulting, panicking, shouting, "!!!"),
  ``positive`` (thanks), or ``neutral``.
- :func:`detect_priority`: ``urgent``, ``high``, ``normal`` or ``low``, from the handoff
  rules that fired (:mod:`service.rules`) and the sentiment.
- :func:`detect_category`: the help-center category the message is about (``transfers``,
  ``fees``, ...), or None when nothing fits and the caller should fall back to the category
  of the top retrieved document.

None of them is a model: they are lists of phrases and weights, so an agent can see why a
conversation was sorted where it was, and a wrong call is fixed by editing a list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from kefu.errors import BadInputError
from kefu.text import normalise
from kefu.vocab import PRIORITIES, RULE_PRIORITIES
from service.rules import RuleHit

SENTIMENTS: Final = ("negative", "neutral", "positive")
#: Triage priorities, most pressing first (a rule hit is at least "normal").
TRIAGE_PRIORITIES: Final = PRIORITIES
#: The help center's categories (the ``category`` of its articles and tickets).
CATEGORIES: Final = (
    "wallet",
    "transfers",
    "fees",
    "approvals",
    "dapp-defi",
    "swap-bridge",
    "nft",
    "hardware-watch",
    "multisig",
    "security",
    "app",
    "support",
)

_L, _R = r"(?<![a-z])", r"(?![a-z])"


# --- sentiment ----------------------------------------------------------------------------

# Anger, insults, panic and threats. Plain worry ("is this a scam?") is not here: a user
# asking is not yet upset, and theft itself is the rules' business, not the mood's.
_NEGATIVE = re.compile(
    r"垃圾|骗子|骗人|坑人|坑爹|被坑|坑我|坑了|什么玩意|搞什么|搞毛|妈的|他妈|tmd|nmd|尼玛|你妈|操你"
    r"|草泥马|cnm|傻逼|傻b"
    r"|煞笔|脑残|废物|没用|有病|气死|无语|恶心|失望|太差|差劲|离谱|凭啥|凭什么|急死|着急|很急|急急|急!"
    r"|紧急|救命"
    r"|崩溃|受不了|黑心|跑路|滚|害我|亏死|疯了|绝望|哭了|欺诈|诈骗|坑钱|投诉|曝光|律师|报警|起诉|告你们"
    r"|赔钱|还我"
    r"|什么破|破app|破钱包|烂|不靠谱|忍不了|太过分|过分|求求|求救|在线等|急"
    rf"|{_L}(?:useless|terrible|horrible|awful|worst|garbage|trash|rubbish|ridiculous|pathetic|joke"
    rf"|disgusting"
    r"|unacceptable|furious|angry|pissed|mad at|hate|sucks?|wtf|wth|fuck\w*|shit\w*|damn\w*|crap"
    r"|bullshit|stupid"
    r"|idiot\w*|incompetent|frustrat\w*|annoy\w*|fed up|sick of|asap|urgent\w*|emergency|help me"
    r"|please help|pls help"
    r"|plz help|desperate|panic\w*|ruined|lost everything|scammers|thieves|sue|suing|lawyer|attorney"
    r"|refund me"
    rf"|not acceptable|how dare|unbelievable|fix this|rip ?off|ripped off){_R}"
    r"|[😭😢😡🤬😤💢😠😩😫😱🖕]"
)
_POSITIVE = re.compile(
    r"谢谢|感谢|多谢|谢了|谢啦|3q|辛苦了|解决了|搞定了|好用|给力|太好了|真棒|很棒|点赞|赞一个|明白了"
    r"|懂了|好的谢"
    rf"|{_L}(?:thanks|thank you|thx|ty|tysm|appreciate\w*|awesome|great help|perfect|helpful|solved|works now"
    rf"|that worked|got it|cheers|brilliant|love (?:it|this|the app|your app|the wallet)){_R}"
    r"|[👍❤😊🥰😀😄]"
)
_ALARM_PUNCTUATION = re.compile(r"[!?]{2,}")
# Upper-case words that are names, not shouting: tickers, standards, statuses users quote.
_ACRONYMS: Final = frozenset(
    """
    USDT USDC DAI ETH BTC BNB TRX TRON SOL XRP ADA DOGE SHIB PEPE LTC DOT AVAX MATIC POL TON ARB OP SUI APT
    NFT NFTS DEX CEX DAPP DAPPS DEFI APK APP API RPC KYC AML BSC BEP ERC TRC OTC ID PIN QR OK US USA UK EU
    AI ENS EVM TP HD FAQ PDF ETA UTC GMT URL USD CNY RMB EUR HK TW IOS OS PC P2P TX TXID TXN GAS SMS LP APY
    APR DAO DM CEO SR KCC HECO OKX OKC HTX IM SEO VPN WIFI SIM SPL BRC UTXO PSBT SEGWIT EIP MEV CEO IT CN JP
    SUCCESS FAILED FAIL PENDING CONFIRMED ERROR OUT OF WC BIP SLIP MEMO TAG ATM IRS SEC FTC FBI CFPB BBB
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _shouting(text: str) -> bool:
    """Two or more upper-case words that are not acronyms, or a message mostly in capitals."""
    words = _LATIN_WORD.findall(text)
    loud = [w for w in words if w.isupper() and w not in _ACRONYMS]
    letters = sum(len(w) for w in words)
    upper = sum(len(w) for w in words if w.isupper())
    return len(loud) >= 2 or (letters >= 12 and upper / letters >= 0.7 and bool(loud))


def detect_sentiment(text: str) -> str:
    """``negative``, ``neutral`` or ``positive`` for one user message, Chinese or English.

    Angry, insulting, panicking or threatening words make it negative whatever else is
    said ("thanks for nothing, this is useless"); thanks make it positive; without either,
    runs of "!!" / "??" or shouting in capitals (acronyms like USDT aside) make it negative.
    """
    wide = normalise(text)
    low = wide.lower()
    if _NEGATIVE.search(low):
        return "negative"
    if _POSITIVE.search(low):
        return "positive"
    if _ALARM_PUNCTUATION.search(wide) or _shouting(wide):
        return "negative"
    return "neutral"


# --- priority -----------------------------------------------------------------------------

_RANK: Final = {priority: n for n, priority in enumerate(reversed(TRIAGE_PRIORITIES))}  # low 0 .. urgent 3


def detect_priority(hits: Sequence[RuleHit], sentiment: str) -> str:
    """``urgent``, ``high``, ``normal`` or ``low`` for a conversation.

    The most pressing rule hit sets the floor (a hit is at least ``normal``; no hit is
    ``low``). A negative sentiment raises it one step, to at most ``high``: an angry user
    asking for a human is ``high``, but only funds or secrets at risk are ``urgent``.
    """
    if sentiment not in SENTIMENTS:
        raise BadInputError(f"sentiment must be one of {SENTIMENTS}, not {sentiment!r}")
    rank = _RANK["low"]
    for hit in hits:
        if hit.priority not in RULE_PRIORITIES:
            raise BadInputError(f"rule hit {hit.rule!r} has an unknown priority {hit.priority!r}")
        rank = max(rank, _RANK[hit.priority])
    if sentiment == "negative" and rank < _RANK["high"]:
        rank += 1
    return TRIAGE_PRIORITIES[len(TRIAGE_PRIORITIES) - 1 - rank]


# --- category -----------------------------------------------------------------------------


def _terms(weight: int, *patterns: str) -> tuple[int, re.Pattern[str]]:
    regex = re.compile("|".join(patterns))
    if regex.fullmatch(""):  # a stray "|" would make the tier match every message
        raise ValueError(f"a category term matches the empty string: {regex.pattern!r}")
    return weight, regex


# Per category, tiers of phrases with a weight; a tier counts once however many of its
# phrases a message holds, so a long message about a bridge does not drift to "transfers"
# by repeating 转账 and 到账. Weights: 5 for what names a specific feature outright (多签,
# 跨链, "revoke", "ledger"), 3 for a broad topic's own words (转账, 手续费, 助记词), 2 for a
# strong hint, 1 for a word that leans that way. The highest total wins; ties go to the
# more specific category (the order of _PRECEDENCE).
_CATEGORY_TERMS: Final[dict[str, tuple[tuple[int, re.Pattern[str]], ...]]] = {
    "security": (
        _terms(
            5,
            r"被盗|被偷|被黑|盗币|盗走|被骗|骗子|诈骗|骗局|钓鱼|假客服|冒充|自称|投毒|相似地址|零转账"
            r"|激活费|解冻|保证金",
            r"被多签|权限被|权限不足|签名权重|木马|病毒|远程|防盗|盗号|被转走|转走了|前后几位|中间不一样"
            r"|anydesk|teamviewer",
            rf"{_L}(?:scam\w*|phish\w*|fake|impersonat\w*|drain\w*|hack\w*|stolen|steal\w*|poison\w*"
            rf"|lookalike"
            rf"|look-alike|malware|virus|remote access|compromised|sweeper|dusting|(?:all"
            rf"|everything) (?:is |was )?gone"
            rf"|never bought|similar address|past recipient|left my (?:\w+ )?wallet|disappears? within"
            rf"|verify (?:my )?wallet|validat\w*|sync (?:my )?wallet){_R}",
        ),
        # Social engineering and honeypots: the stories scams tell.
        _terms(
            5,
            r"私聊|私信|同步钱包|验证钱包|同步资产|秒没|瞬间没了|马上就没了|(?<![\d.])0 ?(?:u|usdt"
            r"|usdc)(?![a-z])",
            r"有人[^。!?\n]{0,8}发[^。!?\n]{0,6}助记词|别人的(?:助记词|钱包)|公开的助记词",
        ),
        _terms(
            2,
            r"空投|陌生(?:地址|币|代币|人)|莫名(?:其妙)?多了|突然多了|全没了|都没了|可疑|风险|安全|加我"
            r"|官方客服|群里|电报"
            r"|0 ?u(?:sdt)?|0个",
            rf"{_L}(?:airdrop\w*|suspicious|legit|safe|security|unknown address|dust|admin|telegram"
            rf"|dm'?d|0 usdt"
            rf"|zero[- ]value|red warning|warning){_R}",
        ),
    ),
    "wallet": (
        _terms(
            3,
            r"创建钱包|新建钱包|建钱包|建个钱包|导入钱包|恢复钱包|找回钱包|助记词|助记|私钥|keystore"
            r"|passphrase|钱包密码|派生|路径"
            r"|子钱包|身份钱包|隐藏钱包|删除钱包|删了钱包|删钱包|钱包[^。!?\n]{0,6}删"
            r"|删[^。!?\n]{0,4}钱包|多个钱包|管理钱包"
            r"|钱包(?:改名|排序|名称)|迁移|迁过去|搬过去|换机",
            rf"{_L}(?:seed(?: phrase| words)?|mnemonic|recovery phrase|private key|password|passphrase"
            rf"|25th word"
            rf"|derivation|12 words|24 words|create (?:a )?wallet|new wallet|delete (?:the |a |my )?wallet"
            rf"|restore|hd wallet){_R}",
        ),
        _terms(
            5,
            r"密码忘|忘了密码|忘记密码|忘记了密码|重置密码|密码错误|密码不对",
            rf"{_L}(?:forgot (?:my )?(?:wallet )?password|reset (?:my |the )?password|wrong password){_R}",
        ),
        _terms(
            2,
            r"导入|导出|密码|备份|换手机|新手机|注册|登录|账户2|账户二|地址不一样|地址跟原来|小狐狸",
            rf"{_L}(?:import\w*|export\w*|backup|back up|new phone|new iphone|switch phones?|account 2"
            rf"|different address|metamask|phantom|kyc|sign(?:ed)? up|log ?in){_R}",
        ),
    ),
    "transfers": (
        _terms(
            3,
            r"转账|转错|到账|没到|未到|收不到|没收到|充值|充币|提币|提现|打包中|确认中|未确认|没确认"
            r"|nonce|memo|备注|标签"
            r"|合约地址|错链|选错|交易所|添加代币|加币|自定义代币|代币不显示",
            rf"{_L}(?:pending|stuck|unconfirmed|nonce|memo|tag|deposit\w*|withdr\w*|wrong (?:network"
            rf"|chain|address)"
            rf"|not credited|credited|exchange|contract address|not arrived|never arrived|not received"
            rf"|speed up|cancel|sent \S+ to|bep20|erc20|trc20|add (?:it|the token|a token"
            rf"|token)s?(?: manually)?"
            rf"|custom token){_R}",
        ),
        _terms(
            2,
            r"转出|转入|转给|转到|转了|收款|卡住|卡了|浏览器|tronscan|etherscan|bscscan|哈希|txid|加速"
            r"|撤回|不显示|看不到"
            r"|显示成功|成功了|失败",
            rf"{_L}(?:send|sent|sending|receive\w*|transfer\w*|explorer|hash|txid|tx|transaction|address"
            rf"|not showing|confirm\w*|success|fail\w*|contract){_R}",
        ),
    ),
    "fees": (
        _terms(
            3,
            r"手续费|矿工费|燃料费|gas|能量|带宽|费率|多收|多扣|(?:扣|烧|花)[^。!?\n]{0,6}(?:trx|bnb|eth|sol|pol|matic|sats?)(?![a-z])",
            rf"{_L}(?:fees?|energy|bandwidth|sat/vb|sats?/byte|eip-?1559|priority fee|base fee|gas limit"
            rf"|insufficient (?:gas|funds for gas)|not enough gas|lamports){_R}",
        ),
        _terms(
            2,
            r"扣了|扣我|贵|便宜|utxo",
            rf"{_L}(?:burn\w*|expensive|cheap\w*|overpay\w*|utxo|pay the fee){_R}",
        ),
        _terms(
            5,
            r"(?:bnb|eth|trx|pol|matic|sol|gas|矿工费|手续费|燃料)\s*(?:余额)?不足|余额不足",
            rf"{_L}(?:insufficient|not enough (?:bnb|eth|trx|pol|matic|sol|gas|funds for)){_R}",
        ),
        # Staking TRX for energy is a way to pay fees, not a DeFi product.
        _terms(
            5,
            r"质押[^。!?\n]{0,8}(?:能量|带宽)|(?:能量|带宽)[^。!?\n]{0,8}质押",
            rf"{_L}stak\w* [^.!?]{{0,16}}energy",
        ),
    ),
    "approvals": (
        _terms(
            5,
            r"授权|取消授权|无限授权|授权额度|授权管理",
            rf"{_L}(?:approv\w*|allowance|revoke\w*|permit2?|approval manager){_R}",
        ),
        _terms(2, r"无限|额度", rf"{_L}(?:unlimited|spender|spending cap){_R}"),
    ),
    "dapp-defi": (
        _terms(
            5,
            r"dapp|defi|walletconnect|质押|解押|解除质押|借贷|流动性|挖矿|年化|发现页|发现里",
            rf"{_L}(?:dapps?|defi|walletconnect|wallet ?connect|staking|stake|unstak\w*|deactivat\w*"
            rf"|lending|liquidity"
            rf"|farm\w*|yield|apy|no wallet detected|pancakeswap|uniswap|aave|lido){_R}",
        ),
        _terms(
            2,
            r"连接钱包|连不上|连接|断开|扫码|二维码|网页|网站|收益|插件和|metamask",
            rf"{_L}(?:connect\w*|disconnect\w*|qr|site|website|metamask|rescan){_R}",
        ),
    ),
    "swap-bridge": (
        _terms(
            5,
            r"闪兑|兑换|跨链|跨(?!境|年|度|越)|滑点|价格影响|报价|成交价|换成|换币",
            rf"{_L}(?:swap\w*|bridg\w*|slippage|price impact|quote|price updated){_R}",
        ),
        _terms(2, r"换点|聚合|源链|目标链|weth|已退款|退回来", rf"{_L}(?:weth|refunded|aggregator|completed){_R}"),
    ),
    "nft": (
        _terms(
            5,
            r"nft|藏品|数字藏品|铸造|铭文|ordinals|erc-?721|erc-?1155",
            rf"{_L}(?:nfts?|ens|erc-?721|erc-?1155|mint\w*|opensea|ordinals?|inscriptions?"
            rf"|collectibles?){_R}",
            r"\.eth(?![a-z])",
        ),
        _terms(2, r"头像|图片", rf"{_L}(?:avatar|image|pfp){_R}"),
    ),
    "hardware-watch": (
        _terms(
            5,
            r"硬件钱包|冷钱包|观察钱包|观察模式|只读钱包|离线签名",
            rf"{_L}(?:ledger|trezor|keystone|onekey|watch[- ]only|watch wallet|cold wallet"
            rf"|hardware wallet|psbt"
            rf"|air-?gap\w*){_R}",
        ),
        _terms(2, r"设备|签名失败|拒绝", rf"{_L}(?:device|nano|signing failed|rejected){_R}"),
    ),
    "multisig": (
        _terms(
            5,
            r"多签|多重签名|签名人|共管|待签",
            rf"{_L}(?:multi-?sig\w*|gnosis|(?:our|my|a|the) safe(?! to| place| way| enough)"
            rf"|safe (?:wallet|address)"
            rf"|co-?signers?|signers?|threshold){_R}",
        ),
        _terms(2, r"阈值|\d/\d", rf"{_L}(?:owners?|\d(?:-of-|/)\d){_R}"),
    ),
    "app": (
        _terms(
            3,
            r"闪退|崩溃|白屏|黑屏|打不开|卡顿|apk|app ?store|应用商店|谷歌商店|苹果商店|testflight"
            r"|安装包|官网|正版|版本号"
            r"|更新|升级|下载|安装|扩展|插件|pro版|国际版",
            rf"{_L}(?:crash\w*|freez\w*|blank|white (?:box|screen)|apk|app ?store|google play|testflight"
            rf"|install\w*|download\w*|update\w*|upgrade|version|official (?:site|website|app)|genuine"
            rf"|extension"
            rf"|apple id){_R}",
        ),
        _terms(
            1,
            r"app|手机|安卓|苹果|浏览器|通知|语言|指纹|face ?id",
            rf"{_L}(?:app|phone|chrome|brave|browser|android|ios|iphone){_R}",
        ),
    ),
    "support": (
        _terms(
            3,
            r"客服电话|客服邮箱|工单|人工|联系你们|联系客服|联系官方|警察|民警|调取|冻结(?:骗子|对方|他)",
            rf"{_L}(?:contact (?:you|support|the team|the company)|support team|customer (?:service|support)"
            rf"|police"
            rf"|officer|records|freeze|ticket|human|real person|agent){_R}",
        ),
        _terms(
            2,
            r"客服|邮箱|电话|冻结|你们能不能|服务",
            rf"{_L}(?:support|email|phone number|call|help desk){_R}",
        ),
    ),
}
# Ties go to the more specific topic: a multisig transfer is about multisig.
# Security first: a scam told through a swap, an NFT or an approval is a scam.
_PRECEDENCE: Final = (
    "security",
    "multisig",
    "hardware-watch",
    "nft",
    "approvals",
    "swap-bridge",
    "dapp-defi",
    "fees",
    "transfers",
    "wallet",
    "support",
    "app",
)
_MIN_SCORE: Final = 2


def category_scores(text: str) -> dict[str, int]:
    """The weight of each category's phrases found in ``text`` (categories with none left out)."""
    low = normalise(text).lower()
    scores: dict[str, int] = {}
    for category, terms in _CATEGORY_TERMS.items():
        score = sum(weight for weight, regex in terms if regex.search(low))
        if score:
            scores[category] = score
    return scores


def detect_category(text: str) -> str | None:
    """The help-center category ``text`` is about, or None when nothing fits.

    One of :data:`CATEGORIES`. Each distinct phrase found adds its weight; the highest
    total wins, ties going to the more specific category. A message with no phrase worth
    at least 2 is None: the caller falls back to the category of the top retrieved
    document, which knows more than one stray word does.
    """
    scores = category_scores(text)
    if not scores or max(scores.values()) < _MIN_SCORE:
        return None
    best = max(scores.values())
    return next(category for category in _PRECEDENCE if scores.get(category) == best)
