"""chain.signing.verify_signed against the real deployment: domain binding, EOAs and EIP-1271 wallets."""

import pytest
from eth_account import Account

from chain import eip712
from chain.signing import SignatureError, portal_domain, typed_data_for, verify_signed

pytestmark = pytest.mark.django_db


def _vote(chain_settings, key, **overrides):
    message = {"proposalId": 1, "voter": Account.from_key(key).address, "support": 1, "reason": "",
               "timestamp": 1_700_000_000}
    message.update(overrides)
    return typed_data_for("Vote", message)


def _sign(key, data):
    return Account.sign_typed_data(key, full_message=data).signature.to_0x_hex()


def test_domain_binds_chain_and_the_deployment(chain_settings):
    domain = portal_domain()
    assert domain["chainId"] == 31337
    assert domain["verifyingContract"] == chain_settings.deployment.executor_address


def test_an_eoa_signature_verifies(chain_settings):
    key = chain_settings.key(4)
    data = _vote(chain_settings, key)
    verified = verify_signed("Vote", data, _sign(key, data), "voter")
    assert verified.signer == Account.from_key(key).address
    assert verified.digest == "0x" + eip712.digest(data).hex()
    assert verified.contract_wallet is False


@pytest.mark.parametrize("mutate, code", [
    (lambda d: d["domain"].update(chainId=1), "wrong_chain"),
    (lambda d: d["domain"].update(name="snapshot"), "wrong_domain"),
    (lambda d: d["domain"].update(version="2"), "wrong_domain"),
    (lambda d: d["domain"].update(verifyingContract="0x" + "11" * 20), "wrong_contract"),
    (lambda d: d.update(primaryType="Veto"), "wrong_primary_type"),
    (lambda d: d["types"]["Vote"].reverse(), "wrong_types"),
])
def test_typed_data_for_another_domain_is_refused(chain_settings, mutate, code):
    key = chain_settings.key(4)
    data = _vote(chain_settings, key)
    mutate(data)
    with pytest.raises(SignatureError) as err:
        verify_signed("Vote", data, "0x" + "11" * 65, "voter")
    assert err.value.code == code


def test_a_signature_by_someone_else_is_a_signer_mismatch(chain_settings):
    data = _vote(chain_settings, chain_settings.key(4))
    with pytest.raises(SignatureError) as err:
        verify_signed("Vote", data, _sign(chain_settings.key(5), data), "voter")
    assert err.value.code == "signer_mismatch"


def test_a_contract_wallet_signs_through_eip1271(chain_settings):
    owner_key = chain_settings.key(6)
    wallet = chain_settings.deploy("ContractWallet", Account.from_key(owner_key).address)
    data = _vote(chain_settings, owner_key, voter=wallet.address)
    # The wallet checks ECDSA over the raw EIP-712 digest, as contract wallets do.
    signature = Account.unsafe_sign_hash(eip712.digest(data), owner_key).signature.to_0x_hex()
    verified = verify_signed("Vote", data, signature, "voter")
    assert verified.signer == wallet.address and verified.contract_wallet is True

    chain_settings.send(wallet.functions.setBroken(True), owner_key)
    with pytest.raises(SignatureError) as err:
        verify_signed("Vote", data, signature, "voter")
    assert err.value.code == "signer_mismatch"
