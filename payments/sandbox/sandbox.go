// Package sandbox is the payment processor the engine uses when no Stripe
// or PayPal keys are set: it behaves like Stripe's test mode, keyed by
// payment method id (SPEC §4), and keeps its own books in sandbox_charges,
// one row per idempotency key, so that a charge can never be taken twice
// and a duplicate would be visible to audit.
//
// It stands for a system outside the engine: it commits its charges in its
// own transactions, never in the caller's.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// Name is the processor name recorded on attempts.
const Name = "sandbox"

// Test payment methods (Stripe's test ids).
const (
	CardVisa                      = "pm_card_visa"
	CardDeclined                  = "pm_card_chargeDeclined"
	CardDeclinedInsufficientFunds = "pm_card_chargeDeclinedInsufficientFunds"
	SEPASuccess                   = "pm_sepa_debit_success"
	SEPAFail                      = "pm_sepa_debit_fail"
)

// declines maps the test cards that decline to their decline code.
var declines = map[string]string{
	CardDeclined:                            "generic_decline",
	CardDeclinedInsufficientFunds:           "insufficient_funds",
	"pm_card_chargeDeclinedExpiredCard":     "expired_card",
	"pm_card_chargeDeclinedLostCard":        "lost_card",
	"pm_card_chargeDeclinedStolenCard":      "stolen_card",
	"pm_card_chargeDeclinedIncorrectCvc":    "incorrect_cvc",
	"pm_card_chargeDeclinedProcessingError": "processing_error",
}

// Processor is the sandbox processor.
type Processor struct {
	Pool pgdb.DB
}

var _ payments.Processor = (*Processor)(nil)

func (p *Processor) Name() string { return Name }

// behaviour is what a payment method does when charged.
func behaviour(m payments.Method) (payments.Outcome, string) {
	switch {
	case m.Type == payments.MethodCard && declines[m.ID] != "":
		return payments.OutcomeDeclined, declines[m.ID]
	case m.Type == payments.MethodCard && strings.HasPrefix(m.ID, "pm_card_"):
		return payments.OutcomeSucceeded, ""
	case m.Type == payments.MethodSEPADebit && strings.HasPrefix(m.ID, "pm_sepa_debit"):
		return payments.OutcomeProcessing, ""
	default:
		return payments.OutcomeDeclined, "resource_missing"
	}
}

// ErrIdempotencyMismatch is returned when a key is reused with another
// amount or payment method, as Stripe refuses it.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with different parameters")

// Charge takes the payment once per idempotency key: a repeated request
// returns the first answer.
func (p *Processor) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	outcome, code := behaviour(req.Method)
	var res payments.ChargeResult
	var amount decimal.Decimal
	var pm string
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO sandbox_charges (idempotency_key, reference, payment_method_id, amount, outcome, code)
			VALUES ($1, 'sbx_' || md5($1), $2, $3, $4, $5)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			req.IdempotencyKey, req.Method.ID, req.Amount, outcome, code); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT reference, payment_method_id, amount, outcome, code FROM sandbox_charges WHERE idempotency_key = $1`,
			req.IdempotencyKey).Scan(&res.Reference, &pm, &amount, &res.Outcome, &res.Code)
	})
	if err != nil {
		return payments.ChargeResult{}, &payments.TechnicalError{Op: "sandbox charge", Reached: true, Err: err}
	}
	if pm != req.Method.ID || !amount.Equal(req.Amount) {
		return payments.ChargeResult{}, fmt.Errorf("%w: %s", ErrIdempotencyMismatch, req.IdempotencyKey)
	}
	return res, nil
}

var _ payments.Looker = (*Processor)(nil)

// Lookup reads the charge taken for the request's key, if any, as Stripe
// lists a customer's PaymentIntents: what a reconciliation asks before
// resending an attempt whose answer was lost. A SEPA debit is answered as
// accepted (processing); its settlement follows as for any other.
func (p *Processor) Lookup(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, bool, error) {
	var res payments.ChargeResult
	var amount decimal.Decimal
	var pm string
	err := p.Pool.QueryRow(ctx, `SELECT reference, payment_method_id, amount, outcome, code FROM sandbox_charges WHERE idempotency_key = $1`,
		req.IdempotencyKey).Scan(&res.Reference, &pm, &amount, &res.Outcome, &res.Code)
	if errors.Is(err, pgx.ErrNoRows) {
		return payments.ChargeResult{}, false, nil
	}
	if err != nil {
		return payments.ChargeResult{}, false, &payments.TechnicalError{Op: "sandbox lookup", Reached: true, Err: err}
	}
	if pm != req.Method.ID || !amount.Equal(req.Amount) {
		return payments.ChargeResult{}, false, fmt.Errorf("%w: %s", ErrIdempotencyMismatch, req.IdempotencyKey)
	}
	if res.Outcome == payments.OutcomeProcessing {
		res.Code = "" // a failed settlement's code belongs to the settlement
	}
	return res, true, nil
}

var _ payments.BatchProcessor = (*Processor)(nil)

// ChargeMany is Charge for many requests, in one transaction: the sandbox
// answers a batch as fast as the database takes one statement.
func (p *Processor) ChargeMany(ctx context.Context, reqs []payments.ChargeRequest) ([]payments.ChargeResult, []error) {
	n := len(reqs)
	keys, pms, outcomes, codes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts := make([]decimal.Decimal, n)
	for i, r := range reqs {
		o, c := behaviour(r.Method)
		keys[i], pms[i], outcomes[i], codes[i], amounts[i] = r.IdempotencyKey, r.Method.ID, string(o), c, r.Amount
	}
	type stored struct {
		res    payments.ChargeResult
		pm     string
		amount decimal.Decimal
	}
	got := make(map[string]stored, n)
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO sandbox_charges (idempotency_key, reference, payment_method_id, amount, outcome, code)
			SELECT k, 'sbx_' || md5(k), pm, amount, outcome, code
			FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::text[]) AS u(k, pm, amount, outcome, code)
			ON CONFLICT (idempotency_key) DO NOTHING`, keys, pms, amounts, outcomes, codes); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT idempotency_key, reference, payment_method_id, amount, outcome, code FROM sandbox_charges WHERE idempotency_key = ANY($1)`, keys)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var st stored
			if err := rows.Scan(&k, &st.res.Reference, &st.pm, &st.amount, &st.res.Outcome, &st.res.Code); err != nil {
				return err
			}
			got[k] = st
		}
		return rows.Err()
	})
	results, errs := make([]payments.ChargeResult, n), make([]error, n)
	for i, r := range reqs {
		st, ok := got[r.IdempotencyKey]
		switch {
		case err != nil:
			errs[i] = &payments.TechnicalError{Op: "sandbox charge", Reached: true, Err: err}
		case !ok:
			errs[i] = &payments.TechnicalError{Op: "sandbox charge", Reached: true, Err: fmt.Errorf("charge %s not stored", r.IdempotencyKey)}
		case st.pm != r.Method.ID || !st.amount.Equal(r.Amount):
			errs[i] = fmt.Errorf("%w: %s", ErrIdempotencyMismatch, r.IdempotencyKey)
		default:
			results[i] = st.res
		}
	}
	return results, errs
}

var _ payments.Settler = (*Processor)(nil)

// Settle is the sandbox's stand-in for a processor's settlement webhook
// (SettleMany), run by the workers' settlement job SANDBOX_SEPA_DELAY after
// the debits were accepted.
func (p *Processor) Settle(ctx context.Context, tx pgx.Tx, references []string) ([]payments.Settlement, error) {
	return SettleMany(ctx, tx, references)
}

// SettleMany settles many processing SEPA charges in two statements, as
// Settle settles one.
func SettleMany(ctx context.Context, tx pgx.Tx, references []string) ([]payments.Settlement, error) {
	if _, err := tx.Exec(ctx, `
		UPDATE sandbox_charges
		SET settled_outcome = CASE WHEN payment_method_id = $2 THEN 'failed' ELSE 'succeeded' END,
		    code = CASE WHEN payment_method_id = $2 THEN 'debit_failed' ELSE '' END, settled_at = now()
		WHERE reference = ANY($1) AND settled_outcome IS NULL`, references, SEPAFail); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT reference, idempotency_key, settled_outcome, code FROM sandbox_charges WHERE reference = ANY($1)`, references)
	if err != nil {
		return nil, err
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.Settlement, error) {
		var s payments.Settlement
		return s, r.Scan(&s.Reference, &s.Key, &s.Outcome, &s.Code)
	})
	if err != nil {
		return nil, err
	}
	if len(got) != len(references) {
		return nil, fmt.Errorf("settling %d sandbox charges: %d found", len(references), len(got))
	}
	return got, nil
}

// Settle decides a processing SEPA charge, once: pm_sepa_debit_fail fails,
// the others succeed. It returns the outcome and the key of the charge.
func Settle(ctx context.Context, tx pgx.Tx, reference string) (outcome payments.Outcome, code, key string, err error) {
	var pm string
	var settled *string
	err = tx.QueryRow(ctx, `SELECT idempotency_key, payment_method_id, settled_outcome, code FROM sandbox_charges WHERE reference = $1 FOR UPDATE`, reference).
		Scan(&key, &pm, &settled, &code)
	if err != nil {
		return "", "", "", fmt.Errorf("sandbox charge %s: %w", reference, err)
	}
	if settled != nil {
		return payments.Outcome(*settled), code, key, nil
	}
	outcome, code = payments.OutcomeSucceeded, ""
	if pm == SEPAFail {
		outcome, code = payments.OutcomeFailed, "debit_failed"
	}
	_, err = tx.Exec(ctx, `UPDATE sandbox_charges SET settled_outcome = $2, code = $3, settled_at = now() WHERE reference = $1`, reference, outcome, code)
	return outcome, code, key, err
}
