"""One case from survey to designation in a real headless Chromium (Debian's), four people
each in their own browser session; the refusals; screenshots of the main pages, written to
build/screenshots/ (git-ignored), or to docs/screenshots/ for the README when
``IDRI_SCREENSHOTS=docs`` (README, "The workbench").

Playwright drives the system's Chromium (``executable_path``): nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.web.browserless import small_pdf
from tests.web.conftest import PASSWORD, Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs" if os.environ.get("IDRI_SCREENSHOTS") == "docs" else "build") / "screenshots"
"""Where the screenshots go: a git-ignored folder unless the README's are to be refreshed."""

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in(browser: Browser, stack: Stack, name: str, *, width: int = 1280) -> Page:
    """A page in a browser session of its own, signed in as ``name`` through the form."""
    context = await browser.new_context(
        viewport={"width": width, "height": 800}, locale="zh-CN", base_url=stack.url
    )
    page = await context.new_page()
    await page.goto("/work")
    assert page.url.endswith("/sign-in")  # no session: the sign-in form
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/work")
    return page


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def every_field_is_labelled(page: Page) -> None:
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => e.labels.length === 0).map(e => e.name)"""
    )
    assert unlabelled == []


async def stage_of(page: Page) -> str:
    return str(await page.locator(".facts .stage").first.inner_text())


async def test_one_case_from_survey_to_designation(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    organisation = f"天津海河{uuid.uuid4().hex[:4]}工业设计有限公司"

    # The district officer records the candidate, submits the plan and recommends it.
    district = await sign_in(browser, stack, "王科长")
    await district.get_by_role("link", name="登记调研对象").click()
    await every_field_is_labelled(district)
    await district.get_by_label("单位名称").fill(organisation)
    await district.get_by_label("主要方向").select_option("aerospace")
    await district.get_by_label("姓名").fill("赵经理")
    await district.get_by_label("电子邮箱").fill("zhao@haihe.example.cn")
    await district.get_by_role("button", name="登记").click()
    await district.wait_for_url("**/cases/binhai-*")
    case_url = district.url.split("#")[0]
    case_id = case_url.rsplit("/", 1)[1]
    assert "调研登记" in await stage_of(district)
    plan = tmp_path / "创建方案.pdf"
    plan.write_bytes(small_pdf("Haihe creation plan"))
    await district.get_by_label("材料类型").select_option("plan")
    await district.locator("#doc-file").set_input_files(plan)
    await district.get_by_role("button", name="上传").click()
    await district.wait_for_url("**#documents")
    assert "已提交创建方案" in await stage_of(district)
    assert "创建方案.pdf" in await district.locator("#document-list").inner_text()
    await district.get_by_label("推荐意见").fill("设计能力突出，推荐")
    await district.get_by_role("button", name="区级推荐").click()
    assert "已推荐" in await stage_of(district)

    # The bureau finds it waiting in its work, and assigns a panel of three experts.
    bureau = await sign_in(browser, stack, "李处长")
    await shot(bureau, "work")
    await bureau.get_by_role("link", name=organisation).click()
    await bureau.get_by_label("专家账号").fill("陈工 赵工 刘研究员")
    await bureau.get_by_role("button", name="指派评审专家").click()
    assert "专家评审中" in await stage_of(bureau)

    # Each expert finds the review waiting in their work, reviews, and it waits no more.
    for expert, score in (("陈工", "88"), ("赵工", "91"), ("刘研究员", "85")):
        page = await sign_in(browser, stack, expert)
        waiting = page.locator("#inbox tr", has=page.get_by_role("link", name=organisation))
        assert "提交专家评审意见" in await waiting.inner_text()
        if expert == "陈工":
            await shot(page, "work-expert")
        await page.get_by_role("link", name=organisation).click()
        await every_field_is_labelled(page)
        for criterion in ("capability", "team", "service", "plan"):
            await page.get_by_label(f"评分：{criterion}").fill(score)
        await page.get_by_role("textbox", name="评审意见").fill("方案完整，团队扎实")
        await page.get_by_role("button", name="提交评审意见").click()
        await page.wait_for_load_state()
        assert "提交专家评审意见" in await page.locator("#timeline").inner_text()
        if expert == "陈工":
            # An expert sees the panel, not people's addresses.
            assert "zhao@hebut.edu.cn" not in await page.content()
        await page.get_by_role("link", name="我的待办").click()
        assert await page.get_by_role("link", name=organisation).count() == 0

    # The bureau downloads the plan the district uploaded: the same bytes.
    await bureau.goto(case_url)
    async with bureau.expect_download() as downloading:
        await bureau.get_by_role("link", name="创建方案.pdf").click()
    downloaded = await downloading.value
    assert Path(await downloaded.path()).read_bytes() == plan.read_bytes()

    # Approval before the inspection: refused on the form with the workflow's words.
    await bureau.goto(case_url)
    await bureau.get_by_label("结论").select_option("approve")
    await bureau.locator("#decision-reason").fill("综合评价通过")
    await bureau.get_by_role("button", name="综合评价").click()
    refusal = bureau.locator("#refusal-decision")
    assert "site inspection" in await refusal.inner_text()
    await shot(bureau, "refusal")

    await bureau.locator("#inspection-yes").check()
    await bureau.locator("#inspection-text").fill("场地、设备、团队到位")
    await bureau.get_by_role("button", name="现场考查").click()
    await bureau.get_by_label("结论").select_option("approve")
    await bureau.locator("#decision-reason").fill("综合评价通过")
    await bureau.get_by_role("button", name="综合评价").click()
    assert "公示中" in await stage_of(bureau)
    assert "zhao@hebut.edu.cn" in await bureau.content()  # the bureau sees the addresses

    # No objection: the notice (2 s here) ends and the case is designated by itself.
    for _ in range(50):
        await bureau.goto(case_url)
        if "已认定" in await stage_of(bureau):
            break
        await bureau.wait_for_timeout(300)
    assert "已认定" in await stage_of(bureau)
    await shot(bureau, "case")
    await bureau.get_by_role("link", name="名录").click()
    assert organisation in await bureau.content()
    await shot(bureau, "registry")
    await bureau.get_by_role("link", name="工作报告").click()
    await bureau.wait_for_load_state("load")
    svg = await bureau.request.get("/report/chart.svg")
    assert svg.status == 200, await svg.text()
    assert await bureau.locator("figure img").evaluate("i => i.complete && i.naturalWidth") > 0
    await shot(bureau, "report")
    await bureau.goto("/cases?stage=designated")
    assert organisation in await bureau.content()
    await shot(bureau, "cases")

    # On a phone-width screen the case page still reads, without sideways scrolling.
    phone = await sign_in(browser, stack, "王科长", width=390)
    await phone.goto(case_url)
    overflow = await phone.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0
    await shot(phone, "case-phone")

    # Refusals: an expert opening a case not assigned to it, a form without its CSRF token.
    outsider = await sign_in(browser, stack, "孙工")
    answer = await outsider.goto(case_url)
    assert answer is not None and answer.status == 403
    assert "无权查看或办理" in await outsider.content()
    forged = await district.request.post(
        f"{case_url}/withdrawal", form={"reason": "伪造"}, max_redirects=0
    )
    assert forged.status == 403
    await district.goto(case_url)
    assert "已认定" in await stage_of(district)
    assert case_id in district.url


async def test_the_pages_can_be_used_from_the_keyboard(browser: Browser, stack: Stack) -> None:
    page = await sign_in(browser, stack, "李处长")
    await page.goto("/cases")  # a page whose main content has a field whatever waits (a form)
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.className") == "skip"
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    # After the skip link, the next stop is inside the page's main content.
    inside = await page.evaluate("() => !!document.activeElement.closest('main')")
    assert inside
