"""First look at a complaint: which category it is about and how urgent it is.

Keyword lexicons in Chinese (matched after folding traditional to simplified) and English. The
guess only pre-fills the ticket: the customer confirms the category with a button and agents can
change it, so a lexicon that is easy to read and extend beats an opaque model here.
"""

from __future__ import annotations

import re
from typing import Literal

from bot.core.language import to_simplified

Category = Literal["product_quality", "logistics", "returns", "payment", "service_attitude", "presale", "other"]
Priority = Literal["low", "normal", "high", "urgent"]

CATEGORIES: tuple[Category, ...] = (
    "product_quality", "logistics", "returns", "payment", "service_attitude", "presale", "other",
)
"""``presale``: a question before buying (stock, sizes, prices, how to pay or have it sent), what
询单转化率 counts (reports/conversion.py)."""
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")

_LEXICON: dict[Category, tuple[str, ...]] = {
    "logistics": (
        "快递", "物流", "没到", "没收到", "未收到", "还没到", "配送", "发货", "送货", "派送", "签收", "丢件",
        "包裹", "运输", "快递员", "延误", "送错", "地址", "到货", "单号",
        "delivery", "deliver", "shipping", "shipment", "shipped", "courier", "package", "parcel",
        "tracking", "arrive", "arrived", "late", "lost", "delayed", "never came", "not received",
    ),
    "product_quality": (
        "质量", "坏了", "破损", "损坏", "瑕疵", "假货", "不能用", "故障", "掉色", "做工", "次品", "划痕",
        "开裂", "破了", "破的", "碎了", "漏", "异味", "尺码不对", "不好用", "用不了", "坏的", "有问题",
        "broken", "defective", "damaged", "quality", "fake", "faulty", "stopped working", "doesn't work",
        "does not work", "scratched", "cracked", "leaking", "wrong size", "smells",
    ),
    "returns": (
        "退货", "退款", "换货", "售后", "维修", "保修", "退钱", "退换", "七天无理由", "寄回",
        "return", "refund", "exchange", "warranty", "repair", "money back", "send it back",
    ),
    "payment": (
        "付款", "支付", "扣款", "扣了", "重复扣", "发票", "多收", "收费", "价格", "优惠券", "信用卡", "银行卡",
        "charged", "charge", "payment", "pay", "card", "invoice", "billing", "overcharged", "coupon", "price",
    ),
    "service_attitude": (
        "态度", "客服", "不理", "没人回", "没人理", "敷衍", "骂人", "粗鲁", "不耐烦", "推卸",
        "rude", "attitude", "ignored", "unhelpful", "nobody answered", "no one answered", "no reply", "impolite",
    ),
    # Last: a tie with a problem's words goes to the problem.
    "presale": (
        "有货吗", "有没有货", "还有货", "有现货", "库存", "尺码", "码数", "穿多大", "选哪个", "推荐", "多少钱", "包邮吗",
        "能便宜", "什么材质", "什么颜色", "想买", "下单前", "拍下", "预售",
        "in stock", "available", "which size", "what size", "recommend", "how much is", "how much does",
        "want to buy", "before i buy", "before buying", "pre-order", "preorder", "what material",
    ),
}

_URGENT = (
    "紧急", "马上", "立刻", "立即", "急", "12315", "消协", "消费者协会", "工商", "媒体", "曝光", "律师", "起诉", "报警",
    "urgent", "asap", "immediately", "right now", "lawyer", "sue", "police", "consumer protection",
)
_ANGRY = (
    "垃圾", "骗子", "气死", "太差", "差评", "恶心", "坑人", "无语", "失望", "再也不", "投诉",
    "scam", "worst", "angry", "terrible", "awful", "furious", "disgusting", "ridiculous", "never again", "fraud",
)


def _fold(text: str) -> str:
    return to_simplified(text).lower()


def _hits(text: str, words: tuple[str, ...]) -> int:
    count = 0
    for word in words:
        if word.isascii():
            count += len(re.findall(rf"(?<![a-z]){re.escape(word)}", text))
        else:
            count += text.count(word)
    return count


def guess_category(text: str) -> Category:
    """The category with the most keyword hits; "other" when nothing matches."""
    folded = _fold(text)
    scores = {category: _hits(folded, words) for category, words in _LEXICON.items()}
    best = max(scores, key=lambda c: scores[c])  # ties go to the lexicon's order
    return best if scores[best] > 0 else "other"


def guess_priority(text: str, *, valuable_customer: bool = False) -> Priority:
    """Urgency words → urgent; anger (words, or !!! / ！！！) → high; a valuable customer one step up."""
    folded = _fold(text)
    if _hits(folded, _URGENT):
        return "urgent"
    angry = _hits(folded, _ANGRY) or re.search(r"[!！]{3,}", text) or _shouting(text)
    priority: Priority = "high" if angry else "normal"
    if valuable_customer:
        priority = PRIORITIES[min(PRIORITIES.index(priority) + 1, len(PRIORITIES) - 1)]
    return priority


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isascii() and c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
