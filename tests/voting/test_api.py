"""The voting API: template, submit, results, power (with override info), votes list and CSV, batch, schema."""

from __future__ import annotations

import csv
import io
import json

import pytest

from voting.models import Vote

from .conftest import T, sign

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_template_sign_submit_results(world, client):
    p = world.proposals[0]
    voter = world.address(6)
    response = client.get(f"/api/votes/proposals/{p.number}/template", {"voter": voter.lower(), "support": 2,
                                                                         "reason": "abstaining"})
    assert response.status_code == 200
    typed = response.json()["typed_data"]
    assert typed["primaryType"] == "Vote" and typed["message"]["voter"] == voter
    assert typed["message"]["support"] == 2 and typed["message"]["reason"] == "abstaining"
    assert typed["domain"]["chainId"] == 31337
    response = _post(client, f"/api/votes/proposals/{p.number}/", {"typed_data": typed,
                                                                   "signature": sign(world.key(6), typed)})
    assert response.status_code == 201, response.content
    receipt = response.json()
    assert receipt["weight"] == str(T(650)) and receipt["support_label"] == "Abstain" and receipt["replaced"] is None
    results = client.get(f"/api/votes/proposals/{p.number}/results").json()
    assert results["totals"] == {"for": "0", "against": "0", "abstain": str(T(650))}
    assert results["voters"] == 1 and results["open"] is True
    assert results["quorum"]["counted"] == str(T(650)) and results["quorum"]["reached"] is True
    assert client.get(f"/api/votes/{receipt['id']}").json()["typed_data"] == typed

    # a re-vote right away: the template's timestamp is later than the stored vote's
    again = client.get(f"/api/votes/proposals/{p.number}/template", {"voter": voter, "support": 1}).json()
    assert again["typed_data"]["message"]["timestamp"] > typed["message"]["timestamp"]
    response = _post(client, "/api/votes/", {"typed_data": again["typed_data"],
                                             "signature": sign(world.key(6), again["typed_data"])})
    assert response.status_code == 201 and response.json()["replaced"] == receipt["id"]


def test_power_shows_the_override(world, client):
    p = world.proposals[0]
    services_vote = _post(client, "/api/votes/", dict(zip(("typed_data", "signature"),
                                                          world.vote(5, p, support=0), strict=True)))
    assert services_vote.status_code == 201
    five = client.get(f"/api/votes/proposals/{p.number}/power", {"address": world.address(5)}).json()
    assert five["delegate"] == world.address(6) and five["overrides_delegate"] is True
    assert (five["votes"], five["override_balance"], five["power"]) == ("0", str(T(200)), str(T(200)))
    assert five["current_vote"]["support"] == "against"
    six = client.get(f"/api/votes/proposals/{p.number}/power", {"address": world.address(6)}).json()
    assert (six["power"], six["overridden_by_delegators"], six["weight"]) == (str(T(650)), str(T(200)), str(T(450)))
    nine = client.get(f"/api/votes/proposals/{p.number}/power", {"address": world.address(9)}).json()
    assert nine["can_vote"] is False and nine["balance"] == str(T(70)) and nine["delegate"] is None
    bad = client.get(f"/api/votes/proposals/{p.number}/power", {"address": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_address"


def test_votes_list_paginates_and_csv_streams(world, client):
    p = world.proposals[0]
    reasons = {3: "r3", 4: "r4", 6: "r6", 5: '=HYPERLINK("http://evil.example","click")'}
    for index, support in ((3, 1), (4, 0), (6, 2), (5, 1)):
        assert _post(client, "/api/votes/", dict(zip(("typed_data", "signature"),
                                                      world.vote(index, p, support=support, reason=reasons[index]),
                                                      strict=True))).status_code == 201
    page = client.get(f"/api/votes/proposals/{p.number}/votes", {"limit": 3}).json()
    assert page["count"] == 4 and len(page["results"]) == 3 and page["next"]
    rest = client.get(f"/api/votes/proposals/{p.number}/votes", {"limit": 3, "offset": 3}).json()
    voters = {r["voter"] for r in page["results"] + rest["results"]}
    assert voters == {world.address(i) for i in (3, 4, 5, 6)}
    only_for = client.get(f"/api/votes/proposals/{p.number}/votes", {"support": "for"}).json()
    assert {r["voter"] for r in only_for["results"]} == {world.address(3), world.address(5)}
    six = next(r for r in page["results"] + rest["results"] if r["voter"] == world.address(6))
    assert (six["power"], six["overridden"], six["weight"]) == (str(T(650)), str(T(200)), str(T(450)))

    response = client.get(f"/api/votes/proposals/{p.number}/votes.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4 and {r["voter"] for r in rows} == voters
    assert next(r for r in rows if r["voter"] == world.address(4))["reason"] == "r4"
    # a reason a spreadsheet would run as a formula is exported as text; the API keeps the exact signed text
    assert next(r for r in rows if r["voter"] == world.address(5))["reason"] == "'" + reasons[5]
    five = next(r for r in page["results"] + rest["results"] if r["voter"] == world.address(5))
    assert five["reason"] == reasons[5]


def test_batch_endpoint(world, client):
    p = world.proposals[0]
    good = world.vote(3, p)
    stranger = world.vote(8, p)
    response = _post(client, "/api/votes/batch", {"votes": [
        {"typed_data": good[0], "signature": good[1]}, {"typed_data": stranger[0], "signature": stranger[1]}]})
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][1]["error"]["code"] == "zero_voting_power"
    assert Vote.objects.filter(proposal=p).count() == 1
    too_many = _post(client, "/api/votes/batch", {"votes": [{}] * 1001})
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "batch_too_large"


def test_pages_and_schema(world, client):
    p = world.proposals[0]
    assert _post(client, "/api/votes/", dict(zip(("typed_data", "signature"), world.vote(6, p, reason="Because"),
                                                 strict=True))).status_code == 201
    _post(client, "/api/votes/", dict(zip(("typed_data", "signature"), world.vote(5, p, support=0), strict=True)))
    html = client.get(f"/votes/proposals/{p.number}/").content.decode()
    assert 'id="vote-panel"' in html and "<svg" in html and "Because" in html
    assert "(−200 overridden by delegators)" in html and "power 650" in html
    fragment = client.get(f"/votes/proposals/{p.number}/results").content.decode()
    assert 'id="vote-results-body"' in fragment and "<html" not in fragment
    assert client.get("/votes/proposals/99999/").status_code == 404
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/votes/", "/api/votes/batch", "/api/votes/snapshot", "/api/votes/proposals/{number}/results"):
        assert path in schema
