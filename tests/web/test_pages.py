"""The pages in a real Chromium against a real local chain.

A contract account (never paid automatically) finds what it is owed, presses Claim, and the
page shows the claim irreversible and the balance moved, as the chain says; a second press
within the window is refused with a message and nothing is sent; a bad name gets a message;
the operator page refuses a request without its token.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from payoutengine.amounts import format_amount
from tests.conftest import REPO_ROOT
from tests.web.conftest import BOOKED, OPERATOR_TOKEN, PERSON, VAULT, WebSite

#: the README's picture of the recipient page; refreshed by a run with
#: PAYOUTENGINE_UPDATE_SCREENSHOT=1 (other runs write theirs into the test's directory).
SCREENSHOT = REPO_ROOT / "docs" / "img" / "recipient-page.png"


def tst(units: int) -> str:
    return f"{format_amount(units, 4)} TST"


def test_contract_account_claims_and_second_press_is_refused(
    site: WebSite, phone: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = phone
    page.goto(site.url + "/")
    page.fill("#account", VAULT)
    page.click("form.lookup button[type=submit] >> nth=0")
    page.wait_for_url(f"**/recipient/{VAULT}")

    rewards = page.locator('section.owed[data-schedule="rewards"]')
    expect(rewards.locator(".due")).to_have_text(tst(BOOKED["rewards"]))
    expect(rewards.locator(".reasons")).to_contain_text("holds a contract")
    balance = page.locator('.balance[data-token="eosio.token:TST"]')
    expect(balance).to_contain_text(tst(0))
    before = site.balance(VAULT)

    rewards.locator("button[data-claim]").click()
    expect(page.locator("#claim-message")).to_contain_text("Claim sent")
    done = page.locator('.claim-status[data-schedule="rewards"][data-status="irreversible"]')
    expect(done).to_be_visible(timeout=40_000)
    expect(done).to_contain_text(tst(BOOKED["rewards"]))
    expect(done).to_contain_text(re.compile(r"irreversible in block \d+"))
    # the balance on the page moved by exactly the due, as on chain
    expect(balance).to_contain_text(tst(before + BOOKED["rewards"]))
    assert site.balance(VAULT) == before + BOOKED["rewards"]
    row = site.recipient("rewards", VAULT)
    assert int(row["paid_total"]) == int(row["booked_total"]) == BOOKED["rewards"]
    expect(rewards.locator(".settled")).to_have_text("Everything booked is paid.")
    # the payment, with its transaction id, as the journal knows it
    tx_id = done.get_attribute("data-tx")
    assert tx_id and len(tx_id) == 64
    expect(page.locator(f'.payment[data-tx="{tx_id}"]')).to_contain_text(tst(BOOKED["rewards"]))
    shot = SCREENSHOT if os.environ.get("PAYOUTENGINE_UPDATE_SCREENSHOT") else tmp_path / "p.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty one

    # a second press (another schedule, still due) within the window: refused, nothing sent
    bonus = page.locator('section.owed[data-schedule="bonus"]')
    bonus.locator("button[data-claim]").click()
    expect(page.locator("#claim-message")).to_contain_text(f"Too many claims for {VAULT}")
    expect(page.locator("#claim-message")).to_have_class(re.compile("error"))
    assert int(site.recipient("bonus", VAULT)["paid_total"]) == 0
    assert site.balance(VAULT) == before + BOOKED["rewards"]
    expect(page.locator('.claim-status[data-schedule="bonus"]')).to_have_count(0)


def test_bad_name_gets_a_message(site: WebSite, phone: Any) -> None:
    from playwright.sync_api import expect

    page = phone
    page.goto(site.url + "/")
    page.fill("#account", "Not_An.Account!")
    page.click("form.lookup button[type=submit] >> nth=0")
    expect(page.locator("#form-error")).to_contain_text("is not an account name")
    # the same check on the server for a page asked for directly
    resp = page.goto(site.url + "/recipient/UPPER")
    assert resp is not None and resp.status == 400
    expect(page.locator("#form-error")).to_contain_text("only a-z, 1-5 and '.' are allowed")


def test_claims_are_validated_on_the_server(site: WebSite) -> None:
    def claim(account: Any, schedule: Any) -> httpx.Response:
        return httpx.post(
            site.url + "/api/claim", json={"account": account, "schedule": schedule}, timeout=10
        )

    r = claim("bad name", "rewards")
    assert r.status_code == 400 and "is not an account name" in r.json()["error"]
    r = claim(PERSON, "nosuchsched")
    assert r.status_code == 404 and r.json()["error"] == "There is no schedule named nosuchsched."
    r = claim("nobodyhere", "bonus")
    assert r.status_code == 409
    assert r.json()["error"] == "Nothing is due to nobodyhere in bonus."
    r = claim(12, "bonus")
    assert r.status_code == 400
    r = httpx.post(site.url + "/api/claim", content=b"account=x", timeout=10)
    assert r.status_code == 415
    # the person (no contract) is told why it is not paid automatically
    data = httpx.get(f"{site.url}/api/recipient/{PERSON}", timeout=10).json()
    reasons = {o["schedule"]: o["why_not_paid_automatically"] for o in data["owed"]}
    assert any("not approved" in r for r in reasons["bonus"])
    assert {o["schedule"]: o["due"] for o in data["owed"]} == {
        "bonus": tst(BOOKED["bonus"]),
        "rewards": tst(BOOKED["rewards"]),
    }


def test_operator_page_needs_its_token(site: WebSite, phone: Any) -> None:
    from playwright.sync_api import expect

    for path in ("/operator", "/operator/live", "/api/operator"):
        r = httpx.get(site.url + path, timeout=10)
        assert r.status_code == 401, path
        assert "operator token" in r.text
        assert OPERATOR_TOKEN not in r.text
    wrong = httpx.get(
        site.url + "/api/operator", headers={"Authorization": "Bearer wrong-token"}, timeout=10
    )
    assert wrong.status_code == 401
    ok = httpx.get(
        site.url + "/api/operator",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=20,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["op"]["sponsor_cpu"]["limit_us"] > 0

    page = phone
    resp = page.goto(site.url + "/operator")
    assert resp is not None and resp.status == 401
    expect(page.locator("#operator-refused")).to_contain_text("needs the operator token")
    expect(page.locator("#operator-view")).to_have_count(0)
    page.fill("#token", OPERATOR_TOKEN)
    page.click("form.lookup button[type=submit]")
    expect(page.locator("#operator-view")).to_be_visible()
    expect(page.locator("#operator-view")).to_contain_text("Approvals waiting")
    content = page.content()
    assert OPERATOR_TOKEN not in content


@pytest.mark.parametrize("path", ["/", f"/recipient/{PERSON}", "/payer/webpayer"])
def test_no_secret_and_no_foreign_script_in_pages(site: WebSite, path: str) -> None:
    r = httpx.get(site.url + path, timeout=10)
    assert r.status_code == 200
    assert OPERATOR_TOKEN not in r.text
    assert "PVT_K1_" not in r.text and not re.search(r"\b5[HJK][1-9A-Za-z]{49}\b", r.text)
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", r.text)
    assert scripts == ["/static/live.js"]
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_payer_page_shows_exact_funds(site: WebSite) -> None:
    data = httpx.get(site.url + "/api/payer/webpayer", timeout=20).json()
    (funds,) = data["funds"]
    # deposited 100.0000 TST less the 0.5 % fee; booked: both schedules for two accounts,
    # less the vault's claimed rewards
    assert funds["deposited"] == 1_000_000 - 5_000 - BOOKED["rewards"]
    assert funds["dues"] == 2 * BOOKED["bonus"] + BOOKED["rewards"]
    assert sorted(s["schedule"]["name"] for s in data["schedules"]) == ["bonus", "rewards"]


def test_web_refuses_a_key_that_controls_owner(site: WebSite, tmp_path: Any) -> None:
    from payoutengine.localchain import DEV_KEY
    from tests.daemon.conftest import daemon_env, free_port, payoutengine_cmd
    from tests.web.conftest import write_web_config

    config = write_web_config(tmp_path / "web.toml", site.chain.url, free_port())
    res = subprocess.run(
        payoutengine_cmd("web", "--config", str(config)),
        capture_output=True,
        text=True,
        env=daemon_env(None, PAYOUTENGINE_SPONSOR_KEY=DEV_KEY.to_wif()),
        cwd=tmp_path,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("KeyFileError: The key ")
    assert "controls the owner permission of pe.admin" in last
    assert "Traceback" not in res.stderr
