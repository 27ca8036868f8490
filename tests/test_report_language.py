"""The report in the reader's language: the chart's labels in ``[telegram] agent_language`` with
every Chinese glyph drawn (a missing glyph fails the test), English rather than empty boxes when
the machine has no CJK font, and `kefu report --xlsx` as a workbook with one sheet per table."""

from __future__ import annotations

import io
import logging
import os
import warnings
from datetime import datetime

import openpyxl
import pytest

from reports import charts, fonts
from reports.charts import draw_chart, report_chart
from reports.export import run_report
from reports.xlsx import sheet_name, tables
from tests.harness import Person
from ticketing.models import Ticket

PNG = b"\x89PNG\r\n\x1a\n"
DAYS = [datetime(2026, 6, 1 + 5 * i) for i in range(6)]


def needs_cjk_font() -> str:
    font = fonts.cjk_font()
    if font is None:
        if os.environ.get("KEFU_TEST_REQUIRE_CJK_FONT"):
            pytest.fail("no CJK font on this machine, and KEFU_TEST_REQUIRE_CJK_FONT is set (.ci/run installs fonts-wqy-microhei)")
        pytest.skip("no CJK font on this machine (apt-get install fonts-wqy-microhei)")
    return font


def texts_of(language: str) -> list[str]:
    """Every text drawn on the chart, with a missing glyph turned into a failure."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        figure = draw_chart(DAYS, [80, None, 75, 82, 90, 88], [0.05, 0.04, None, 0.06, 0.03, 0.02],
                            {"logistics": 0.5, "product_quality": 0.3, "other": 0.2},
                            days=30, last_day=datetime(2026, 6, 30), language=language)
        figure.savefig(io.BytesIO(), format="png")
    drawn = [t.get_text() for t in figure.findobj(Text) if t.get_text()]
    plt.close(figure)
    return drawn


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant"])
def test_the_chart_speaks_chinese_with_every_glyph_drawn(language: str) -> None:
    needs_cjk_font()
    drawn = texts_of(language)
    words = {"zh-Hans": ["满意度得分", "投诉率", "趋势", "投诉按类别分布", "物流配送", "产品质量", "6月1日", "服务质量 · 截至 2026年6月30日的 30 天"],
             "zh-Hant": ["滿意度得分", "投訴率", "趨勢", "投訴按類別分佈", "物流配送", "產品質量", "6月26日"]}[language]
    for word in words:
        assert word in drawn, (word, drawn)
    assert "50%" in drawn and "Trend" not in drawn and not any("Complaint" in t or "CSAT" in t for t in drawn)


def test_the_chart_in_english_writes_percent_and_dates_the_english_way() -> None:
    drawn = texts_of("en")
    assert {"Trend", "Complaints by category", "Logistics", "6/1", "50 %"} <= set(drawn)
    assert "Service quality · 30 days to 6/30/2026" in drawn


def test_without_a_cjk_font_the_chart_falls_back_to_english_not_tofu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    assert charts.chart_language("zh-Hans") == ("en", None)
    drawn = texts_of("zh-Hans")
    assert "Trend" in drawn and not any("趋势" in t for t in drawn)


def test_a_font_that_draws_boxes_for_everything_is_not_taken_for_a_cjk_font(monkeypatch: pytest.MonkeyPatch) -> None:
    class Entry:
        def __init__(self, name: str, fname: str) -> None:
            self.name, self.fname = name, fname

    monkeypatch.setattr(fonts, "covers", lambda path, characters: True)  # Last Resort maps every character
    assert fonts._pick([Entry("Last Resort High-Efficiency", "/x/LastResort.otf")]) is None
    assert fonts._pick([Entry("Last Resort", "/x/a.otf"), Entry("Some CJK", "/x/b.ttf")]) == "Some CJK"


def test_no_font_is_logged_once_and_the_png_is_still_drawn(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fonts, "_pick", lambda entries, families=None: None)
    fonts.cjk_font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="reports.fonts"):
            assert fonts.cjk_font() is None and fonts.cjk_font() is None
            png = report_chart(DAYS, [None] * 6, [None] * 6, {}, days=7, last_day=datetime(2026, 6, 30), language="zh-Hans")
    finally:
        fonts.cjk_font.cache_clear()
    assert png.startswith(PNG)
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "English labels" in caplog.records[0].message


def test_sheet_names_are_what_excel_accepts() -> None:
    taken: set[str] = set()
    assert sheet_name("metrics", taken) == "metrics"
    long = sheet_name("logistics.complaints_per_1000_orders_by_category", taken)
    assert len(long) <= 31 and long == "logistics.complaints_per_1000_o"
    again = sheet_name("logistics.complaints_per_1000_orders_by_carrier", taken)
    assert len(again) <= 31 and again != long and again.endswith("~2")
    assert sheet_name("a[b]:c*d?e/f\\g", taken) == "a_b__c_d_e_f_g"
    assert sheet_name("METRICS", taken) == "METRICS~2"  # Excel ignores case


def test_lists_of_rows_become_tables_and_the_rest_stays() -> None:
    rest, found = tables({"a": 1, "per_agent": [{"agent": "7", "csat": None}], "bot": {"top_missed": [], "questions": 3}})
    assert rest == {"a": 1, "bot": {"questions": 3}}
    assert found == {"per_agent": [{"agent": "7", "csat": None}], "bot.top_missed": []}


async def test_kefu_report_xlsx_opens_with_a_sheet_per_table(customer: Person, agent: Person, tmp_path) -> None:
    await customer.say("/complaint the parcel is two weeks late")
    await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("Sorry! It is on its way.")
    await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("/close")
    book_path, png = tmp_path / "out" / "report.xlsx", tmp_path / "chart.png"
    assert await run_report(days=30, timezone="Asia/Shanghai", periods=6, language="zh-Hans", as_json=False,
                            png=str(png), csv_dir=None, xlsx=str(book_path), out=io.StringIO()) == 0
    assert png.read_bytes().startswith(PNG)
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames[:2] == ["metrics", "series"]
    assert "bot.top_missed" in book.sheetnames
    assert all(len(name) <= 31 for name in book.sheetnames)
    metrics = {row[0]: row[1] for row in book["metrics"].iter_rows(min_row=2, values_only=True)}
    assert metrics["complaints.complaints"] == 1 and metrics["complaints.concentration.logistics.value"] == 1.0
    series = list(book["series"].iter_rows(values_only=True))
    assert series[0] == ("metric", "period_start", "value", "verdict")
    assert len([row for row in series if row[0] == "csat_score"]) == 6
