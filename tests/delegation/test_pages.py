"""The delegate page (SVG chart from the indexer's checkpoints, delegators), My delegation, the chart itself,
and the API schema."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from chain.deploy import TOKEN_UNIT
from delegation import charts, directory
from delegation.testing import DELEGATE, HOLDER, OTHER

SVG = "{http://www.w3.org/2000/svg}"


def index_chain() -> None:
    from chain.indexer import follow_once

    assert follow_once(respect_backoff=False)["status"] == "ok"
    directory.refresh_all()


def chart_of(html: bytes) -> ET.Element:
    match = re.search(rb'<svg class="power-chart".*?</svg>', html, re.S)
    assert match, "no chart in the page"
    return ET.fromstring(match.group(0))


def steps(svg: ET.Element) -> list[float]:
    """The y of each level of the chart's line (smaller y = more power)."""
    line = svg.find(f"{SVG}path[@class='chart-line']").get("d")
    return [float(y) for y in re.findall(r"V([\d.]+)", line)]


@pytest.mark.django_db
def test_delegate_page_draws_power_from_checkpoints_and_lists_delegators(client, onchain):
    ctx = onchain.ctx
    delegate = ctx.address(DELEGATE)
    onchain.mint(HOLDER, 100)
    onchain.mint(OTHER, 50)
    onchain.delegate(HOLDER, delegate)  # 100
    ctx.mine(3)
    onchain.delegate(OTHER, delegate)  # 150
    ctx.mine(3)
    ctx.send(ctx.token.functions.transfer(ctx.address(9), 40 * TOKEN_UNIT), HOLDER)  # 110
    index_chain()

    page = client.get(reverse("delegation:detail", args=[delegate.lower()]))
    assert page.status_code == 301 and page["Location"] == reverse("delegation:detail", args=[delegate])
    page = client.get(reverse("delegation:detail", args=[delegate]))
    assert page.status_code == 200
    assert re.search(rb'id="voting-power" data-power="110000000000000000000"', page.content)
    assert b'id="delegator-count">2<' in page.content
    svg = chart_of(page.content)
    ys = steps(svg)
    # Three levels: 100 -> 150 -> 110 (the line goes up, then down a bit).
    assert len(ys) == 3 and ys[1] < ys[2] < ys[0], ys
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "200" in labels  # the y axis tops out at a round number above 150
    delegators = re.findall(rb"<tr><td class=\"mono\"><a [^>]*>(0x[0-9a-fA-F]{40})</a></td><td class=\"dg-num\">"
                            rb"([\d,.]+)</td></tr>", page.content)
    assert delegators == [(ctx.address(HOLDER).encode(), b"60.00"), (ctx.address(OTHER).encode(), b"50.00")]
    assert b"No votes yet." in page.content
    history = client.get(reverse("delegation-api:power-history", args=[delegate])).json()
    assert [int(p["votes"]) // TOKEN_UNIT for p in history] == [100, 150, 110]

    assert client.get(reverse("delegation:detail", args=["not-an-address"])).status_code == 404
    missing = client.get(reverse("delegation-api:detail", args=[ctx.address(8)]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "delegate_not_found"


@pytest.mark.django_db
def test_my_delegation_shows_delegate_history_and_power_at_proposals(client, onchain, django_user_model):
    from proposals.models import Proposal

    ctx = onchain.ctx
    me = ctx.address(HOLDER)
    user = django_user_model.objects.create_user(me)
    client.force_login(user)
    onchain.mint(HOLDER, 30)
    index_chain()
    page = client.get(reverse("delegation:mine"))
    assert b'id="activate-banner"' in page.content and b"30.00 tokens carry no votes" in page.content
    assert b"Delegate to myself" in page.content
    directory_page = client.get(reverse("delegation:directory"))
    assert b'id="activate-banner"' in directory_page.content

    onchain.delegate(HOLDER, me)
    before = ctx.mine(2)
    onchain.delegate(HOLDER, ctx.address(DELEGATE))
    after = ctx.mine(2)
    index_chain()
    Proposal.objects.create(number=1, title="Early", kind="informational", status="voting", author=user, body="b",
                            revision_hash="0x" + "0" * 64, snapshot_block=before)
    Proposal.objects.create(number=2, title="Late", kind="informational", status="voting", author=user, body="b",
                            revision_hash="0x" + "0" * 64, snapshot_block=after)
    page = client.get(reverse("delegation:mine"))
    html = page.content.decode()
    assert 'id="activate-banner"' not in html
    assert f'href="/delegates/{ctx.address(DELEGATE)}/"' in html
    rows = re.findall(r"<tr><td>#(\d) (\w+)</td><td>(\d+)</td><td class=\"dg-num\">([\d.,]+)</td></tr>", html)
    assert rows == [("2", "Late", str(after), "0.00"), ("1", "Early", str(before), "30.00")]
    history = re.findall(r"<tr><td>(\d+)</td>", html.split('id="delegation-history"')[1].split("</table>")[0])
    assert len(history) == 2
    assert client.get(reverse("delegation:directory")).content.count(b'id="activate-banner"') == 0


def test_chart_reduces_long_histories_and_handles_empty_ones():
    empty = ET.fromstring(str(charts.power_chart([], 10)))
    assert "No voting power yet" in "".join(empty.itertext())
    history = [(block, (block % 97) * 10**18) for block in range(1, 20_001)]
    svg = str(charts.power_chart(history, 20_000))
    assert len(svg) < 60_000  # one column per pixel at most, not 20,000 steps
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}path[@class='chart-line']") is not None
    flat = ET.fromstring(str(charts.power_chart([(5, 7 * 10**18)], 5)))
    assert len(steps(flat)) == 1


@pytest.mark.django_db
def test_api_schema_describes_the_delegation_endpoints(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    paths = schema["paths"]
    for path, method in [("/api/delegates/", "get"), ("/api/delegates/{address}/", "get"),
                         ("/api/delegates/{address}/statements/", "get"),
                         ("/api/delegates/{address}/delegators/", "get"), ("/api/delegates/{address}/votes/", "get"),
                         ("/api/delegates/statements/", "post"), ("/api/delegates/statements/template/", "post"),
                         ("/api/relay/delegation-template/", "get"), ("/api/relay/delegations/", "post"),
                         ("/api/relay/delegations/{relay_id}/", "get")]:
        assert method in paths[path], path
    relay = paths["/api/relay/delegations/"]["post"]
    assert "202" in relay["responses"] and "wrong_nonce" in relay["description"]
    params = {p["name"] for p in paths["/api/delegates/"]["get"]["parameters"]}
    assert {"search", "sort", "interest", "has_statement", "limit", "offset"} <= params
