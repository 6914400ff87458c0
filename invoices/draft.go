package invoices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// loadCatalog reads every price. With lock, it first takes a share lock on
// the resources, so that a catalog import can't add a price while a run is
// rating with the old ones (the import locks the resources it prices).
func loadCatalog(ctx context.Context, q pgdb.Executor, lock bool) (billing.Catalog, error) {
	if lock {
		rows, err := q.Query(ctx, `SELECT resource FROM resources ORDER BY resource FOR SHARE`)
		if err != nil {
			return nil, err
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rows, err := q.Query(ctx, `SELECT resource, effective_from, price_per_hour FROM prices ORDER BY resource, effective_from`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cat := billing.Catalog{}
	for rows.Next() {
		var res string
		var p billing.PricePoint
		if err := rows.Scan(&res, &p.From, &p.PerHour); err != nil {
			return nil, err
		}
		cat[res] = append(cat[res], p) // already ordered
	}
	return cat, rows.Err()
}

// rated is one account's usage for a period, and the reversals its
// invoice will charge.
type rated struct {
	accountID string
	lines     []billing.UsageLine
	reversals []outstandingReversal
}

// outstandingReversal is a reward taken back that credit did not cover.
type outstandingReversal struct {
	id        int64
	referrer  string
	referee   string
	remaining decimal.Decimal
}

func (r *rated) subtotal() decimal.Decimal {
	s := billing.Subtotal(r.lines)
	for _, v := range r.reversals {
		s = s.Add(v.remaining)
	}
	return s
}

// loadReversals attaches to the drafts the reversals still to be charged to
// their accounts. With lock, the rows are locked: the caller charges them.
func loadReversals(ctx context.Context, q pgdb.Executor, drafts []rated, lock bool) error {
	if len(drafts) == 0 {
		return nil
	}
	ids := make([]string, len(drafts))
	byAccount := make(map[string]*rated, len(drafts))
	for i := range drafts {
		ids[i] = drafts[i].accountID
		byAccount[ids[i]] = &drafts[i]
	}
	sql := `SELECT id, referrer_account_id, referee_account_id, amount - from_credit FROM referral_reversals
		WHERE referrer_account_id = ANY($1) AND charged_invoice_id IS NULL AND from_credit < amount ORDER BY id`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r outstandingReversal
		if err := rows.Scan(&r.id, &r.referrer, &r.referee, &r.remaining); err != nil {
			return err
		}
		d := byAccount[r.referrer]
		d.reversals = append(d.reversals, r)
	}
	return rows.Err()
}

// rateAll rates the accounts and adds the reversals charged on their next
// invoice (locked when lock, as drafting does and a dry run must not).
func rateAll(ctx context.Context, q pgdb.Executor, cat billing.Catalog, ids []string, start, end time.Time, lock bool) ([]rated, error) {
	var drafts []rated
	if err := rateAccounts(ctx, q, cat, ids, start, end, func(r rated) error {
		drafts = append(drafts, r)
		return nil
	}, nil); err != nil {
		return nil, err
	}
	return drafts, loadReversals(ctx, q, drafts, lock)
}

// rateAccounts streams the usage of the given accounts (sorted by id) over
// [start, end) and rates each account in turn; accounts without billable
// usage are skipped. Memory holds one account's segments at a time. An
// account whose usage cannot be rated is handed to fail, when set, and the
// others go on; without fail its error ends the rating.
func rateAccounts(ctx context.Context, q pgdb.Executor, cat billing.Catalog, ids []string, start, end time.Time,
	fn func(rated) error, fail func(accountID string, err error)) error {
	rows, err := q.Query(ctx, `
		SELECT account_id, app, resource, quantity, started_at, ended_at
		FROM usage_segments
		WHERE account_id = ANY($1) AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2)
		ORDER BY account_id`, ids, start, end)
	if err != nil {
		return err
	}
	defer rows.Close()
	var current string
	var segs []billing.Segment
	flush := func() error {
		if len(segs) == 0 {
			return nil
		}
		lines, err := billing.Rate(segs, cat, start, end)
		segs = segs[:0]
		if err != nil && fail != nil {
			fail(current, fmt.Errorf("its usage cannot be rated: %w", err))
			return nil
		}
		if err != nil {
			return fmt.Errorf("rating account %s: %w", current, err)
		}
		if len(lines) == 0 {
			return nil
		}
		return fn(rated{accountID: current, lines: lines})
	}
	for rows.Next() {
		var acc string
		var s billing.Segment
		var end *time.Time
		if err := rows.Scan(&acc, &s.App, &s.Resource, &s.Quantity, &s.Start, &end); err != nil {
			return err
		}
		if end != nil {
			s.End = *end
		}
		if acc != current {
			if err := flush(); err != nil {
				return err
			}
			current = acc
		}
		segs = append(segs, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// DraftResult says what a shard drafted.
type DraftResult struct {
	Accounts int
	Invoices int
	// Already is true when the shard had been drafted before: nothing was
	// done this time.
	Already bool
	// LastShard is true when this shard was the run's last to be drafted:
	// its caller enqueues the finalization, in the same transaction.
	LastShard bool
	// Failed are the accounts of the shard that could not be billed; the
	// others were.
	Failed []AccountFailure
}

// AccountFailure is an account a run could not bill: its usage cannot be
// rated, or its invoice would not fit in the invoice columns. It stays
// without an invoice (a later run of the period bills it once its data is
// fixed), and the rest of its shard is billed.
type AccountFailure struct {
	AccountID string    `json:"account_id"`
	Shard     int       `json:"shard"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// RunAccountFailures lists the accounts a run could not bill, by id.
func RunAccountFailures(ctx context.Context, q pgdb.Executor, runID int64) ([]AccountFailure, error) {
	rows, err := q.Query(ctx, `SELECT account_id, shard, message, created_at FROM billing_run_failures WHERE run_id = $1 ORDER BY account_id`, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccountFailure, error) {
		var f AccountFailure
		err := r.Scan(&f.AccountID, &f.Shard, &f.Message, &f.At)
		f.At = f.At.UTC()
		return f, err
	})
}

// checkFits refuses a draft that the invoice columns could not hold. The
// import bounds make one segment's month fit (billing.MaxSubtotal); many
// of them on one account can still go over, and this check, made before
// anything is written, keeps that account from failing its whole shard.
func checkFits(d *rated) error {
	for _, l := range d.lines {
		if l.Hours.GreaterThan(billing.MaxLineHours) {
			return fmt.Errorf("its usage line %s / %s has %s hours, over the %s one line can hold",
				l.App, l.Resource, billing.FormatHours(l.Hours), billing.FormatHours(billing.MaxLineHours))
		}
	}
	if s := d.subtotal(); s.GreaterThan(billing.MaxSubtotal) {
		return fmt.Errorf("its subtotal %s is over the %s one invoice can hold", billing.FormatMoney(s), billing.FormatMoney(billing.MaxSubtotal))
	}
	return nil
}

// isDataError reports whether err is Postgres refusing a value (out of
// range, a CHECK), which no retry changes: the draft's data is at fault.
func isDataError(err error) bool {
	return pgdb.DataException(err)
}

// writeDraftsIsolated writes the drafts in a savepoint; when Postgres
// refuses a value, it writes them again one account per savepoint, so that
// only the accounts at fault fail (handed to fail) and the others are
// billed. It returns the drafts written.
func writeDraftsIsolated(ctx context.Context, tx pgx.Tx, runID int64, p billing.Period, start, end time.Time,
	drafts []rated, fail func(accountID string, err error)) ([]rated, error) {
	try := func(ds []rated) (bool, error) {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return false, err
		}
		if err := writeDrafts(ctx, sp, runID, p, start, end, ds); err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return false, rerr
			}
			if isDataError(err) && len(ds) == 1 {
				var pgErr *pgconn.PgError
				errors.As(err, &pgErr)
				fail(ds[0].accountID, fmt.Errorf("its invoice cannot be stored: %s", pgErr.Message))
				return false, nil
			}
			if isDataError(err) {
				return false, nil
			}
			return false, err
		}
		return true, sp.Commit(ctx)
	}
	ok, err := try(drafts)
	if err != nil || ok {
		return drafts, err
	}
	kept := drafts[:0:0]
	for _, d := range drafts {
		ok, err := try([]rated{d})
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// shardAccountsSQL locks a shard's accounts that have no invoice for the
// period yet. It is planned with its parameters at every call (an unnamed
// statement): invoices grows by the run's own drafts while the shards run,
// and a plan cached from the first shards hashed the whole table for every
// later one (300,000 accounts: 1.5 s a shard instead of 0.1 s).
// The account's invoice for the period is a scalar subquery, one probe
// of invoices_one_per_period (at most one row) per account, rather than
// NOT EXISTS, which the planner turns into an anti join planned from
// the statistics: those of a first month date from before its drafts,
// say the period has a few invoices, and the anti join then read every
// invoice of the period for each account (52 ms a shard at 100,000
// accounts instead of a few).
const shardAccountsSQL = `
	SELECT a.id FROM accounts a
	WHERE a.id BETWEEN $1 AND $2 AND ($3::text[] IS NULL OR a.id = ANY($3))
	  AND (SELECT i.id FROM invoices i WHERE i.account_id = a.id AND i.period = $4 AND i.status <> 'void') IS NULL
	ORDER BY a.id FOR SHARE OF a`

// DraftShard rates one shard of a run's accounts and writes a draft invoice
// (usage lines and subtotal) for each account with billable usage. It takes
// a share lock on the accounts, so a usage import for them waits until the
// drafts exist and is then refused for the period (see ingest); drafts are
// therefore never stale. Drafting a shard twice does nothing the second time.
// The period's bounds are the run's, stored at its creation: cfg.Location,
// this worker's own zone, plays no part, so that every shard of a run rates
// the same month whichever worker drafts it.
func DraftShard(ctx context.Context, tx pgx.Tx, cfg *Config, runID int64, shard int) (*DraftResult, error) {
	var firstID, lastID, period string
	var scope []string
	var draftedAt *time.Time
	var start, end time.Time
	err := tx.QueryRow(ctx, `
		SELECT s.first_id, s.last_id, s.drafted_at, r.period, r.account_ids, r.period_start, r.period_end
		FROM billing_run_shards s JOIN billing_runs r ON r.id = s.run_id
		WHERE s.run_id = $1 AND s.shard = $2 FOR UPDATE OF s`, runID, shard).
		Scan(&firstID, &lastID, &draftedAt, &period, &scope, &start, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %d has no shard %d", runID, shard)
	}
	if err != nil {
		return nil, err
	}
	if draftedAt != nil {
		return &DraftResult{Already: true}, nil
	}
	p, err := billing.ParsePeriod(period)
	if err != nil {
		return nil, err
	}

	cat, err := loadCatalog(ctx, tx, true)
	if err != nil {
		return nil, err
	}
	// Planned with its parameters at every call (see shardAccountsSQL).
	rows, err := tx.Query(ctx, shardAccountsSQL, pgx.QueryExecModeCacheDescribe, firstID, lastID, scope, period)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}

	// An account whose data can't be billed fails alone, visibly: the
	// rest of the shard is billed, and a rerun isn't blocked either.
	var failed []AccountFailure
	fail := func(accountID string, err error) {
		failed = append(failed, AccountFailure{AccountID: accountID, Shard: shard, Message: err.Error()})
	}
	var drafts []rated
	if err := rateAccounts(ctx, tx, cat, ids, start, end, func(r rated) error {
		drafts = append(drafts, r)
		return nil
	}, fail); err != nil {
		return nil, err
	}
	if err := loadReversals(ctx, tx, drafts, true); err != nil {
		return nil, err
	}
	fits := drafts[:0]
	for i := range drafts {
		if err := checkFits(&drafts[i]); err != nil {
			fail(drafts[i].accountID, err)
			continue
		}
		fits = append(fits, drafts[i])
	}
	drafts, err = writeDraftsIsolated(ctx, tx, runID, p, start, end, fits, fail)
	if err != nil {
		return nil, err
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].AccountID < failed[j].AccountID })
	if err := recordFailures(ctx, tx, runID, p, failed); err != nil {
		return nil, err
	}

	if _, err := tx.Exec(ctx, `UPDATE billing_run_shards SET drafted_at = now(), invoices = $3 WHERE run_id = $1 AND shard = $2`,
		runID, shard, len(drafts)); err != nil {
		return nil, err
	}
	res := &DraftResult{Accounts: len(ids), Invoices: len(drafts), Failed: failed}
	err = tx.QueryRow(ctx, `
		UPDATE billing_runs SET
		    shards_done = shards_done + 1,
		    accounts_drafted = accounts_drafted + $2,
		    invoices_drafted = invoices_drafted + $3,
		    state = CASE WHEN shards_done + 1 = shards_total THEN 'finalizing' ELSE state END
		WHERE id = $1
		RETURNING shards_done = shards_total`, runID, len(ids), len(drafts)).Scan(&res.LastShard)
	return res, err
}

// recordFailures stores the shard's failed accounts for `billing runs show`
// and logs each: the finance team fixes the data and runs the period again.
func recordFailures(ctx context.Context, tx pgx.Tx, runID int64, p billing.Period, failed []AccountFailure) error {
	if len(failed) == 0 {
		return nil
	}
	ids, msgs := make([]string, len(failed)), make([]string, len(failed))
	for i, f := range failed {
		ids[i], msgs[i] = f.AccountID, f.Message
		slog.WarnContext(ctx, "account not billed: its data cannot be invoiced; the rest of its shard is billed",
			"run_id", runID, "period", p.String(), "shard", f.Shard, "account_id", f.AccountID, "error", f.Message)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO billing_run_failures (run_id, account_id, shard, message)
		SELECT $1, u.account_id, $2, u.message FROM unnest($3::text[], $4::text[]) AS u(account_id, message)
		ON CONFLICT (run_id, account_id) DO UPDATE SET message = EXCLUDED.message`, runID, failed[0].Shard, ids, msgs)
	return err
}

// usageColumns are invoice_usage_lines' (migration 0024), in usageRow's
// order.
var usageColumns = []string{"invoice_id", "apps", "resources", "hours", "amounts", "price_counts", "prices_per_hour", "price_hours"}

// usageRow is the invoice_usage_lines row of an invoice's usage lines: one
// element of each array per line, and the lines' prices one after another.
func usageRow(id int64, lines []billing.UsageLine) []any {
	n := len(lines)
	apps, resources, counts := make([]string, n), make([]string, n), make([]int32, n)
	hours, amounts := make([]decimal.Decimal, n), make([]decimal.Decimal, n)
	var perHour, priceHours []decimal.Decimal
	for i, l := range lines {
		apps[i], resources[i], hours[i], amounts[i], counts[i] = l.App, l.Resource, l.Hours, l.Amount, int32(len(l.Prices))
		for _, pu := range l.Prices {
			perHour, priceHours = append(perHour, pu.PerHour), append(priceHours, pu.Hours)
		}
	}
	if perHour == nil {
		perHour, priceHours = []decimal.Decimal{}, []decimal.Decimal{}
	}
	return []any{id, apps, resources, hours, amounts, counts, perHour, priceHours}
}

// writeDrafts stores draft invoices and their usage lines with COPY.
func writeDrafts(ctx context.Context, tx pgx.Tx, runID int64, p billing.Period, start, end time.Time, drafts []rated) error {
	if len(drafts) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('invoices', 'id')) FROM generate_series(1, $1)`, len(drafts))
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	invRows := make([][]any, len(drafts))
	usageRows := make([][]any, 0, len(drafts))
	var reversalIDs, chargedOn []int64
	for i, d := range drafts {
		invRows[i] = []any{ids[i], d.accountID, p.String(), start, end, runID, string(StatusDraft), d.subtotal()}
		for _, r := range d.reversals {
			reversalIDs = append(reversalIDs, r.id)
			chargedOn = append(chargedOn, ids[i])
		}
		if len(d.lines) > 0 {
			usageRows = append(usageRows, usageRow(ids[i], d.lines))
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"invoices"},
		[]string{"id", "account_id", "period", "period_start", "period_end", "run_id", "status", "subtotal"},
		pgx.CopyFromRows(invRows)); err != nil {
		return fmt.Errorf("writing drafts: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"invoice_usage_lines"}, usageColumns, pgx.CopyFromRows(usageRows)); err != nil {
		return fmt.Errorf("writing draft lines: %w", err)
	}
	if len(reversalIDs) == 0 {
		return nil
	}
	// The reversals are charged on the draft now (its subtotal includes
	// them); their lines are written with its finalization.
	_, err = tx.Exec(ctx, `
		UPDATE referral_reversals r SET charged_invoice_id = u.invoice_id
		FROM unnest($1::bigint[], $2::bigint[]) AS u(id, invoice_id) WHERE r.id = u.id`, reversalIDs, chargedOn)
	return err
}
