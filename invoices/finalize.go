package invoices

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Finalized is a draft that became an invoice.
type Finalized struct {
	InvoiceID int64
	Number    string
	AccountID string
	Total     decimal.Decimal
	IssuedAt  time.Time
}

// CreditGrant is prepaid credit that a finalization earned an account. The
// caller writes it to the credit ledger in the same transaction; Reference
// makes it idempotent.
type CreditGrant struct {
	AccountID string
	Amount    decimal.Decimal
	Reference string
	InvoiceID *int64
}

// FinalizeResult says what one chunk of finalization did.
type FinalizeResult struct {
	Invoices []Finalized
	Credits  []CreditGrant
	// Effects is what the chunk implies beyond its rows: the invoices'
	// invoice_issued timeline events, in order. The caller applies it in
	// tx (jobs.Enqueue).
	Effects billing.Effects
	// Done: the run has no draft left and is now completed.
	Done bool
	// Busy: drafts remain, but another finalizer holds them all.
	Busy bool
}

// draft is a draft invoice being finalized.
type draft struct {
	id        int64
	accountID string
	subtotal  decimal.Decimal
	reversals []billing.Reversal
	referrals billing.AccountReferrals
	totals    billing.Totals
	number    string
}

type accountInfo struct {
	name, email, country string
	vatNumber            *string
	createdAt            time.Time
	referredBy           *string
}

// FinalizeChunk turns up to limit of the run's drafts into invoices, in
// account order, within tx (SPEC §3):
//
//   - referral rewards, decided by billing.AllocateReferrals as the dry run
//     decides them: an account's discount comes from its referees' invoices
//     of the period (drafts or rewards left pending for it), capped at its
//     subtotal; a referee whose referrer has no draft to discount credits
//     the referrer directly (returned as a CreditGrant), and so does what a
//     subtotal cannot absorb (the carry-over);
//   - VAT and totals with package billing;
//   - gapless numbers from the year's counter row, locked until commit, with
//     issue dates read after the lock so that numbers and dates agree.
//
// Drafts are taken FOR UPDATE SKIP LOCKED, so two finalizers of the same run
// (a rescued job running twice) share the work instead of doubling it.
func FinalizeChunk(ctx context.Context, tx pgx.Tx, cfg *Config, runID int64, limit int) (*FinalizeResult, error) {
	var period, zone string
	if err := tx.QueryRow(ctx, `SELECT period, time_zone FROM billing_runs WHERE id = $1`, runID).Scan(&period, &zone); err != nil {
		return nil, fmt.Errorf("run %d: %w", runID, err)
	}
	p, err := billing.ParsePeriod(period)
	if err != nil {
		return nil, err
	}
	// The run's zone, stored at its creation, not this worker's: referral
	// windows and the year of issue (the numbering series) are decided in
	// it, so that every chunk of a run agrees whichever worker finalizes it.
	loc, err := RunLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", runID, err)
	}
	runCfg := *cfg
	runCfg.Location = loc
	cfg = &runCfg

	rows, err := tx.Query(ctx, `
		SELECT id, account_id, subtotal
		FROM invoices
		WHERE run_id = $1 AND status = 'draft'
		ORDER BY account_id LIMIT $2 FOR UPDATE SKIP LOCKED`, runID, limit)
	if err != nil {
		return nil, err
	}
	drafts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*draft, error) {
		var d draft
		return &d, r.Scan(&d.id, &d.accountID, &d.subtotal)
	})
	if err != nil {
		return nil, err
	}
	res := &FinalizeResult{}
	if len(drafts) == 0 {
		return res, completeIfDone(ctx, tx, runID, res)
	}

	ids := make([]int64, len(drafts))
	accIDs := make([]string, len(drafts))
	byID := make(map[int64]*draft, len(drafts))
	byAccount := make(map[string]*draft, len(drafts))
	for i, d := range drafts {
		ids[i], accIDs[i] = d.id, d.accountID
		byID[d.id], byAccount[d.accountID] = d, d
	}
	accounts, err := loadAccounts(ctx, tx, accIDs)
	if err != nil {
		return nil, err
	}
	if err := loadChargedReversals(ctx, tx, byID, ids); err != nil {
		return nil, err
	}

	// Rewards these accounts earn as referrers: rewards left pending for
	// them, and referee drafts of the period that no reward covers yet.
	// Both are read in one statement, hence from one snapshot: a referee
	// finalized concurrently commits its draft's new status and its pending
	// reward together, so this sees either the draft or the reward, never
	// neither (read in two statements, a referee committing between them
	// left its reward pending forever). When it sees the draft, the reward
	// written below for it collides on referral_rewards.referee_invoice_id
	// with the one the referee's finalization wrote, and the chunk is
	// retried. The reversal charged on a referee's invoice is not its
	// referral base: its usage is.
	batch := billing.ReferralBatch{Period: p, Location: cfg.Location, Accounts: make([]billing.ReferralAccount, len(drafts))}
	rows, err = tx.Query(ctx, `
		WITH pending AS (
		    SELECT id, referrer_account_id, referee_account_id, referee_invoice_id, amount FROM referral_rewards
		    WHERE referrer_account_id = ANY($1) AND period = $2 AND state = 'pending'
		    FOR UPDATE)
		SELECT true, id, referrer_account_id, referee_account_id, referee_invoice_id, amount, NULL::timestamptz
		FROM pending
		UNION ALL
		SELECT false, NULL, ra.referred_by, i.account_id, i.id,
		       i.subtotal - coalesce((SELECT sum(v.amount - v.from_credit) FROM referral_reversals v WHERE v.charged_invoice_id = i.id), 0),
		       ra.created_at
		FROM invoices i JOIN accounts ra ON ra.id = i.account_id
		WHERE ra.referred_by = ANY($1) AND i.period = $2 AND i.status = 'draft'
		  AND NOT EXISTS (SELECT 1 FROM referral_rewards r WHERE r.referee_invoice_id = i.id)
		ORDER BY 1 DESC, 2, 5`, accIDs, period)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pending bool
		var id *int64
		var refInv int64
		var referrer, referee string
		var amount decimal.Decimal
		var created *time.Time
		if err := rows.Scan(&pending, &id, &referrer, &referee, &refInv, &amount, &created); err != nil {
			rows.Close()
			return nil, err
		}
		switch {
		case pending:
			batch.Pending = append(batch.Pending, billing.PendingReward{ID: *id, ReferrerAccountID: referrer, RefereeAccountID: referee, Amount: amount})
		case byID[refInv] == nil: // this chunk's own drafts are batch.Accounts, not referee drafts elsewhere
			batch.RefereeDrafts = append(batch.RefereeDrafts, billing.RefereeDraft{InvoiceID: refInv, AccountID: referee, ReferredBy: referrer, CreatedAt: *created, Base: amount})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	written, elsewhere, err := refereeFacts(ctx, tx, p, drafts, accounts, byAccount)
	if err != nil {
		return nil, err
	}
	batch.DraftedElsewhere = elsewhere
	for i, d := range drafts {
		a := accounts[d.accountID]
		batch.Accounts[i] = billing.ReferralAccount{AccountID: d.accountID, InvoiceID: d.id, Usage: d.usageSubtotal(), Reversals: d.reversals,
			CreatedAt: a.createdAt, RewardWritten: written[d.id]}
		if a.referredBy != nil {
			batch.Accounts[i].ReferredBy = *a.referredBy
		}
	}
	alloc, err := billing.AllocateReferrals(batch)
	if err != nil {
		return nil, err
	}

	for i, d := range drafts {
		a := accounts[d.accountID]
		vat, err := cfg.VATRates.Decide(cfg.SellerCountry, a.country, a.vatNumber != nil)
		if err != nil {
			return nil, err
		}
		d.referrals = alloc.Accounts[i]
		d.totals = d.referrals.Totals(vat)
	}

	if err := writeReferralLines(ctx, tx, drafts); err != nil {
		return nil, err
	}
	if err := writeRewards(ctx, tx, p, drafts, alloc.Outgoing, res); err != nil {
		return nil, err
	}
	issuedAt, err := assignNumbers(ctx, tx, cfg, drafts)
	if err != nil {
		return nil, err
	}
	if err := updateInvoices(ctx, tx, drafts, accounts, issuedAt); err != nil {
		return nil, err
	}

	events := make([]billing.TimelineEvent, 0, len(drafts))
	finalized := make([]billing.Event, 0, len(drafts))
	for _, d := range drafts {
		id := d.id
		res.Invoices = append(res.Invoices, Finalized{InvoiceID: d.id, Number: d.number, AccountID: d.accountID, Total: d.totals.Total, IssuedAt: issuedAt})
		events = append(events, billing.TimelineEvent{AccountID: d.accountID, At: issuedAt, Kind: billing.TimelineInvoiceIssued, InvoiceID: &id,
			Data: map[string]any{"number": d.number, "period": period, "total": billing.FormatMoney(d.totals.Total)}})
		finalized = append(finalized, billing.Event{Type: billing.EventInvoiceFinalized, AccountID: d.accountID, At: issuedAt, InvoiceID: &id})
		if d.referrals.Carryover.IsPositive() {
			res.Credits = append(res.Credits, CreditGrant{AccountID: d.accountID, Amount: d.referrals.Carryover,
				Reference: "referral_carryover:" + d.number, InvoiceID: &id})
		}
	}
	res.Effects = billing.Effects{Timeline: events, Events: finalized, At: issuedAt}
	var remaining int
	if err := tx.QueryRow(ctx, `
		UPDATE billing_runs SET invoices_finalized = invoices_finalized + $2 WHERE id = $1
		RETURNING invoices_drafted - invoices_finalized`, runID, len(drafts)).Scan(&remaining); err != nil {
		return nil, err
	}
	if remaining > 0 {
		// Drafts are left (the run's counters say so, as this chunk's
		// own update sees them): no need to look for them.
		return res, nil
	}
	return res, completeIfDone(ctx, tx, runID, res)
}

// completeIfDone marks the run completed once no draft of it remains, or
// reports Busy when the remaining ones are held by another finalizer.
//
// The drafts are looked for in the table, not only counted: a chunk that
// claimed drafts skips this while the counters say some are left (each
// look walks the partial index past the entries of every draft finalized
// so far, until vacuum: a tenth of a second a chunk at 1,000,000
// invoices), but the end of a run, and a chunk that found none to claim,
// rely on the table alone.
func completeIfDone(ctx context.Context, tx pgx.Tx, runID int64, res *FinalizeResult) error {
	var left bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoices WHERE run_id = $1 AND status = 'draft')`, runID).Scan(&left); err != nil {
		return err
	}
	if left {
		res.Busy = len(res.Invoices) == 0
		return nil
	}
	res.Done = true
	var period string
	var accounts, finalized int
	var finished time.Time
	err := tx.QueryRow(ctx, `
		UPDATE billing_runs SET state = 'completed', finished_at = now() WHERE id = $1 AND state <> 'completed'
		RETURNING period, accounts_total, invoices_finalized, finished_at`, runID).Scan(&period, &accounts, &finalized, &finished)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // completed already: its event was written then
	}
	if err != nil {
		return err
	}
	res.Effects.Events = append(res.Effects.Events, billing.Event{Type: billing.EventRunCompleted, At: finished,
		Data: map[string]any{"run_id": runID, "period": period, "accounts": accounts, "invoices": finalized}})
	return nil
}

func loadAccounts(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*accountInfo, error) {
	rows, err := tx.Query(ctx, `SELECT id, name, email, country, vat_number, created_at, referred_by FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]*accountInfo, len(ids))
	for rows.Next() {
		var id string
		var a accountInfo
		if err := rows.Scan(&id, &a.name, &a.email, &a.country, &a.vatNumber, &a.createdAt, &a.referredBy); err != nil {
			return nil, err
		}
		out[id] = &a
	}
	return out, rows.Err()
}

// loadChargedReversals reads the reversals charged on the drafts: part of
// their subtotal since drafting, their lines written now.
func loadChargedReversals(ctx context.Context, tx pgx.Tx, byID map[int64]*draft, ids []int64) error {
	rows, err := tx.Query(ctx, `
		SELECT charged_invoice_id, referee_account_id, amount - from_credit FROM referral_reversals
		WHERE charged_invoice_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var r billing.Reversal
		if err := rows.Scan(&id, &r.RefereeAccountID, &r.Amount); err != nil {
			return err
		}
		byID[id].reversals = append(byID[id].reversals, r)
	}
	return rows.Err()
}

// usageSubtotal is the draft's usage alone: its referral base.
func (d *draft) usageSubtotal() decimal.Decimal {
	s := d.subtotal
	for _, r := range d.reversals {
		s = s.Sub(r.Amount)
	}
	return s
}

// refereeFacts reads what deciding the rewards the chunk's drafts earn
// their referrers needs: which drafts a reward row covers already (their
// referrer was finalized first, in an earlier chunk, and took it), and which
// referrers outside the chunk have a draft of the period elsewhere.
func refereeFacts(ctx context.Context, tx pgx.Tx, p billing.Period, drafts []*draft, accounts map[string]*accountInfo,
	inChunk map[string]*draft) (written map[int64]bool, elsewhere map[string]bool, err error) {
	var ids []int64
	var referrers []string
	for _, d := range drafts {
		if r := accounts[d.accountID].referredBy; r != nil {
			ids = append(ids, d.id)
			if inChunk[*r] == nil {
				referrers = append(referrers, *r)
			}
		}
	}
	written, elsewhere = map[int64]bool{}, map[string]bool{}
	if len(ids) == 0 {
		return written, elsewhere, nil
	}
	rows, err := tx.Query(ctx, `SELECT referee_invoice_id FROM referral_rewards WHERE referee_invoice_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, err
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, nil, err
	}
	for _, id := range done {
		written[id] = true
	}
	if len(referrers) == 0 {
		return written, elsewhere, nil
	}
	rows, err = tx.Query(ctx, `
		SELECT DISTINCT account_id FROM invoices
		WHERE account_id = ANY($1) AND period = $2 AND status = 'draft'`, referrers, p.String())
	if err != nil {
		return nil, nil, err
	}
	withDraft, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	for _, a := range withDraft {
		elsewhere[a] = true
	}
	return written, elsewhere, nil
}

// writeReferralLines writes the lines that follow the drafts' usage lines
// (reversals, referral discounts, the carry-over, in Compute's order): one
// invoice_referral_lines row per invoice that has any.
func writeReferralLines(ctx context.Context, tx pgx.Tx, drafts []*draft) error {
	var rows [][]any
	for _, d := range drafts {
		var types []string
		var referees []*string
		var amounts []decimal.Decimal
		for _, l := range d.totals.Lines {
			switch l.Type {
			case billing.LineReferral, billing.LineReferralReversal:
				referee := l.RefereeAccountID
				types, referees, amounts = append(types, string(l.Type)), append(referees, &referee), append(amounts, l.Amount)
			case billing.LineReferralCarryover:
				types, referees, amounts = append(types, string(l.Type)), append(referees, nil), append(amounts, l.Amount)
			case billing.LineUsage: // written with the draft
			}
		}
		if len(types) > 0 {
			rows = append(rows, []any{d.id, types, referees, amounts})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"invoice_referral_lines"},
		[]string{"invoice_id", "types", "referee_account_ids", "amounts"}, pgx.CopyFromRows(rows))
	return err
}

func writeRewards(ctx context.Context, tx pgx.Tx, p billing.Period, drafts []*draft, outgoing []billing.OutgoingReward, res *FinalizeResult) error {
	var pending []int64
	var pendingTo []int64
	var ins [][]any
	for _, d := range drafts {
		for _, r := range d.referrals.Applied {
			if r.FromPending {
				pending = append(pending, r.PendingID)
				pendingTo = append(pendingTo, d.id)
				continue
			}
			ins = append(ins, []any{r.RefereeInvoiceID, r.RefereeAccountID, d.accountID, p.String(), r.Amount, "applied", d.id})
		}
	}
	if len(pending) > 0 {
		if _, err := tx.Exec(ctx, `
			UPDATE referral_rewards r SET state = 'applied', referrer_invoice_id = u.invoice_id
			FROM unnest($1::bigint[], $2::bigint[]) AS u(id, invoice_id) WHERE r.id = u.id`, pending, pendingTo); err != nil {
			return err
		}
	}
	if len(ins) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"referral_rewards"},
			[]string{"referee_invoice_id", "referee_account_id", "referrer_account_id", "period", "amount", "state", "referrer_invoice_id"},
			pgx.CopyFromRows(ins)); err != nil {
			return refereeRace(err)
		}
	}
	if len(outgoing) == 0 {
		return nil
	}
	n := len(outgoing)
	invIDs, refereeIDs, referrers, amounts, states := make([]int64, n), make([]string, n), make([]string, n), make([]decimal.Decimal, n), make([]string, n)
	for i, r := range outgoing {
		invIDs[i], refereeIDs[i], referrers[i], amounts[i], states[i] = r.RefereeInvoiceID, r.RefereeAccountID, r.ReferrerAccountID, r.Amount, "credited"
		if r.Route == billing.RouteToPending {
			states[i] = "pending"
		}
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO referral_rewards (referee_invoice_id, referee_account_id, referrer_account_id, period, amount, state)
		SELECT u.inv, u.referee, u.referrer, $6, u.amount, u.state
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::numeric[], $5::text[]) AS u(inv, referee, referrer, amount, state)
		RETURNING id, referee_invoice_id, referrer_account_id, amount, state`,
		invIDs, refereeIDs, referrers, amounts, states, p.String())
	if err != nil {
		return refereeRace(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, invID int64
		var referrer, state string
		var amount decimal.Decimal
		if err := rows.Scan(&id, &invID, &referrer, &amount, &state); err != nil {
			return err
		}
		if state == "credited" {
			res.Credits = append(res.Credits, CreditGrant{AccountID: referrer, Amount: amount,
				Reference: fmt.Sprintf("referral_reward:%d", id), InvoiceID: &invID})
		}
	}
	return refereeRace(rows.Err())
}

// refereeRace names the collision of a reward this chunk writes with the
// one a concurrent finalization wrote for the same referee invoice (see
// FinalizeChunk): the transaction is lost, and a retry sees the other's
// reward and takes it.
func refereeRace(err error) error {
	if pgdb.UniqueViolation(err, "referral_rewards_referee_invoice_id_key") {
		return fmt.Errorf("a referral reward was written concurrently for the same referee invoice; retry: %w", err)
	}
	return err
}

// assignNumbers takes the next numbers of the year's counter for the drafts,
// in account order. The counter row stays locked until commit, so numbers
// are gapless and strictly increasing with issue time, which is read after
// the lock is held.
func assignNumbers(ctx context.Context, tx pgx.Tx, cfg *Config, drafts []*draft) (time.Time, error) {
	year := cfg.now().In(cfg.Location).Year()
	last, err := takeNumbers(ctx, tx, "INV", year, len(drafts))
	if err != nil {
		return time.Time{}, err
	}
	issuedAt := cfg.now().UTC().Truncate(time.Microsecond)
	if issuedAt.In(cfg.Location).Year() != year {
		return time.Time{}, fmt.Errorf("the year turned while numbering invoices: retry")
	}
	sort.Slice(drafts, func(i, j int) bool { return drafts[i].accountID < drafts[j].accountID })
	first := last - len(drafts) + 1
	for i, d := range drafts {
		d.number = fmt.Sprintf("INV-%04d-%06d", year, first+i)
	}
	return issuedAt, nil
}

// takeNumbers reserves n numbers of a series and year and returns the last.
func takeNumbers(ctx context.Context, tx pgx.Tx, series string, year, n int) (int, error) {
	var last int
	err := tx.QueryRow(ctx, `
		INSERT INTO number_counters (series, year, last) VALUES ($1, $2, $3)
		ON CONFLICT (series, year) DO UPDATE SET last = number_counters.last + EXCLUDED.last
		RETURNING last`, series, year, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("numbering %s %d: %w", series, year, err)
	}
	return last, nil
}

func updateInvoices(ctx context.Context, tx pgx.Tx, drafts []*draft, accounts map[string]*accountInfo, issuedAt time.Time) error {
	n := len(drafts)
	ids := make([]int64, n)
	numbers := make([]string, n)
	discounts := make([]decimal.Decimal, n)
	rates := make([]decimal.Decimal, n)
	treatments := make([]string, n)
	mentions := make([]string, n)
	taxes := make([]decimal.Decimal, n)
	totals := make([]decimal.Decimal, n)
	names := make([]string, n)
	emails := make([]string, n)
	countries := make([]string, n)
	vats := make([]*string, n)
	for i, d := range drafts {
		a := accounts[d.accountID]
		t := d.totals
		ids[i], numbers[i] = d.id, d.number
		discounts[i], rates[i], taxes[i], totals[i] = t.Discount, t.VAT.Rate, t.Tax, t.Total
		treatments[i], mentions[i] = string(t.VAT.Treatment), t.VAT.Mention
		names[i], emails[i], countries[i], vats[i] = a.name, a.email, a.country, a.vatNumber
	}
	tag, err := tx.Exec(ctx, `
		UPDATE invoices i SET
		    number = u.number, status = 'open', discount = u.discount, tax_rate = u.rate,
		    vat_treatment = u.treatment, vat_mention = u.mention, tax = u.tax, total = u.total,
		    issued_at = $13, buyer_name = u.name, buyer_email = u.email, buyer_country = u.country,
		    buyer_vat_number = u.vat,
		    buyer_address_line1 = a.address_line1, buyer_address_line2 = a.address_line2,
		    buyer_address_postal_code = a.address_postal_code, buyer_address_city = a.address_city,
		    buyer_address_country = a.address_country, buyer_siren = a.siren, buyer_language = a.language
		FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::numeric[], $5::text[], $6::text[], $7::numeric[],
		            $8::numeric[], $9::text[], $10::text[], $11::text[], $12::text[])
		     AS u(id, number, discount, rate, treatment, mention, tax, total, name, email, country, vat),
		     accounts a
		WHERE i.id = u.id AND i.status = 'draft' AND a.id = i.account_id`,
		ids, numbers, discounts, rates, treatments, mentions, taxes, totals, names, emails, countries, vats, issuedAt)
	if err != nil {
		return err
	}
	if int(tag.RowsAffected()) != n {
		return fmt.Errorf("finalized %d invoices of %d drafts", tag.RowsAffected(), n)
	}
	return nil
}
