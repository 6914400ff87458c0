package payments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// ErrInvoiceNotFound is returned when collecting an unknown invoice number.
var ErrInvoiceNotFound = errors.New("invoice not found")

// Attempt is a call to a processor to collect an invoice.
type Attempt struct {
	ID             int64
	InvoiceID      int64
	InvoiceNumber  string
	AccountID      string
	Attempt        int
	IdempotencyKey string
	Processor      string
	Method         Method
	MandateID      string
	Amount         decimal.Decimal
	State          string
	CreatedAt      time.Time
	// Resumed: the attempt was created by an earlier try whose outcome is
	// unknown.
	Resumed bool
}

// Request is the processor request of the attempt.
func (a *Attempt) Request() ChargeRequest {
	return ChargeRequest{
		IdempotencyKey: a.IdempotencyKey, InvoiceNumber: a.InvoiceNumber, Attempt: a.Attempt,
		AccountID: a.AccountID, Amount: a.Amount, Currency: "EUR", Method: a.Method, MandateID: a.MandateID,
		Resend: a.Resumed, AttemptedAt: a.CreatedAt,
	}
}

// Plan is what a collection has to do after its first transaction.
type Plan struct {
	InvoiceNumber string
	AccountID     string
	// Err is set when this invoice can't be collected at all (unknown, a
	// draft); the rest of a batch goes on.
	Err error
	// Done: nothing to send to a processor now; Reason says why.
	Done   bool
	Reason string
	// Attempt to send when not Done: new, or a pending one whose outcome is
	// unknown (resent with the same key).
	Attempt *Attempt
	// CreditApplied is the prepaid credit this collection used.
	CreditApplied decimal.Decimal
	// Effects is what preparing this invoice's collection implies: the
	// timeline events of the credit it applied (and of the payment, when
	// credit paid it all). The caller applies it (jobs.Enqueue) in tx;
	// the plans' effects, in order, are the batch's.
	Effects billing.Effects
}

// Reasons a collection has nothing to charge.
const (
	ReasonSlotDone        = "dunning_retry_done"
	ReasonPaid            = "paid"
	ReasonVoid            = "void"
	ReasonProcessing      = "processing"
	ReasonPaidByCredit    = "paid_by_credit"
	ReasonNoPaymentMethod = "no_payment_method"
)

// CollectRequest asks for one invoice to be collected. Slot > 0 makes it
// the dunning retry of that slot: made at most once, however many times it
// is asked for.
type CollectRequest struct {
	Number string
	Slot   int
}

// PrepareCollection is PrepareCollections for one invoice; an invoice that
// can't be collected is an error.
func PrepareCollection(ctx context.Context, tx pgx.Tx, number, processor string, now time.Time, slot int) (*Plan, error) {
	plans, err := PrepareCollections(ctx, tx, []CollectRequest{{Number: number, Slot: slot}}, processor, now)
	if err != nil {
		return nil, err
	}
	return plans[0], plans[0].Err
}

// PrepareCollections is the first step of collecting invoices (SPEC §4),
// in tx, with the invoices locked (in id order) and then their accounts:
// prepaid credit first, then, for what is still due, an attempt on the
// account's payment method, recorded as pending before any processor sees
// it. The caller commits, sends the attempts, and records the answers with
// RecordCharges. An invoice with a pending attempt (an earlier try that
// crashed or timed out after sending it) gets that attempt back, to be
// resent with its own key: never a new one. It returns one plan per
// request, in order, and does the work of a whole batch in a dozen
// statements.
func PrepareCollections(ctx context.Context, tx pgx.Tx, reqs []CollectRequest, processor string, now time.Time) ([]*Plan, error) {
	numbers := make([]string, len(reqs))
	for i, r := range reqs {
		numbers[i] = r.Number
	}
	type invoiceRow struct {
		id                         int64
		number, accountID, status  string
		total, paid, creditApplied decimal.Decimal
		inFlight                   *Attempt
		lastAttempt                int
		slotsDone                  map[int]bool
	}
	rows, err := tx.Query(ctx, `
		SELECT id, number, account_id, status, coalesce(total, 0), amount_paid, credit_applied FROM invoices
		WHERE number = ANY($1) ORDER BY id FOR UPDATE`, numbers)
	if err != nil {
		return nil, err
	}
	byNumber := map[string]*invoiceRow{}
	var order []*invoiceRow
	for rows.Next() {
		r := &invoiceRow{slotsDone: map[int]bool{}}
		if err := rows.Scan(&r.id, &r.number, &r.accountID, &r.status, &r.total, &r.paid, &r.creditApplied); err != nil {
			rows.Close()
			return nil, err
		}
		byNumber[r.number] = r
		order = append(order, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids := make([]int64, len(order))
	byID := make(map[int64]*invoiceRow, len(order))
	for i, r := range order {
		ids[i], byID[r.id] = r.id, r
	}

	// Attempts so far: the one in flight, the last number, the slots done.
	rows, err = tx.Query(ctx, `
		SELECT id, invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, created_at, dunning_slot
		FROM payment_attempts WHERE invoice_id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	var resumed []*Attempt
	for rows.Next() {
		a := &Attempt{}
		var slot *int
		if err := rows.Scan(&a.ID, &a.InvoiceID, &a.Attempt, &a.IdempotencyKey, &a.Processor, &a.Method.Type, &a.Method.ID, &a.Amount,
			&a.State, &a.CreatedAt, &slot); err != nil {
			rows.Close()
			return nil, err
		}
		r := byID[a.InvoiceID]
		a.InvoiceNumber, a.AccountID = r.number, r.accountID
		r.lastAttempt = max(r.lastAttempt, a.Attempt)
		if slot != nil {
			r.slotsDone[*slot] = true
		}
		if a.State == "pending" || a.State == string(OutcomeProcessing) {
			r.inFlight = a
			resumed = append(resumed, a)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A resent SEPA debit needs the mandate it was made under.
	for _, a := range resumed {
		if a.Method.Type != MethodSEPADebit {
			continue
		}
		var mandate *string
		err := tx.QueryRow(ctx, `
			SELECT mandate_id FROM payment_methods WHERE account_id = $1 AND type = $2 AND external_id = $3 ORDER BY id DESC LIMIT 1`,
			a.AccountID, a.Method.Type, a.Method.ID).Scan(&mandate)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if mandate != nil {
			a.MandateID = *mandate
		}
	}

	plans := make([]*Plan, len(reqs))
	slotOf := map[*invoiceRow]int{}
	var needCredit []*invoiceRow
	var creditAccounts []string
	seenAccount := map[string]bool{}
	planFor := map[*invoiceRow]*Plan{}
	for i, req := range reqs {
		r := byNumber[req.Number]
		p := &Plan{InvoiceNumber: req.Number}
		plans[i] = p
		if r == nil {
			p.Err = fmt.Errorf("%w: %s", ErrInvoiceNotFound, req.Number)
			continue
		}
		p.AccountID = r.accountID
		if planFor[r] != nil {
			// Asked twice in one batch: the first request decides.
			p.Done, p.Reason = true, ReasonProcessing
			continue
		}
		planFor[r] = p
		slotOf[r] = req.Slot
		switch {
		case r.status == "draft":
			p.Err = fmt.Errorf("invoice %s is a draft", r.number)
		case r.status == "paid":
			p.Done, p.Reason = true, ReasonPaid
		case r.status == "void":
			// Nothing new is charged on a void invoice, but an attempt whose
			// outcome is unknown is still resent to learn it: money it took
			// goes to prepaid credit (see decide).
			if r.inFlight != nil && r.inFlight.State == "pending" {
				r.inFlight.Resumed = true
				p.Attempt = r.inFlight
			} else {
				p.Done, p.Reason = true, ReasonVoid
			}
		case r.inFlight != nil && r.inFlight.State == string(OutcomeProcessing):
			p.Done, p.Reason = true, ReasonProcessing
		case r.inFlight != nil:
			r.inFlight.Resumed = true
			p.Attempt = r.inFlight
		case req.Slot > 0 && r.slotsDone[req.Slot]:
			p.Done, p.Reason = true, ReasonSlotDone
		default:
			needCredit = append(needCredit, r)
			if !seenAccount[r.accountID] {
				seenAccount[r.accountID] = true
				creditAccounts = append(creditAccounts, r.accountID)
			}
		}
	}
	if len(needCredit) == 0 {
		return plans, nil
	}

	// Credit, then payment methods, of the accounts still to collect from.
	balances, err := lockBalances(ctx, tx, creditAccounts)
	if err != nil {
		return nil, err
	}
	type method struct {
		Method
		mandate *string
	}
	methods := map[string]method{}
	rows, err = tx.Query(ctx, `SELECT account_id, type, external_id, mandate_id FROM payment_methods WHERE account_id = ANY($1) AND replaced_at IS NULL`, creditAccounts)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var m method
		if err := rows.Scan(&id, &m.Type, &m.ID, &m.mandate); err != nil {
			rows.Close()
			return nil, err
		}
		methods[id] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var ledger ledgerRows
	var invIDs []int64
	var invCredit []decimal.Decimal
	var invPaid []bool
	var newAttempts []*Attempt
	var slots []*int
	at := now.UTC().Truncate(time.Microsecond)
	for _, r := range needCredit {
		p := planFor[r]
		due := r.total.Sub(r.paid)
		if due.IsPositive() {
			if take := decimal.Min(balances[r.accountID], due); take.IsPositive() {
				// The reference names the credit the invoice had before:
				// unique per application, and the same on a replay.
				after := balances[r.accountID].Sub(take)
				balances[r.accountID] = after
				id := r.id
				ledger.add(r.accountID, EntryInvoicePayment, take.Neg(), after,
					fmt.Sprintf("invoice_payment:%s:%s", r.number, billing.FormatMoney(r.creditApplied)), &id)
				p.CreditApplied = take
				due = due.Sub(take)
				p.Effects.Timeline = append(p.Effects.Timeline, billing.TimelineEvent{AccountID: r.accountID, At: now, Kind: billing.TimelineCreditApplied, InvoiceID: &id,
					Data: map[string]any{"number": r.number, "amount": billing.FormatMoney(take)}})
				p.Effects.At = now
			}
		}
		paid := !due.IsPositive()
		if p.CreditApplied.IsPositive() || paid {
			invIDs, invCredit, invPaid = append(invIDs, r.id), append(invCredit, p.CreditApplied), append(invPaid, paid)
		}
		if paid {
			id := r.id
			p.Effects.Timeline = append(p.Effects.Timeline, billing.TimelineEvent{AccountID: r.accountID, At: now, Kind: billing.TimelinePaymentSucceeded, InvoiceID: &id,
				Data: map[string]any{"number": r.number, "method": "credit", "amount": billing.FormatMoney(p.CreditApplied)}})
			p.Effects.Events = append(p.Effects.Events, billing.Event{Type: billing.EventInvoicePaid, AccountID: r.accountID, At: now, InvoiceID: &id})
			p.Effects.At = now
			p.Done, p.Reason = true, ReasonPaidByCredit
			continue
		}
		m, ok := methods[r.accountID]
		if !ok {
			p.Done, p.Reason = true, ReasonNoPaymentMethod
			continue
		}
		a := &Attempt{InvoiceID: r.id, InvoiceNumber: r.number, AccountID: r.accountID, Processor: processor,
			Method: m.Method, Amount: due, State: "pending", CreatedAt: at, Attempt: r.lastAttempt + 1}
		if m.mandate != nil {
			a.MandateID = *m.mandate
		}
		a.IdempotencyKey = AttemptKey(r.number, a.Attempt)
		var slot *int
		if s := slotOf[r]; s > 0 {
			slot = &s
		}
		newAttempts, slots = append(newAttempts, a), append(slots, slot)
		p.Attempt = a
	}

	if err := ledger.insert(ctx, tx); err != nil {
		return nil, err
	}
	if len(invIDs) > 0 {
		if _, err := tx.Exec(ctx, `
			UPDATE invoices i SET credit_applied = i.credit_applied + u.credit, amount_paid = i.amount_paid + u.credit,
			       status = CASE WHEN u.paid THEN 'paid' ELSE i.status END
			FROM unnest($1::bigint[], $2::numeric[], $3::bool[]) AS u(id, credit, paid) WHERE i.id = u.id`,
			invIDs, invCredit, invPaid); err != nil {
			return nil, err
		}
	}
	if len(newAttempts) > 0 {
		n := len(newAttempts)
		invoiceIDs, attemptNos := make([]int64, n), make([]int32, n)
		keys, methodTypes, methodIDs := make([]string, n), make([]string, n), make([]string, n)
		amounts := make([]decimal.Decimal, n)
		for i, a := range newAttempts {
			invoiceIDs[i], attemptNos[i], keys[i] = a.InvoiceID, int32(a.Attempt), a.IdempotencyKey
			methodTypes[i], methodIDs[i], amounts[i] = string(a.Method.Type), a.Method.ID, a.Amount
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, created_at, dunning_slot)
			SELECT u.invoice_id, u.attempt, u.key, $4, u.method, u.pm, u.amount, $5, u.slot
			FROM unnest($1::bigint[], $2::int[], $3::text[], $6::text[], $7::text[], $8::numeric[], $9::int[])
			     WITH ORDINALITY AS u(invoice_id, attempt, key, method, pm, amount, slot, n)
			ORDER BY u.n
			RETURNING id`, invoiceIDs, attemptNos, keys, processor, at, methodTypes, methodIDs, amounts, slots)
		if err != nil {
			return nil, err
		}
		attemptIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		if len(attemptIDs) != n {
			return nil, fmt.Errorf("recorded %d attempts of %d", len(attemptIDs), n)
		}
		// RETURNING follows the insertion order, which follows u.n.
		for i, a := range newAttempts {
			a.ID = attemptIDs[i]
		}
	}
	return plans, nil
}

// ledgerRows are credit ledger entries written in one statement, in order
// (their balances chain).
type ledgerRows struct {
	accounts, kinds, refs []string
	amounts, after        []decimal.Decimal
	invoices              []*int64
}

func (l *ledgerRows) add(account string, kind EntryKind, amount, after decimal.Decimal, ref string, invoiceID *int64) {
	l.accounts, l.kinds, l.refs = append(l.accounts, account), append(l.kinds, string(kind)), append(l.refs, ref)
	l.amounts, l.after, l.invoices = append(l.amounts, amount), append(l.after, after), append(l.invoices, invoiceID)
}

// insert writes the entries and sets each account's balance to its last
// entry's balance_after. The accounts must be locked by the caller.
func (l *ledgerRows) insert(ctx context.Context, tx pgx.Tx) error {
	if len(l.accounts) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, invoice_id)
		SELECT u.account_id, u.kind, u.amount, u.after, u.ref, u.invoice_id
		FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::text[], $6::bigint[])
		     WITH ORDINALITY AS u(account_id, kind, amount, after, ref, invoice_id, n)
		ORDER BY u.n`, l.accounts, l.kinds, l.amounts, l.after, l.refs, l.invoices); err != nil {
		return err
	}
	last := map[string]decimal.Decimal{}
	for i, a := range l.accounts {
		last[a] = l.after[i]
	}
	ids := make([]string, 0, len(last))
	balances := make([]decimal.Decimal, 0, len(last))
	for a, b := range last {
		ids, balances = append(ids, a), append(balances, b)
	}
	_, err := tx.Exec(ctx, `
		UPDATE accounts a SET credit_balance = u.balance
		FROM unnest($1::text[], $2::numeric[]) AS u(id, balance) WHERE a.id = u.id`, ids, balances)
	return err
}

// PendingAttempts returns the attempts among keys whose outcome is still
// unknown (pending), with the mandate a SEPA debit was made under, marked
// Resumed: reconciliation looks each up with its processor by key and
// records the answer with RecordCharges, which ignores an attempt decided
// meanwhile.
func PendingAttempts(ctx context.Context, tx pgx.Tx, keys []string) ([]*Attempt, error) {
	rows, err := tx.Query(ctx, `
		SELECT pa.id, pa.invoice_id, i.number, i.account_id, pa.attempt, pa.idempotency_key, pa.processor,
		       pa.method, pa.payment_method_id, pa.amount, pa.state, pa.created_at,
		       (SELECT pm.mandate_id FROM payment_methods pm
		        WHERE pm.account_id = i.account_id AND pm.type = pa.method AND pm.external_id = pa.payment_method_id
		        ORDER BY pm.id DESC LIMIT 1)
		FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
		WHERE pa.idempotency_key = ANY($1) AND pa.state = 'pending'
		ORDER BY pa.id`, keys)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Attempt, error) {
		a := &Attempt{Resumed: true}
		var mandate *string
		err := r.Scan(&a.ID, &a.InvoiceID, &a.InvoiceNumber, &a.AccountID, &a.Attempt, &a.IdempotencyKey, &a.Processor,
			&a.Method.Type, &a.Method.ID, &a.Amount, &a.State, &a.CreatedAt, &mandate)
		if mandate != nil && a.Method.Type == MethodSEPADebit {
			a.MandateID = *mandate
		}
		return a, err
	})
}

// AttemptKey is the idempotency key of an invoice's attempt number n.
func AttemptKey(number string, n int) string { return fmt.Sprintf("%s-attempt-%d", number, n) }

// Recorded is what RecordCharge or Settle did.
type Recorded struct {
	Attempt *Attempt
	Outcome Outcome
	Code    string
	// Status is the invoice's status afterwards.
	Status string
	// Already: the outcome was recorded before; nothing changed.
	Already bool
	// Refunded: the charge succeeded on an invoice voided meanwhile, and
	// its amount went to the account's prepaid credit.
	Refunded bool
	// Reference is the processor's id for the payment, as answered.
	Reference string
	// CreditApplied is prepaid credit that paid the invoice, or part of
	// it, once this attempt was declined or failed: credit added while the
	// payment was in flight could not be used then (see decide).
	CreditApplied decimal.Decimal
	// Effects is what recording this one outcome implies (its timeline
	// events; for a late refund, the collection of the account's open
	// invoices), set by RecordCharge and Settle: the caller applies it
	// (jobs.Enqueue, jobs.AfterOutcome) in tx. RecordCharges and
	// SettleMany return their batch's effects instead.
	Effects billing.Effects
}

// Charged is a processor's answer to one attempt.
type Charged struct {
	AttemptID int64
	Result    ChargeResult
}

// RecordCharge is RecordCharges for one attempt.
func RecordCharge(ctx context.Context, tx pgx.Tx, attemptID int64, res ChargeResult, now time.Time) (*Recorded, error) {
	recs, e, err := RecordCharges(ctx, tx, []Charged{{attemptID, res}}, now)
	if err != nil {
		return nil, err
	}
	recs[0].Effects = e
	return recs[0], nil
}

// RecordCharges stores processors' answers to pending attempts and moves
// their invoices accordingly, in tx: succeeded adds to amount_paid (paid
// when nothing is due), processing marks the invoice processing, declined
// leaves it open. An attempt that is no longer pending is left alone
// (Already). One Recorded per answer, in order, and what the batch
// implies (its timeline events, the collections a late refund triggers),
// for the caller to apply in tx (jobs.Enqueue).
func RecordCharges(ctx context.Context, tx pgx.Tx, charged []Charged, now time.Time) ([]*Recorded, billing.Effects, error) {
	ids := make([]int64, len(charged))
	for i, c := range charged {
		switch c.Result.Outcome {
		case OutcomeSucceeded, OutcomeDeclined, OutcomeProcessing, OutcomeFailed:
		default:
			return nil, billing.Effects{}, fmt.Errorf("attempt %d: unknown outcome %q", c.AttemptID, c.Result.Outcome)
		}
		ids[i] = c.AttemptID
	}
	attempts, invoices, err := lockAttempts(ctx, tx, `pa.id = ANY($1)`, ids)
	if err != nil {
		return nil, billing.Effects{}, err
	}
	recs := make([]*Recorded, len(charged))
	var todo []decision
	for i, c := range charged {
		a := attempts[c.AttemptID]
		if a == nil {
			return nil, billing.Effects{}, fmt.Errorf("%w: attempt %d", ErrAttemptNotFound, c.AttemptID)
		}
		recs[i] = &Recorded{Attempt: a, Outcome: Outcome(a.State), Status: invoices[a.InvoiceID].status}
		if a.State != "pending" {
			recs[i].Already = true
			continue
		}
		a.State = "decided" // a repeated id in one batch is decided once
		todo = append(todo, decision{rec: recs[i], outcome: c.Result.Outcome, code: c.Result.Code, reference: c.Result.Reference})
	}
	e, err := decide(ctx, tx, invoices, todo, now)
	return recs, e, err
}

// Settle records how a processing attempt (a SEPA debit) ended, found by
// the processor's reference or by its idempotency key. A settlement that
// arrives before the attempt was recorded as processing settles it from
// pending; one that arrives twice changes nothing the second time.
func Settle(ctx context.Context, tx pgx.Tx, processor, reference, key string, outcome Outcome, code string, now time.Time) (*Recorded, error) {
	recs, e, err := SettleMany(ctx, tx, processor, []Settlement{{Reference: reference, Key: key, Outcome: outcome, Code: code}}, now)
	if err != nil {
		return nil, err
	}
	recs[0].Effects = e
	return recs[0], nil
}

// Settlement is how one processing attempt ended.
type Settlement struct {
	Reference, Key string
	Outcome        Outcome
	Code           string
}

// SettleMany is Settle for many attempts, in a few statements. It returns
// the batch's effects as RecordCharges does.
func SettleMany(ctx context.Context, tx pgx.Tx, processor string, items []Settlement, now time.Time) ([]*Recorded, billing.Effects, error) {
	refs, keys := make([]string, len(items)), make([]string, len(items))
	for i, it := range items {
		if it.Outcome != OutcomeSucceeded && it.Outcome != OutcomeFailed {
			return nil, billing.Effects{}, fmt.Errorf("settlement outcome must be succeeded or failed, got %q", it.Outcome)
		}
		refs[i], keys[i] = it.Reference, it.Key
	}
	attempts, invoices, err := lockAttempts(ctx, tx, `pa.processor = $1 AND (pa.processor_ref = ANY($2) OR pa.idempotency_key = ANY($3))`, processor, refs, keys)
	if err != nil {
		return nil, billing.Effects{}, err
	}
	byRef, byKey := map[string]*Attempt{}, map[string]*Attempt{}
	for _, a := range attempts {
		byKey[a.IdempotencyKey] = a
	}
	rows, err := tx.Query(ctx, `SELECT id, processor_ref FROM payment_attempts WHERE processor = $1 AND processor_ref = ANY($2)`, processor, refs)
	if err != nil {
		return nil, billing.Effects{}, err
	}
	for rows.Next() {
		var id int64
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			rows.Close()
			return nil, billing.Effects{}, err
		}
		byRef[ref] = attempts[id]
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, billing.Effects{}, err
	}
	recs := make([]*Recorded, len(items))
	var todo []decision
	for i, it := range items {
		a := byRef[it.Reference]
		if a == nil {
			a = byKey[it.Key]
		}
		if a == nil {
			return nil, billing.Effects{}, fmt.Errorf("%w: %s %s %s", ErrAttemptNotFound, processor, it.Reference, it.Key)
		}
		recs[i] = &Recorded{Attempt: a, Outcome: Outcome(a.State), Status: invoices[a.InvoiceID].status}
		if a.State != "pending" && a.State != "processing" {
			recs[i].Already = true
			continue
		}
		a.State = "decided" // settled once, even if listed twice
		todo = append(todo, decision{rec: recs[i], outcome: it.Outcome, code: it.Code, reference: it.Reference})
	}
	e, err := decide(ctx, tx, invoices, todo, now)
	return recs, e, err
}

// ErrAttemptNotFound is returned by Settle for a payment the engine doesn't know.
var ErrAttemptNotFound = errors.New("payment attempt not found")

type lockedInvoice struct {
	number, accountID          string
	status                     string
	total, paid, creditApplied decimal.Decimal
}

// lockAttempts locks the attempts matching where and their invoices, the
// invoices first (in id order), as PrepareCollections does, so the two
// never deadlock.
func lockAttempts(ctx context.Context, tx pgx.Tx, where string, args ...any) (map[int64]*Attempt, map[int64]*lockedInvoice, error) {
	rows, err := tx.Query(ctx, `
		SELECT i.id, i.number, i.account_id, i.status, coalesce(i.total, 0), i.amount_paid, i.credit_applied FROM invoices i
		WHERE i.id IN (SELECT pa.invoice_id FROM payment_attempts pa WHERE `+where+`)
		ORDER BY i.id FOR UPDATE OF i`, args...)
	if err != nil {
		return nil, nil, err
	}
	invoices := map[int64]*lockedInvoice{}
	for rows.Next() {
		var id int64
		inv := &lockedInvoice{}
		if err := rows.Scan(&id, &inv.number, &inv.accountID, &inv.status, &inv.total, &inv.paid, &inv.creditApplied); err != nil {
			rows.Close()
			return nil, nil, err
		}
		invoices[id] = inv
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT pa.id, pa.invoice_id, i.number, i.account_id, pa.attempt, pa.idempotency_key, pa.processor,
		       pa.method, pa.payment_method_id, pa.amount, pa.state, pa.created_at
		FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
		WHERE `+where+` ORDER BY pa.id FOR UPDATE OF pa`, args...)
	if err != nil {
		return nil, nil, err
	}
	attempts := map[int64]*Attempt{}
	for rows.Next() {
		a := &Attempt{}
		if err := rows.Scan(&a.ID, &a.InvoiceID, &a.InvoiceNumber, &a.AccountID, &a.Attempt, &a.IdempotencyKey, &a.Processor,
			&a.Method.Type, &a.Method.ID, &a.Amount, &a.State, &a.CreatedAt); err != nil {
			rows.Close()
			return nil, nil, err
		}
		attempts[a.ID] = a
	}
	rows.Close()
	return attempts, invoices, rows.Err()
}

// decision is an outcome to record for one attempt.
type decision struct {
	rec       *Recorded
	outcome   Outcome
	code      string
	reference string
}

// decide moves the attempts to their outcomes and their invoices with
// them, with the invoices locked by the caller. It returns what follows:
// the timeline events (late refunds first, then the outcomes, then credit
// applied after a failure) and the collections late refunds trigger.
func decide(ctx context.Context, tx pgx.Tx, invoices map[int64]*lockedInvoice, todo []decision, now time.Time) (billing.Effects, error) {
	var e billing.Effects
	if len(todo) == 0 {
		return e, nil
	}
	n := len(todo)
	attemptIDs, states, codes := make([]int64, n), make([]string, n), make([]string, n)
	refs := make([]*string, n)
	settled := make([]bool, n)
	changed := map[int64]bool{}
	var events []billing.TimelineEvent
	var refunds []*Attempt
	for i, d := range todo {
		a := d.rec.Attempt
		inv := invoices[a.InvoiceID]
		attemptIDs[i], states[i], codes[i] = a.ID, string(d.outcome), d.code
		if d.reference != "" {
			r := d.reference
			refs[i] = &r
		}
		settled[i] = d.outcome == OutcomeSucceeded || d.outcome == OutcomeFailed
		switch d.outcome {
		case OutcomeSucceeded:
			// A void invoice keeps counting what was paid on it (amount_paid
			// = credit applied + charges), and the money goes to credit.
			inv.paid = inv.paid.Add(a.Amount)
			switch {
			case inv.status == "void":
				refunds = append(refunds, a)
				d.rec.Refunded = true
			case inv.paid.Equal(inv.total):
				inv.status = "paid"
			case inv.status == "processing":
				inv.status = "open"
			}
		case OutcomeProcessing:
			if inv.status != "void" {
				inv.status = "processing"
			}
		default: // declined, failed
			if inv.status == "processing" {
				inv.status = "open"
			}
		}
		changed[a.InvoiceID] = true
		d.rec.Outcome, d.rec.Code, d.rec.Reference = d.outcome, d.code, d.reference
		kind := map[Outcome]billing.TimelineKind{
			OutcomeSucceeded: billing.TimelinePaymentSucceeded, OutcomeDeclined: billing.TimelinePaymentDeclined,
			OutcomeProcessing: billing.TimelinePaymentPending, OutcomeFailed: billing.TimelinePaymentFailed,
		}[d.outcome]
		invID := a.InvoiceID
		events = append(events, billing.TimelineEvent{AccountID: a.AccountID, At: now, Kind: kind, InvoiceID: &invID,
			Data: map[string]any{"number": a.InvoiceNumber, "attempt": a.Attempt, "method": string(a.Method.Type),
				"amount": billing.FormatMoney(a.Amount), "code": d.code}})
	}
	credit, creditPaid, err := creditAfterFailure(ctx, tx, invoices, todo, now)
	if err != nil {
		return e, err
	}
	events = append(events, credit...)
	// The events other services see: an attempt's failure, or its
	// invoice paid in full; then what credit paid after a failure.
	paidSeen := map[int64]bool{}
	for _, d := range todo {
		a := d.rec.Attempt
		invID := a.InvoiceID
		switch d.outcome {
		case OutcomeDeclined, OutcomeFailed:
			e.Events = append(e.Events, billing.Event{Type: billing.EventInvoicePaymentFailed, AccountID: a.AccountID, At: now, InvoiceID: &invID,
				Data: map[string]any{"attempt": a.Attempt, "code": d.code}})
		case OutcomeSucceeded:
			if inv := invoices[invID]; inv.status == "paid" && !paidSeen[invID] {
				paidSeen[invID] = true
				e.Events = append(e.Events, billing.Event{Type: billing.EventInvoicePaid, AccountID: a.AccountID, At: now, InvoiceID: &invID})
			}
		default: // processing, pending: nothing other services act on yet
		}
	}
	e.Events = append(e.Events, creditPaid...)
	for _, d := range todo {
		d.rec.Status = invoices[d.rec.Attempt.InvoiceID].status
	}
	if _, err := tx.Exec(ctx, `
		UPDATE payment_attempts pa SET state = u.state, code = u.code, processor_ref = coalesce(u.ref, pa.processor_ref),
		    decided_at = coalesce(pa.decided_at, $6), settled_at = CASE WHEN u.settled AND pa.state = 'processing' THEN $6 END
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bool[]) AS u(id, state, code, ref, settled)
		WHERE pa.id = u.id`, attemptIDs, states, codes, refs, settled, now); err != nil {
		return e, err
	}
	invIDs := make([]int64, 0, len(changed))
	invStatus := make([]string, 0, len(changed))
	invPaid := make([]decimal.Decimal, 0, len(changed))
	invCredit := make([]decimal.Decimal, 0, len(changed))
	for id := range changed {
		inv := invoices[id]
		invIDs, invStatus, invPaid = append(invIDs, id), append(invStatus, inv.status), append(invPaid, inv.paid)
		invCredit = append(invCredit, inv.creditApplied)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE invoices i SET status = u.status, amount_paid = u.paid, credit_applied = u.credit
		FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::numeric[]) AS u(id, status, paid, credit) WHERE i.id = u.id`,
		invIDs, invStatus, invPaid, invCredit); err != nil {
		return e, err
	}
	for _, a := range refunds {
		ev, err := refundLate(ctx, tx, a, now)
		if err != nil {
			return e, err
		}
		// Paid after it was voided: the money is credit now, and credit
		// pays the account's open invoices (SPEC §5).
		e.Timeline = append(e.Timeline, ev)
		e.Events = append(e.Events, CreditAddedEvent(a.AccountID, now, a.Amount, EntryRefundToCredit, "late_payment:"+a.IdempotencyKey))
		e.CollectOpenInvoices = append(e.CollectOpenInvoices, a.AccountID)
	}
	e.Timeline = append(e.Timeline, events...)
	e.At = now
	return e, nil
}

// creditAfterFailure applies prepaid credit to the invoices left open by
// a declined or failed attempt, before anything counts them as overdue, in
// tx with the invoices locked: credit comes first (SPEC §4), but credit
// added while a payment was in flight could not be used then — the
// collection it triggered skipped the invoice (processing) or resent the
// attempt (pending) — and would otherwise sit unused while the account is
// suspended. The accounts are locked (after the invoices, as in
// PrepareCollections), so credit being added concurrently either is seen
// here or commits after this, when the invoice is open again and the
// collection the credit triggers applies it.
func creditAfterFailure(ctx context.Context, tx pgx.Tx, invoices map[int64]*lockedInvoice, todo []decision, now time.Time) ([]billing.TimelineEvent, []billing.Event, error) {
	var ids []int64
	seen := map[int64]bool{}
	var accountIDs []string
	seenAccount := map[string]bool{}
	for _, d := range todo {
		id := d.rec.Attempt.InvoiceID
		inv := invoices[id]
		if (d.outcome != OutcomeDeclined && d.outcome != OutcomeFailed) || inv.status != "open" || seen[id] || !inv.total.Sub(inv.paid).IsPositive() {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if !seenAccount[inv.accountID] {
			seenAccount[inv.accountID] = true
			accountIDs = append(accountIDs, inv.accountID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	slices.Sort(ids)
	balances, err := lockBalances(ctx, tx, accountIDs)
	if err != nil {
		return nil, nil, err
	}
	var ledger ledgerRows
	var events []billing.TimelineEvent
	var paidEvents []billing.Event
	applied := map[int64]decimal.Decimal{}
	for _, id := range ids {
		inv := invoices[id]
		take := decimal.Min(balances[inv.accountID], inv.total.Sub(inv.paid))
		if !take.IsPositive() {
			continue
		}
		after := balances[inv.accountID].Sub(take)
		balances[inv.accountID] = after
		invID := id
		// The same reference as PrepareCollections: unique per application.
		ledger.add(inv.accountID, EntryInvoicePayment, take.Neg(), after,
			fmt.Sprintf("invoice_payment:%s:%s", inv.number, billing.FormatMoney(inv.creditApplied)), &invID)
		inv.creditApplied = inv.creditApplied.Add(take)
		inv.paid = inv.paid.Add(take)
		applied[id] = take
		events = append(events, billing.TimelineEvent{AccountID: inv.accountID, At: now, Kind: billing.TimelineCreditApplied, InvoiceID: &invID,
			Data: map[string]any{"number": inv.number, "amount": billing.FormatMoney(take)}})
		if inv.paid.Equal(inv.total) {
			inv.status = "paid"
			events = append(events, billing.TimelineEvent{AccountID: inv.accountID, At: now, Kind: billing.TimelinePaymentSucceeded, InvoiceID: &invID,
				Data: map[string]any{"number": inv.number, "method": "credit", "amount": billing.FormatMoney(take)}})
			paidEvents = append(paidEvents, billing.Event{Type: billing.EventInvoicePaid, AccountID: inv.accountID, At: now, InvoiceID: &invID})
		}
	}
	if err := ledger.insert(ctx, tx); err != nil {
		return nil, nil, err
	}
	for _, d := range todo {
		if take, ok := applied[d.rec.Attempt.InvoiceID]; ok {
			d.rec.CreditApplied = take
			delete(applied, d.rec.Attempt.InvoiceID) // reported once per invoice
		}
	}
	return events, paidEvents, nil
}

// refundLate moves a payment that succeeded after its invoice was voided to
// the account's prepaid credit, and returns its timeline event.
func refundLate(ctx context.Context, tx pgx.Tx, a *Attempt, now time.Time) (billing.TimelineEvent, error) {
	invoiceID := a.InvoiceID
	ev := billing.TimelineEvent{AccountID: a.AccountID, At: now, Kind: billing.TimelineRefunded, InvoiceID: &invoiceID,
		Data: map[string]any{"number": a.InvoiceNumber, "attempt": a.Attempt, "amount": billing.FormatMoney(a.Amount)}}
	_, _, err := AddEntry(ctx, tx, NewEntry{AccountID: a.AccountID, Kind: EntryRefundToCredit, Amount: a.Amount,
		Reference: "late_payment:" + a.IdempotencyKey, InvoiceID: &invoiceID})
	return ev, err
}

// lockBalances locks the accounts' rows, in id order as every collection
// does (so two never deadlock), and returns their credit balances: what
// credit can pay is decided under the lock that credit added takes too.
func lockBalances(ctx context.Context, tx pgx.Tx, accountIDs []string) (map[string]decimal.Decimal, error) {
	rows, err := tx.Query(ctx, `SELECT id, credit_balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, accountIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	balances := map[string]decimal.Decimal{}
	for rows.Next() {
		var id string
		var b decimal.Decimal
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		balances[id] = b
	}
	return balances, rows.Err()
}
