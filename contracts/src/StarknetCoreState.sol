// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title StarknetCoreState
/// @notice Stand-in for StarkNet's core contract on L1: it records which OS program (and config)
///         the network runs and the governed fee / staking parameters. Only the governor (the
///         UpgradeExecutor, i.e. an accepted and timelocked proposal) can change anything.
/// @dev    Parameters are keyed by a bytes32 name chosen by the portal (for example the UTF-8
///         bytes of "fee.min_gas_price" right-padded to 32 bytes, or its keccak256). The contract
///         stores any name; unset parameters read as 0.
contract StarknetCoreState {
    /// @notice The only address allowed to change state (the UpgradeExecutor).
    address public immutable governor;

    /// @notice Hash of the StarkNet OS program currently accepted by the verifier.
    bytes32 public programHash;
    /// @notice Hash of the OS configuration.
    bytes32 public configHash;
    /// @notice Human-readable OS version, e.g. "0.13.2".
    string public osVersion;

    /// @notice Governed numeric parameters by name.
    mapping(bytes32 name => uint256 value) public parameters;

    /// @notice The OS program / config / version changed.
    event OsUpgraded(
        bytes32 oldProgramHash,
        bytes32 newProgramHash,
        bytes32 oldConfigHash,
        bytes32 newConfigHash,
        string oldOsVersion,
        string newOsVersion
    );
    /// @notice A governed parameter changed.
    event ParameterChanged(bytes32 indexed name, uint256 oldValue, uint256 newValue);

    /// @notice The caller is not the governor.
    error NotGovernor(address caller);
    /// @notice The governor given to the constructor is the zero address.
    error ZeroGovernor();

    modifier onlyGovernor() {
        if (msg.sender != governor) revert NotGovernor(msg.sender);
        _;
    }

    constructor(address governor_, bytes32 programHash_, bytes32 configHash_, string memory osVersion_) {
        if (governor_ == address(0)) revert ZeroGovernor();
        governor = governor_;
        programHash = programHash_;
        configHash = configHash_;
        osVersion = osVersion_;
    }

    /// @notice Switch the network to a new OS program / config / version.
    function upgradeOs(bytes32 newProgramHash, bytes32 newConfigHash, string calldata newOsVersion)
        external
        onlyGovernor
    {
        emit OsUpgraded(programHash, newProgramHash, configHash, newConfigHash, osVersion, newOsVersion);
        programHash = newProgramHash;
        configHash = newConfigHash;
        osVersion = newOsVersion;
    }

    /// @notice Set the governed parameter `name` to `value`.
    function setParameter(bytes32 name, uint256 value) external onlyGovernor {
        emit ParameterChanged(name, parameters[name], value);
        parameters[name] = value;
    }

    /// @notice Value of the governed parameter `name` (0 if never set).
    function getParameter(bytes32 name) external view returns (uint256) {
        return parameters[name];
    }
}
