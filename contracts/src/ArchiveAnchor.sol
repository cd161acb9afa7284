// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ArchiveAnchor
/// @notice The Foundation archive is an append-only hash chain. From time to time its publisher
///         anchors the chain head here, so anyone can later check that the archive was not
///         rewritten: the anchored (sequence, headHash) pairs are immutable.
/// @dev    Sequences must strictly increase. The first anchor may use any sequence (including 0).
contract ArchiveAnchor is Ownable {
    /// @notice Number of anchors published so far.
    uint256 public anchorCount;
    /// @notice Sequence number of the latest anchor (meaningful only if anchorCount > 0).
    uint256 public latestSequence;
    /// @notice Head hash of the latest anchor.
    bytes32 public latestHeadHash;
    /// @notice Anchored head hash by sequence number (zero if that sequence was not anchored).
    mapping(uint256 sequence => bytes32 headHash) public headHashAt;

    /// @notice A new archive head was anchored.
    event Anchored(uint256 indexed sequence, bytes32 headHash, uint256 timestamp);

    /// @notice `sequence` is not greater than the latest anchored sequence.
    error SequenceNotIncreasing(uint256 sequence, uint256 latestSequence);
    /// @notice The head hash is zero.
    error ZeroHeadHash();

    /// @param anchorer the archive publisher allowed to anchor (the owner)
    constructor(address anchorer) Ownable(anchorer) {}

    /// @notice Anchor the archive head `headHash` at `sequence`.
    function anchor(uint256 sequence, bytes32 headHash) external onlyOwner {
        if (headHash == bytes32(0)) revert ZeroHeadHash();
        if (anchorCount != 0 && sequence <= latestSequence) {
            revert SequenceNotIncreasing(sequence, latestSequence);
        }
        anchorCount += 1;
        latestSequence = sequence;
        latestHeadHash = headHash;
        headHashAt[sequence] = headHash;
        emit Anchored(sequence, headHash, block.timestamp);
    }

    /// @notice The latest anchor: (sequence, headHash, count). count == 0 means nothing anchored yet.
    function latest() external view returns (uint256 sequence, bytes32 headHash, uint256 count) {
        return (latestSequence, latestHeadHash, anchorCount);
    }
}
