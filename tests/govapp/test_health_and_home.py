import json

import pytest

from proposals.demo import DEMO_PROPOSALS, seed_demo_proposals


@pytest.mark.django_db
def test_healthz_reports_database_broker_and_chain(client, chain_settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is True
    assert report["checks"]["database"]["vendor"] == "postgresql"
    assert report["checks"]["broker"]["ok"] is True
    assert report["checks"]["chain"]["block_number"] == chain_settings.w3.eth.block_number


@pytest.mark.django_db
def test_healthz_is_503_when_the_chain_is_down(client, settings):
    from chain.anvil import free_port

    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}"
    settings.CHAIN_RPC_TIMEOUT = 1
    response = client.get("/healthz")
    assert response.status_code == 503
    report = json.loads(response.content)
    assert report["ok"] is False
    assert report["checks"]["chain"]["ok"] is False
    assert report["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_home_lists_demo_proposals(client):
    seed_demo_proposals(["0x" + "ab" * 20])
    seed_demo_proposals(["0x" + "cd" * 20])  # idempotent
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for title, *_ in DEMO_PROPOSALS:
        assert title.replace("'", "&#x27;") in page
    assert page.count('class="status status-') == len(DEMO_PROPOSALS)


def test_api_schema_and_docs_are_served_without_a_cdn(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn." not in html and "jsdelivr" not in html
