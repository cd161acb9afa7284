// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title ContractWallet
/// @notice Minimal EIP-1271 smart-contract wallet used to test contract-wallet voting.
///         A signature is valid when it is the owner EOA's ECDSA signature of the given hash
///         (the hash is signed as is: callers pass the final digest, e.g. an EIP-712 digest).
/// @dev    `setBroken(true)` makes isValidSignature always answer a wrong value, to test how the
///         portal treats a misbehaving wallet. `execute` lets the owner act as the wallet (hold
///         and delegate governance tokens, and so on).
contract ContractWallet is IERC1271 {
    /// @dev EIP-1271 magic value: bytes4(keccak256("isValidSignature(bytes32,bytes)")).
    bytes4 internal constant MAGIC_VALUE = 0x1626ba7e;
    /// @dev Conventional "invalid signature" answer.
    bytes4 internal constant INVALID_VALUE = 0xffffffff;
    /// @dev Answer of a broken wallet: neither the magic value nor the conventional invalid one.
    bytes4 internal constant BROKEN_VALUE = 0xdeadbeef;

    /// @notice The EOA controlling this wallet.
    address public immutable owner;
    /// @notice When true, isValidSignature never returns the magic value.
    bool public broken;

    event BrokenSet(bool broken);
    event Executed(address indexed target, uint256 value, bytes data, bytes result);

    /// @notice The caller is not the owner.
    error NotOwner(address caller);
    /// @notice The owner given to the constructor is the zero address.
    error ZeroOwner();
    /// @notice The call made by `execute` reverted with `returnData`.
    error CallFailed(address target, bytes returnData);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(address owner_) {
        if (owner_ == address(0)) revert ZeroOwner();
        owner = owner_;
    }

    /// @notice The wallet may hold ETH.
    receive() external payable {}

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (broken) return BROKEN_VALUE;
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && signer == owner) return MAGIC_VALUE;
        return INVALID_VALUE;
    }

    /// @notice Make isValidSignature misbehave (true) or behave again (false).
    function setBroken(bool broken_) external onlyOwner {
        broken = broken_;
        emit BrokenSet(broken_);
    }

    /// @notice Call `target` with `value` and `data` as the wallet.
    function execute(address target, uint256 value, bytes calldata data)
        external
        payable
        onlyOwner
        returns (bytes memory result)
    {
        bool ok;
        (ok, result) = target.call{value: value}(data);
        if (!ok) revert CallFailed(target, result);
        emit Executed(target, value, data, result);
    }
}
