"""What users of a help center whose answers carry its own links get, for a setting of
KEFU_OFFICIAL_DOMAINS: tp-cn's questions about its website, e-mail, downloads and explorers.

Usage: KEFU_OFFICIAL_DOMAINS=... python bench/official_links.py --index tp-cn [--json]

Build the index with the same KEFU_OFFICIAL_DOMAINS (ingest leaves out the sentences that
link elsewhere). Chinese questions only: in the default quote style they are answered with the
help center's own sentences, without the LLM, so each answer shows what the link check kept.
For each question: the action, the answer, the links it names, and the output check's cuts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

from kefu.settings import Settings
from service.answerer import answerer_from_settings

QUESTIONS = [
    "官网到底是哪个 网上搜出来好多tp官网",
    "电脑上打开的官网 怎么确认不是钓鱼站",
    "安卓版的tp除了官网下载 还能在哪些应用商店里下到",
    "TokenPocket客服邮箱是多少",
    "我们是做项目的 想跟tp谈个商务合作 应该发哪个邮箱",
    "插件钱包在哪里下载安装",
    "arb nova的区块浏览器网址是啥",
    "tp官网今天怎么打不开了 是不是出事了",
]
_LINK = re.compile(
    r"(?:https?://)?(?:[A-Za-z0-9-]+\.)+(?:pro|io|net|com|org|in|app|land)\b/?[A-Za-z0-9/.#-]*"
    r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+[A-Za-z]"
)


async def _run(index: str) -> list[dict[str, object]]:
    settings = Settings.from_env()
    answerer = answerer_from_settings(settings, index)
    out = []
    for question in QUESTIONS:
        result = await answerer.answer(question, lang="zh")
        out.append(
            {
                "question": question,
                "action": result.action,
                "reason": result.reason,
                "links": sorted(set(_LINK.findall(result.answer))),
                "cut": result.violations,
                "answer": result.answer,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(_run(args.index))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        print(f"## {row['question']}\n{row['action']} ({row['reason']}); links: {row['links']}; cut: {row['cut']}")
        print(f"{row['answer']}\n")
    with_links = sum(1 for row in rows if row["links"])
    print(f"{with_links}/{len(rows)} answers name a link")


if __name__ == "__main__":
    main()
