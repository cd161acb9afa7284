// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title GovernanceToken
/// @notice The network's governance token. Voting power is the delegated balance at a past block
///         (ERC20Votes, default block-number clock). Holders must delegate (to themselves or to
///         someone else) for their balance to count as votes; undelegated balances carry no votes.
/// @dev    ERC20Permit gives gasless approvals (EIP-2612) and ERC20Votes gives delegateBySig
///         (EIP-712); both share one nonce per account through {Nonces}.
///         The owner (the deployer) mints. `mintBatch` and `transferBatch` exist so that
///         benchmarks and demo seeding can create many Transfer events cheaply in one transaction.
contract GovernanceToken is ERC20, ERC20Permit, ERC20Votes, Ownable {
    /// @notice The recipient and amount arrays of a batch call have different lengths.
    error BatchLengthMismatch(uint256 recipients, uint256 amounts);

    /// @param name_   ERC20 name, also the EIP-712 domain name (used by permit and delegateBySig).
    /// @param symbol_ ERC20 symbol.
    constructor(string memory name_, string memory symbol_)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(msg.sender)
    {}

    /// @notice Mint `amount` new tokens to `to`.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Mint `amounts[i]` to `to[i]` for every i; one Transfer event (from the zero address) each.
    function mintBatch(address[] calldata to, uint256[] calldata amounts) external onlyOwner {
        uint256 n = to.length;
        if (n != amounts.length) revert BatchLengthMismatch(n, amounts.length);
        for (uint256 i = 0; i < n; ++i) {
            _mint(to[i], amounts[i]);
        }
    }

    /// @notice Move `amounts[i]` of the caller's own tokens to `to[i]` for every i; one Transfer event each.
    /// @return true, like {transfer}; any failing leg reverts the whole batch.
    function transferBatch(address[] calldata to, uint256[] calldata amounts) external returns (bool) {
        uint256 n = to.length;
        if (n != amounts.length) revert BatchLengthMismatch(n, amounts.length);
        for (uint256 i = 0; i < n; ++i) {
            _transfer(msg.sender, to[i], amounts[i]);
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------
    // Required overrides: ERC20 and ERC20Votes both define _update; ERC20Permit and Nonces both
    // define nonces. We simply chain to the linearised parents (ERC20Votes._update moves the
    // voting units after ERC20._update moved the balances).
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ERC20
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
