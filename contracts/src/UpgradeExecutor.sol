// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title UpgradeExecutor
/// @notice Timelocked executor of the actions of accepted governance proposals.
///
///         Life cycle of a proposal id:
///           Unknown --schedule--> Scheduled --(delay elapses)--> Ready --execute--> Executed
///                                      \________________________________/
///                                                   cancel (guardian) --> Cancelled
///
///         * The portal's worker key (EXECUTOR_ROLE) schedules the action list of a proposal that
///           passed, together with the digest of the final tally, and executes it once the delay
///           has elapsed. Only the exact (proposalId, actions, tallyDigest) triple that was
///           scheduled can be executed: the contract stores its hash.
///         * The security council (GUARDIAN_ROLE) may cancel a scheduled proposal during (or
///           after) the delay, as long as it has not been executed.
///         * A proposal id can be scheduled once, ever: not again after execution or cancellation.
///         * The admin (DEFAULT_ADMIN_ROLE) manages roles and may change the delay for proposals
///           scheduled afterwards.
///
///         The contract holds the treasury: it accepts ETH (`receive`) and tokens; treasury grants
///         are ordinary actions such as `token.transfer(recipient, amount)`.
contract UpgradeExecutor is AccessControl {
    /// @notice Role of the portal's worker key: may schedule and execute.
    bytes32 public constant EXECUTOR_ROLE = keccak256("EXECUTOR_ROLE");
    /// @notice Role of the security council members: may cancel.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Upper bound for the delay, so that eta arithmetic stays sane.
    uint256 public constant MAX_DELAY = 365 days;

    /// @notice One call made by the executor.
    struct Action {
        address target;
        uint256 value;
        bytes data;
    }

    /// @notice State of a proposal id. `Ready` means scheduled and the eta has been reached.
    enum ProposalState {
        Unknown,
        Scheduled,
        Ready,
        Executed,
        Cancelled
    }

    /// @dev Book-keeping of one scheduled proposal. `eta != 0` means the id was scheduled.
    struct Operation {
        bytes32 operationHash;
        uint64 eta;
        bool executed;
        bool cancelled;
    }

    /// @notice Seconds between scheduling and the earliest execution.
    uint256 public delay;

    mapping(bytes32 proposalId => Operation) private _operations;

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    event ProposalScheduled(
        bytes32 indexed proposalId, bytes32 operationHash, bytes32 tallyDigest, uint256 eta, Action[] actions
    );
    event ActionExecuted(bytes32 indexed proposalId, uint256 index, address target, uint256 value, bytes data);
    event ProposalExecuted(bytes32 indexed proposalId, bytes32 operationHash);
    event ProposalCancelled(bytes32 indexed proposalId, address guardian, string reason);
    event DelayChanged(uint256 oldDelay, uint256 newDelay);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice The delay exceeds MAX_DELAY.
    error DelayTooLong(uint256 delay, uint256 maxDelay);
    /// @notice The proposal id was already scheduled once (whatever happened to it since).
    error AlreadyScheduled(bytes32 proposalId);
    /// @notice The proposal id was never scheduled.
    error UnknownProposal(bytes32 proposalId);
    /// @notice The proposal was cancelled by a guardian.
    error AlreadyCancelled(bytes32 proposalId);
    /// @notice The proposal was already executed.
    error AlreadyExecuted(bytes32 proposalId);
    /// @notice The delay has not elapsed yet.
    error NotReady(bytes32 proposalId, uint256 eta, uint256 timestamp);
    /// @notice The actions / tally digest given to execute are not the ones that were scheduled.
    error OperationMismatch(bytes32 proposalId, bytes32 scheduledHash, bytes32 givenHash);
    /// @notice Action number `index` reverted; `returnData` is the target's revert data.
    error ActionFailed(uint256 index, address target, bytes returnData);
    /// @notice An admin, executor or guardian address is the zero address.
    error ZeroAddress();

    /// @param delay_     initial delay in seconds (<= MAX_DELAY)
    /// @param admin      receives DEFAULT_ADMIN_ROLE (role management, setDelay)
    /// @param executors  receive EXECUTOR_ROLE (the portal's worker key)
    /// @param guardians  receive GUARDIAN_ROLE (security council)
    constructor(uint256 delay_, address admin, address[] memory executors, address[] memory guardians) {
        if (delay_ > MAX_DELAY) revert DelayTooLong(delay_, MAX_DELAY);
        if (admin == address(0)) revert ZeroAddress();
        delay = delay_;
        emit DelayChanged(0, delay_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < executors.length; ++i) {
            if (executors[i] == address(0)) revert ZeroAddress();
            _grantRole(EXECUTOR_ROLE, executors[i]);
        }
        for (uint256 i = 0; i < guardians.length; ++i) {
            if (guardians[i] == address(0)) revert ZeroAddress();
            _grantRole(GUARDIAN_ROLE, guardians[i]);
        }
    }

    /// @notice The treasury may hold ETH.
    receive() external payable {}

    // ------------------------------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------------------------------

    /// @notice Change the delay. Applies to proposals scheduled from now on.
    function setDelay(uint256 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newDelay > MAX_DELAY) revert DelayTooLong(newDelay, MAX_DELAY);
        emit DelayChanged(delay, newDelay);
        delay = newDelay;
    }

    // ------------------------------------------------------------------------------------------
    // Scheduling, execution, cancellation
    // ------------------------------------------------------------------------------------------

    /// @notice Hash identifying a (proposalId, actions, tallyDigest) triple.
    function hashOperation(bytes32 proposalId, Action[] calldata actions, bytes32 tallyDigest)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(proposalId, actions, tallyDigest));
    }

    /// @notice Schedule the actions of an accepted proposal; executable after `delay` seconds.
    /// @param tallyDigest digest of the final tally the portal published for the proposal.
    function schedule(bytes32 proposalId, Action[] calldata actions, bytes32 tallyDigest)
        external
        onlyRole(EXECUTOR_ROLE)
    {
        Operation storage op = _operations[proposalId];
        if (op.eta != 0) revert AlreadyScheduled(proposalId);

        bytes32 operationHash = hashOperation(proposalId, actions, tallyDigest);
        uint256 eta = block.timestamp + delay;
        op.operationHash = operationHash;
        op.eta = uint64(eta); // block.timestamp + MAX_DELAY fits in 64 bits for billions of years

        emit ProposalScheduled(proposalId, operationHash, tallyDigest, eta, actions);
    }

    /// @notice Execute the actions of a scheduled proposal whose delay has elapsed.
    /// @dev The proposal is marked executed before any call is made, so a target re-entering
    ///      `execute` gets AlreadyExecuted. If any call reverts, the whole transaction reverts
    ///      (with ActionFailed carrying the index and the target's revert data) and the proposal
    ///      stays executable.
    function execute(bytes32 proposalId, Action[] calldata actions, bytes32 tallyDigest)
        external
        onlyRole(EXECUTOR_ROLE)
    {
        Operation storage op = _operations[proposalId];
        if (op.eta == 0) revert UnknownProposal(proposalId);
        if (op.cancelled) revert AlreadyCancelled(proposalId);
        if (op.executed) revert AlreadyExecuted(proposalId);
        if (block.timestamp < op.eta) revert NotReady(proposalId, op.eta, block.timestamp);

        bytes32 operationHash = hashOperation(proposalId, actions, tallyDigest);
        if (operationHash != op.operationHash) {
            revert OperationMismatch(proposalId, op.operationHash, operationHash);
        }

        // Effects before interactions.
        op.executed = true;

        for (uint256 i = 0; i < actions.length; ++i) {
            Action calldata action = actions[i];
            (bool ok, bytes memory returnData) = action.target.call{value: action.value}(action.data);
            if (!ok) revert ActionFailed(i, action.target, returnData);
            emit ActionExecuted(proposalId, i, action.target, action.value, action.data);
        }

        emit ProposalExecuted(proposalId, operationHash);
    }

    /// @notice Cancel a scheduled, not yet executed proposal (security council veto).
    function cancel(bytes32 proposalId, string calldata reason) external onlyRole(GUARDIAN_ROLE) {
        Operation storage op = _operations[proposalId];
        if (op.eta == 0) revert UnknownProposal(proposalId);
        if (op.executed) revert AlreadyExecuted(proposalId);
        if (op.cancelled) revert AlreadyCancelled(proposalId);

        op.cancelled = true;
        emit ProposalCancelled(proposalId, msg.sender, reason);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Current state of a proposal id.
    function state(bytes32 proposalId) external view returns (ProposalState) {
        Operation storage op = _operations[proposalId];
        if (op.eta == 0) return ProposalState.Unknown;
        if (op.executed) return ProposalState.Executed;
        if (op.cancelled) return ProposalState.Cancelled;
        if (block.timestamp >= op.eta) return ProposalState.Ready;
        return ProposalState.Scheduled;
    }

    /// @notice Earliest execution timestamp of a proposal id (0 if never scheduled).
    function etaOf(bytes32 proposalId) external view returns (uint256) {
        return _operations[proposalId].eta;
    }

    /// @notice Stored operation hash of a proposal id (zero if never scheduled).
    function operationHashOf(bytes32 proposalId) external view returns (bytes32) {
        return _operations[proposalId].operationHash;
    }

    /// @notice Everything stored about a proposal id.
    function getOperation(bytes32 proposalId)
        external
        view
        returns (bytes32 operationHash, uint256 eta, bool executed, bool cancelled)
    {
        Operation storage op = _operations[proposalId];
        return (op.operationHash, op.eta, op.executed, op.cancelled);
    }
}
