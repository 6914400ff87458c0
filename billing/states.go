package billing

import "slices"

// The four state machines of the engine: an invoice's status, a payment
// attempt's state, a referral reward's state and a billing run's state.
//
// Each type's values are exactly those its column's CHECK constraint
// admits, and each CanBecome is the machine's transition table. Where
// Postgres guards a column with a trigger (invoices.status,
// payment_attempts.state), the table is the trigger's, pair for pair: the
// test in internal/platform/pgdb tries every pair against the database, so the two
// cannot drift. docs/states.md draws each machine, and a test in this package
// keeps the drawings equal to the tables.
//
// Staying in a state is not a transition: CanBecome(s) of s itself is false,
// and no guard refuses an update that leaves the state as it was (replaying
// an outcome rewrites the same state). A value outside the type's constants
// can become nothing.

// InvoiceStatus is where an invoice is in its life, as invoices.status
// stores it.
type InvoiceStatus string

const (
	// InvoiceStatusDraft is an invoice drafted from rated usage and not yet
	// finalized: it has no number, no tax and no total, and its usage
	// (account, period, subtotal) can no longer change. Nothing is
	// collected on a draft.
	InvoiceStatusDraft InvoiceStatus = "draft"

	// InvoiceStatusOpen is a finalized invoice, numbered and issued, with an
	// amount still due. Collection charges it and dunning retries it; a
	// finalized invoice is a document and is never rewritten, only its
	// payment status moves.
	InvoiceStatusOpen InvoiceStatus = "open"

	// InvoiceStatusProcessing is an open invoice whose payment was accepted
	// but settles later (a SEPA direct debit): it is not unpaid, so dunning
	// leaves it alone, until the debit settles or fails.
	InvoiceStatusProcessing InvoiceStatus = "processing"

	// InvoiceStatusPaid is an invoice whose amount paid (prepaid credit plus
	// charges) equals its total.
	InvoiceStatusPaid InvoiceStatus = "paid"

	// InvoiceStatusVoid is an invoice cancelled by a credit note. It stays
	// void forever and no longer holds its account's period, so the period
	// can be invoiced again; what was paid on it went to prepaid credit.
	InvoiceStatusVoid InvoiceStatus = "void"
)

// AllInvoiceStatuses returns every invoice status, in the order of the
// invoice's life.
func AllInvoiceStatuses() []InvoiceStatus {
	return []InvoiceStatus{
		InvoiceStatusDraft,
		InvoiceStatusOpen,
		InvoiceStatusProcessing,
		InvoiceStatusPaid,
		InvoiceStatusVoid,
	}
}

// invoiceStatusNext is the trigger invoices_status_guard (migrations 0003,
// 0008), pair for pair.
var invoiceStatusNext = map[InvoiceStatus][]InvoiceStatus{
	// Finalization opens a draft. The guard also lets a draft become paid
	// directly, though no code path does so today (finalization always
	// opens, and collection pays afterwards).
	InvoiceStatusDraft: {InvoiceStatusOpen, InvoiceStatusPaid},
	// A SEPA debit is accepted (processing), credit or a charge covers the
	// amount due (paid), or finance voids it (void).
	InvoiceStatusOpen: {InvoiceStatusProcessing, InvoiceStatusPaid, InvoiceStatusVoid},
	// The debit fails, or pays only part of the total (open), settles
	// (paid), or finance voids it while the debit is in flight (void; a
	// later settlement goes to credit).
	InvoiceStatusProcessing: {InvoiceStatusOpen, InvoiceStatusPaid, InvoiceStatusVoid},
	// A paid invoice can still be voided: its payment is refunded to credit.
	InvoiceStatusPaid: {InvoiceStatusVoid},
	// A void invoice is final.
	InvoiceStatusVoid: nil,
}

// CanBecome reports whether an invoice in status s may move to status t.
// It is exactly what Postgres allows: a status change it refuses, the
// trigger refuses too.
func (s InvoiceStatus) CanBecome(t InvoiceStatus) bool {
	return slices.Contains(invoiceStatusNext[s], t)
}

// AttemptState is what became of one payment attempt (one idempotency key),
// as payment_attempts.state stores it. Its values other than pending are the
// outcomes a processor reports.
type AttemptState string

const (
	// AttemptStatePending is an attempt recorded before its request is sent:
	// the request may or may not have reached the processor. It is resolved
	// by sending the same attempt again with the same idempotency key, or by
	// the processor's webhook, never by starting a new attempt: that is how
	// a customer is never charged twice.
	AttemptStatePending AttemptState = "pending"

	// AttemptStateSucceeded is an attempt whose money was collected. Final.
	AttemptStateSucceeded AttemptState = "succeeded"

	// AttemptStateDeclined is an attempt the processor refused (a card
	// decline): a business outcome, final for this attempt; dunning retries
	// later with a new attempt and a new key.
	AttemptStateDeclined AttemptState = "declined"

	// AttemptStateProcessing is an attempt the processor accepted and will
	// settle later (a SEPA direct debit). It is still in flight: at most one
	// attempt per invoice is pending or processing.
	AttemptStateProcessing AttemptState = "processing"

	// AttemptStateFailed is an accepted payment that did not settle (a SEPA
	// debit returned). Final; dunning retries with a new attempt.
	AttemptStateFailed AttemptState = "failed"
)

// AllAttemptStates returns every attempt state, pending first.
func AllAttemptStates() []AttemptState {
	return []AttemptState{
		AttemptStatePending,
		AttemptStateSucceeded,
		AttemptStateDeclined,
		AttemptStateProcessing,
		AttemptStateFailed,
	}
}

// attemptStateNext is the trigger payment_attempts_guard (migration 0003),
// pair for pair.
var attemptStateNext = map[AttemptState][]AttemptState{
	// The processor answers (succeeded, declined, processing), or a
	// settlement arrives for an attempt whose answer was never recorded
	// (succeeded, failed).
	AttemptStatePending: {AttemptStateSucceeded, AttemptStateDeclined, AttemptStateFailed, AttemptStateProcessing},
	// The debit settles or is returned.
	AttemptStateProcessing: {AttemptStateSucceeded, AttemptStateFailed},
	// Decided outcomes are final: a later answer that contradicts one (a
	// Stripe webhook) is reconciled through the credit ledger, never
	// written over the outcome.
	AttemptStateSucceeded: nil,
	AttemptStateDeclined:  nil,
	AttemptStateFailed:    nil,
}

// CanBecome reports whether an attempt in state s may move to state t. It is
// exactly what Postgres allows.
func (s AttemptState) CanBecome(t AttemptState) bool {
	return slices.Contains(attemptStateNext[s], t)
}

// RewardState is where a referral reward (what a referee's invoice earns its
// referrer) is, as referral_rewards.state stores it.
//
// No trigger guards referral_rewards.state yet: Postgres only checks the
// value, and that an applied reward names the invoice it was applied to.
// This table is what the code does, and what a guard should enforce.
type RewardState string

const (
	// RewardStatePending is the reward of a finalized referee invoice whose
	// referrer still has a draft of the period: the finalization of that
	// draft applies it. A pending reward without such a draft would be
	// lost, which the audit reports.
	RewardStatePending RewardState = "pending"

	// RewardStateApplied is a reward given as a referral line (a discount)
	// on the referrer's invoice of the period, referrer_invoice_id. Final:
	// if the referee's invoice is voided later, the reward is taken back by
	// a referral reversal, and its state stays applied.
	RewardStateApplied RewardState = "applied"

	// RewardStateCredited is a reward given as prepaid credit (a ledger
	// entry) because its referrer had no draft of the period left to
	// discount. Final, and taken back like an applied one.
	RewardStateCredited RewardState = "credited"

	// RewardStateVoid is a pending reward cancelled because its referee's
	// invoice was voided before any invoice took it: nothing was given, so
	// nothing is taken back. Final.
	RewardStateVoid RewardState = "void"
)

// AllRewardStates returns every reward state, pending first.
func AllRewardStates() []RewardState {
	return []RewardState{
		RewardStatePending,
		RewardStateApplied,
		RewardStateCredited,
		RewardStateVoid,
	}
}

// rewardStateNext is what invoices does: a reward is inserted pending,
// applied or credited, and only a pending one moves.
var rewardStateNext = map[RewardState][]RewardState{
	// The referrer's draft is finalized (applied), or the referee's invoice
	// is voided first (void).
	RewardStatePending:  {RewardStateApplied, RewardStateVoid},
	RewardStateApplied:  nil,
	RewardStateCredited: nil,
	RewardStateVoid:     nil,
}

// CanBecome reports whether a reward in state s may move to state t.
// Postgres does not enforce it yet (see RewardState).
func (s RewardState) CanBecome(t RewardState) bool {
	return slices.Contains(rewardStateNext[s], t)
}

// RunState is where a billing run is, as billing_runs.state stores it.
//
// No trigger guards billing_runs.state yet: Postgres only checks the value,
// and that a run is completed exactly when it has finished_at. This table is
// what the code does, and what a guard should enforce.
type RunState string

const (
	// RunStatePending is a run created and not planned yet: its accounts
	// are not cut into shards.
	RunStatePending RunState = "pending"

	// RunStateDrafting is a planned run whose shards are rating usage into
	// draft invoices, one job per shard.
	RunStateDrafting RunState = "drafting"

	// RunStateFinalizing is a run whose every shard is drafted: its drafts
	// are becoming numbered invoices, a chunk per transaction.
	RunStateFinalizing RunState = "finalizing"

	// RunStateCompleted is a run with no draft left, or nothing to bill. Final;
	// it no longer holds its period against another run.
	RunStateCompleted RunState = "completed"
)

// AllRunStates returns every run state, in the order of a run.
func AllRunStates() []RunState {
	return []RunState{
		RunStatePending,
		RunStateDrafting,
		RunStateFinalizing,
		RunStateCompleted,
	}
}

// runStateNext is what invoices does (PlanRun, DraftShard, FinalizeChunk).
var runStateNext = map[RunState][]RunState{
	// Planning cuts at least one shard (drafting), or finds nothing left to
	// bill in scope (completed).
	RunStatePending: {RunStateDrafting, RunStateCompleted},
	// The last shard is drafted.
	RunStateDrafting: {RunStateFinalizing},
	// The last draft is finalized.
	RunStateFinalizing: {RunStateCompleted},
	RunStateCompleted:  nil,
}

// CanBecome reports whether a run in state s may move to state t. Postgres
// does not enforce it yet (see RunState).
func (s RunState) CanBecome(t RunState) bool {
	return slices.Contains(runStateNext[s], t)
}
