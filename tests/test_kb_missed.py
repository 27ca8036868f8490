"""/kb_missed groups what the bot did not understand: identical questions after normalisation, and
near-identical ones too — a typo, a particle, another order number, the other Chinese script —
shown once with the most frequent wording and the total count."""

from __future__ import annotations

from tests.harness import Person


async def test_near_identical_questions_are_one_group_with_their_total(make_customer, supervisor: Person) -> None:
    # "快递到哪了" itself is answered (order status), so the same variations on a question the KB lacks
    for question in ("你们卖宠物恐龙吗？", "你们卖宠物恐龙吗", "你们卖宠物恐龙吗呀", "你們賣寵物恐龍嗎", "你们卖宠物恐龙吗"):
        await make_customer().say(question)
    await make_customer().say("你们的店有分店吗")
    lines = (await supervisor.say("/kb_missed")).text.splitlines()
    assert lines[1] == "1. (5×) 你们卖宠物恐龙吗"
    assert lines[2] == "2. (1×) 你们的店有分店吗"
    assert len([line for line in lines if line[:1].isdigit()]) == 2


async def test_unrelated_questions_worded_alike_stay_apart(make_customer, supervisor: Person) -> None:
    for question in ("can my cat pay with bitcoin", "can my dog pay with bitcoin", "do you ship to mars", "do you ship to marz", "do you ship to mars"):
        await make_customer(language_code="en").say(question)
    listed = (await supervisor.say("/kb_missed")).text
    assert "1. (3×) do you ship to mars" in listed  # the most frequent wording stands for the group
    assert "(1×) can my cat pay with bitcoin" in listed
    assert "(1×) can my dog pay with bitcoin" in listed


async def test_teaching_a_group_takes_all_its_wordings_off_the_list(make_customer, supervisor: Person) -> None:
    for question in ("do you ship to mars", "do you ship to marz", "Do you ship to Mars?"):
        await make_customer(language_code="en").say(question)
    listed = (await supervisor.say("/kb_missed")).text
    assert "1. (3×) " in listed
    assert "delivery_options" in (await supervisor.say("/kb_add 1 delivery_options")).text
    assert "ship to mar" not in (await supervisor.say("/kb_missed")).text
