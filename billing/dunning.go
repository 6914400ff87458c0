package billing

import "time"

// DunningRetries is the number of daily retries after an invoice's first
// collection attempt (SPEC §5).
const DunningRetries = 5

// DunningInterval separates the retries: retry k is due at t0 + k × 24 h.
const DunningInterval = 24 * time.Hour

// DunningInput is an unpaid invoice as the dunning rules see it.
type DunningInput struct {
	// IssuedAt is t0, the time of the first collection attempt: the
	// invoice's issue, or its delayed SEPA debit (BILLING_SEPA_DEBIT_DELAY).
	IssuedAt time.Time
	Now      time.Time
	// LastSlot is the highest retry already made (0 for none).
	LastSlot int
	// LastSlotFailed: the retry of LastSlot ended declined or failed.
	LastSlotFailed bool
	// InFlight: an attempt is pending or processing. A processing SEPA
	// debit is not unpaid until it fails.
	InFlight bool
	// CanRetry: the account has a payment method to retry.
	CanRetry bool
}

// DunningDecision is what to do about an unpaid invoice now.
type DunningDecision struct {
	// RetrySlot > 0 asks for the retry of that slot now.
	RetrySlot int
	// Overdue: the invoice has exhausted its retries (or could not be
	// retried for five days): its account is suspended.
	Overdue bool
}

// DueSlot is the latest retry due at now: floor((now − t0) / 24 h), at most
// DunningRetries.
func DueSlot(issuedAt, now time.Time) int {
	if now.Before(issuedAt) {
		return 0
	}
	return min(int(now.Sub(issuedAt)/DunningInterval), DunningRetries)
}

// DecideDunning applies SPEC §5 to an unpaid invoice: a retry at t0 + k × 24 h
// for k = 1..5 (one for the latest due slot, when passes were missed), and
// overdue once the k = 5 retry has failed, or at t0 + 5 days when there is
// nothing to retry with. An attempt in flight decides nothing.
func DecideDunning(in DunningInput) DunningDecision {
	if in.InFlight {
		return DunningDecision{}
	}
	due := DueSlot(in.IssuedAt, in.Now)
	switch {
	case in.CanRetry && due > in.LastSlot:
		return DunningDecision{RetrySlot: due}
	case in.CanRetry && in.LastSlot == DunningRetries && in.LastSlotFailed:
		return DunningDecision{Overdue: true}
	case !in.CanRetry && due == DunningRetries:
		return DunningDecision{Overdue: true}
	}
	return DunningDecision{}
}
