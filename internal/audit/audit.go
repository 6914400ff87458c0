// Package audit checks the books: the invariants of SPEC §10 and those the
// engine adds for voids and referral reversals, each as one set-based
// query over the whole database (or one period), reporting every violation
// it finds. It only reads.
package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Violation is one broken invariant, about one object.
type Violation struct {
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Check is one invariant.
type Check struct {
	Name string
	// Doc says what holds, for people reading the report.
	Doc string
	// Query returns one text column per violation; $1, where the invariant
	// is per invoice, is the period ('' for every period). Numbering,
	// charges and credit are always checked whole.
	Query string
}

// MaxPerCheck bounds the violations one check reports; Report.Truncated
// says when some were left out.
const MaxPerCheck = 1000

// Checks are the invariants, in the order they are reported.
var Checks = []Check{
	{
		Name: "one_invoice_per_period",
		Doc:  "at most one non-void invoice per account and period",
		Query: `
			SELECT format('%s has %s invoices for %s: %s', account_id, count(*), period, string_agg(coalesce(number, 'draft ' || id), ', ' ORDER BY id))
			FROM invoices WHERE status <> 'void' AND ($1 = '' OR period = $1)
			GROUP BY account_id, period HAVING count(*) > 1 ORDER BY account_id, period`,
	},
	{
		Name:  "gapless_invoice_numbers",
		Doc:   "invoice numbers run 1, 2, 3… per year with no gap or repeat, follow issue order, and end at the year's counter",
		Query: gapless(`SELECT number, issued_at FROM invoices WHERE number IS NOT NULL`, "INV"),
	},
	{
		Name:  "gapless_credit_note_numbers",
		Doc:   "credit note numbers likewise",
		Query: gapless(`SELECT number, issued_at FROM credit_notes`, "CN"),
	},
	{
		Name: "lines_sum_to_subtotal_minus_discount",
		Doc:  "an invoice's lines sum to subtotal − discount, its usage and reversal lines to its subtotal, and every line has its invoice",
		Query: `
			SELECT format('%s: lines sum to %s, subtotal − discount is %s (usage and reversals %s, subtotal %s)',
			              i.number, coalesce(l.all_lines, 0), i.subtotal - i.discount, coalesce(l.charged, 0), i.subtotal)
			FROM invoices i
			LEFT JOIN (SELECT invoice_id, sum(amount) AS all_lines, sum(amount) FILTER (WHERE charged) AS charged
			           FROM (SELECT r.invoice_id, l.amount, l.type = 'referral_reversal' AS charged
			                 FROM invoice_referral_lines r, unnest(r.types, r.amounts) AS l(type, amount)
			                 UNION ALL
			                 SELECT u.invoice_id, a, true FROM invoice_usage_lines u, unnest(u.amounts) a) x
			           GROUP BY invoice_id) l ON l.invoice_id = i.id
			WHERE i.status <> 'draft' AND ($1 = '' OR i.period = $1)
			  AND (coalesce(l.all_lines, 0) <> i.subtotal - i.discount OR coalesce(l.charged, 0) <> i.subtotal)
			UNION ALL
			SELECT format('%s lines belong to invoice %s, which does not exist', sum(l.n), l.invoice_id)
			FROM (SELECT invoice_id, cardinality(types) AS n FROM invoice_referral_lines
			      UNION ALL SELECT invoice_id, cardinality(apps) FROM invoice_usage_lines) l
			WHERE $1 = '' AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.id = l.invoice_id)
			GROUP BY l.invoice_id`,
	},
	{
		Name: "total_is_subtotal_minus_discount_plus_tax",
		Doc:  "total = subtotal − discount + tax, with tax = round_half_up((subtotal − discount) × rate / 100, 2) and 0 ≤ discount ≤ subtotal",
		Query: `
			SELECT format('%s: subtotal %s, discount %s, tax %s at %s %%, total %s', number, subtotal, discount, tax, tax_rate, total)
			FROM invoices
			WHERE status <> 'draft' AND ($1 = '' OR period = $1)
			  AND (total <> subtotal - discount + tax OR tax <> round((subtotal - discount) * tax_rate / 100, 2)
			       OR discount < 0 OR discount > subtotal)
			ORDER BY number`,
	},
	{
		Name: "amount_paid_is_credit_plus_charges",
		Doc:  "amount_paid = credit applied + successful charges; credit applied matches the ledger; paid means nothing due, open means something is",
		Query: `
			SELECT format('%s (%s): amount_paid %s, credit applied %s (ledger %s), successful charges %s, total %s',
			              i.number, i.status, i.amount_paid, i.credit_applied, coalesce(c.taken, 0), coalesce(a.charged, 0), i.total)
			FROM invoices i
			LEFT JOIN (SELECT invoice_id, sum(amount) AS charged FROM payment_attempts WHERE state = 'succeeded' GROUP BY invoice_id) a
			       ON a.invoice_id = i.id
			LEFT JOIN (SELECT invoice_id, -sum(amount) AS taken FROM credit_ledger WHERE kind = 'invoice_payment' GROUP BY invoice_id) c
			       ON c.invoice_id = i.id
			WHERE i.status <> 'draft' AND ($1 = '' OR i.period = $1)
			  AND (i.amount_paid <> i.credit_applied + coalesce(a.charged, 0)
			       OR i.credit_applied <> coalesce(c.taken, 0)
			       OR (i.status = 'paid' AND i.amount_paid <> i.total)
			       OR (i.status IN ('open', 'processing') AND i.amount_paid >= i.total AND i.total > 0)
			       OR i.amount_paid > i.total)
			ORDER BY i.number`,
	},
	{
		Name: "one_charge_per_idempotency_key",
		Doc:  "a processor charged at most once per idempotency key, only for a recorded attempt, and every charge it took is recorded",
		Query: `
			SELECT format('key %s charged %s times', idempotency_key, count(*))
			FROM sandbox_charges GROUP BY idempotency_key HAVING count(*) > 1
			UNION ALL
			SELECT format('key %s: attempts %s share one key', idempotency_key, string_agg(id::text, ', '))
			FROM payment_attempts GROUP BY idempotency_key HAVING count(*) > 1
			UNION ALL
			SELECT format('key %s: charged %s by the processor, but no attempt has this key', c.idempotency_key, c.amount)
			FROM sandbox_charges c WHERE NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.idempotency_key = c.idempotency_key)
			UNION ALL
			SELECT format('key %s: the processor took %s, the attempt is %s', c.idempotency_key, c.amount, a.state)
			FROM sandbox_charges c JOIN payment_attempts a ON a.idempotency_key = c.idempotency_key
			WHERE coalesce(c.settled_outcome, c.outcome) = 'succeeded' AND a.state NOT IN ('succeeded', 'pending', 'processing')`,
	},
	{
		Name: "credit_balance_is_ledger_sum",
		Doc:  "an account's prepaid credit = Σ its ledger entries ≥ 0, and each entry's balance_after is the running sum",
		Query: `
			SELECT format('%s: credit_balance %s, ledger sums to %s', a.id, a.credit_balance, coalesce(l.total, 0))
			FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS total FROM credit_ledger GROUP BY account_id) l ON l.account_id = a.id
			WHERE a.credit_balance <> coalesce(l.total, 0) OR a.credit_balance < 0
			UNION ALL
			SELECT format('%s: ledger entry %s (%s %s) says balance %s, the running sum is %s', account_id, id, kind, reference, balance_after, running)
			FROM (SELECT *, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running FROM credit_ledger) e
			WHERE balance_after <> running OR running < 0`,
	},
	{
		// An overdue invoice whose SEPA debit is processing (a method added
		// after the suspension) still keeps its account suspended: it is
		// reactivated once the debit settles, as internal/accounts decides.
		Name: "suspended_only_when_overdue",
		Doc:  "a suspended account has an overdue invoice, open or with its SEPA debit processing",
		Query: `
			SELECT format('%s is suspended with no overdue invoice open or processing', a.id)
			FROM accounts a WHERE a.status = 'suspended'
			  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.status IN ('open', 'processing') AND i.overdue_at IS NOT NULL)
			ORDER BY a.id`,
	},
	{
		Name: "void_invoices_have_credit_notes",
		Doc:  "a void invoice has one credit note that negates it, only void invoices have one, and all it was paid went to prepaid credit",
		Query: `
			SELECT format('%s is void without a credit note', i.number)
			FROM invoices i WHERE i.status = 'void' AND ($1 = '' OR i.period = $1)
			  AND NOT EXISTS (SELECT 1 FROM credit_notes c WHERE c.invoice_id = i.id)
			UNION ALL
			SELECT format('%s credits %s, which is %s', c.number, i.number, i.status)
			FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE i.status <> 'void' AND ($1 = '' OR i.period = $1)
			UNION ALL
			SELECT format('%s: total %s, subtotal %s, discount %s, tax %s do not negate %s (%s, %s, %s, %s)',
			              c.number, c.total, c.subtotal, c.discount, c.tax, i.number, i.total, i.subtotal, i.discount, i.tax)
			FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
			WHERE ($1 = '' OR i.period = $1)
			  AND (c.total <> -i.total OR c.subtotal <> -i.subtotal OR c.discount <> -i.discount OR c.tax <> -i.tax)
			UNION ALL
			SELECT format('%s: %s was paid on it, %s refunded to prepaid credit', i.number, i.amount_paid, coalesce(r.refunded, 0))
			FROM invoices i LEFT JOIN (SELECT invoice_id, sum(amount) AS refunded FROM credit_ledger WHERE kind = 'refund_to_credit' GROUP BY invoice_id) r
			       ON r.invoice_id = i.id
			WHERE i.status = 'void' AND ($1 = '' OR i.period = $1) AND i.amount_paid <> coalesce(r.refunded, 0)`,
	},
	{
		Name: "referral_rewards_given_once",
		Doc:  "a credited reward is in the ledger once, an applied one is a line of its referrer's invoice, and a reward taken back is taken back in full",
		Query: `
			SELECT format('reward %s (%s for %s): credited, but the ledger has %s', r.id, r.amount, r.referrer_account_id, coalesce(l.amount::text, 'nothing'))
			FROM referral_rewards r LEFT JOIN credit_ledger l ON l.kind = 'referral_reward' AND l.reference = 'referral_reward:' || r.id
			WHERE r.state = 'credited' AND ($1 = '' OR r.period = $1) AND (l.amount IS NULL OR l.amount <> r.amount)
			UNION ALL
			SELECT format('reward %s (%s from %s): applied to invoice %s, which has no such referral line', r.id, r.amount, r.referee_account_id, r.referrer_invoice_id)
			FROM referral_rewards r
			WHERE r.state = 'applied' AND ($1 = '' OR r.period = $1)
			  AND NOT EXISTS (SELECT 1 FROM invoice_referral_lines rl, unnest(rl.types, rl.referee_account_ids, rl.amounts) AS l(type, referee, amount)
			                  WHERE rl.invoice_id = r.referrer_invoice_id AND l.type = 'referral'
			                    AND l.referee = r.referee_account_id AND l.amount = -r.amount)
			UNION ALL
			SELECT format('reward %s: its referee invoice is void, yet it is %s and was never taken back', r.id, r.state)
			FROM referral_rewards r JOIN invoices i ON i.id = r.referee_invoice_id
			WHERE i.status = 'void' AND r.state IN ('applied', 'credited') AND ($1 = '' OR r.period = $1)
			  AND NOT EXISTS (SELECT 1 FROM referral_reversals v WHERE v.reward_id = r.id)
			UNION ALL
			SELECT format('reversal of reward %s: %s taken from credit, the ledger has %s', v.reward_id, v.from_credit, coalesce(-l.amount, 0))
			FROM referral_reversals v LEFT JOIN credit_ledger l ON l.kind = 'referral_reversal' AND l.reference = 'referral_reversal:' || v.reward_id
			WHERE v.from_credit <> coalesce(-l.amount, 0)
			UNION ALL
			SELECT format('reversal of reward %s: charged on invoice %s, which has no line for %s', v.reward_id, v.charged_invoice_id, v.amount - v.from_credit)
			FROM referral_reversals v JOIN invoices i ON i.id = v.charged_invoice_id
			WHERE i.status <> 'draft' -- a draft's lines after its usage are written with its finalization
			  AND NOT EXISTS (SELECT 1 FROM invoice_referral_lines rl, unnest(rl.types, rl.referee_account_ids, rl.amounts) AS l(type, referee, amount)
			                  WHERE rl.invoice_id = v.charged_invoice_id AND l.type = 'referral_reversal'
			                    AND l.referee = v.referee_account_id AND l.amount = v.amount - v.from_credit)`,
	},
	{
		// A reward is pending only while its referrer has a draft of the
		// period, whose finalization applies it. Finalized without it, the
		// referrer never will: the reward is lost unless this reports it.
		Name: "pending_rewards_have_a_referrer_draft",
		Doc:  "a pending referral reward waits for a draft of its referrer for that period, which will apply it",
		Query: `
			SELECT format('reward %s (%s from %s, %s): pending, but %s has no draft for %s to apply it to (%s)',
			              r.id, r.amount, r.referee_account_id, r.period, r.referrer_account_id, r.period,
			              coalesce((SELECT string_agg(coalesce(i.number, 'draft'), ', ') FROM invoices i
			                        WHERE i.account_id = r.referrer_account_id AND i.period = r.period AND i.status <> 'void'), 'no invoice'))
			FROM referral_rewards r
			WHERE r.state = 'pending' AND ($1 = '' OR r.period = $1)
			  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = r.referrer_account_id AND i.period = r.period AND i.status = 'draft')
			ORDER BY r.id`,
	},
	{
		// Credit comes first (SPEC §4) and added credit collects the open
		// invoices (§5): an invoice it could pay that stays open, with no
		// payment in flight and no collection queued, is credit that was
		// never applied — and a suspension waiting to happen.
		Name: "open_invoices_use_available_credit",
		Doc:  "an open invoice with no payment in flight and no collection queued is not payable from its account's prepaid credit",
		Query: `
			WITH ` + liveCollections + `
			SELECT format('%s: %s due, %s holds %s of prepaid credit, and no payment is in flight nor any collection queued',
			              i.number, i.total - i.amount_paid, a.id, a.credit_balance)
			FROM invoices i JOIN accounts a ON a.id = i.account_id
			WHERE i.status = 'open' AND ($1 = '' OR i.period = $1)
			  AND i.total > i.amount_paid AND a.credit_balance >= i.total - i.amount_paid
			  AND NOT EXISTS (SELECT 1 FROM payment_attempts pa WHERE pa.invoice_id = i.id AND pa.state IN ('pending', 'processing'))
			  AND NOT EXISTS (SELECT 1 FROM live l WHERE l.number = i.number)
			ORDER BY i.number`,
	},
	{
		// A pending attempt was sent, or was about to be, and its answer is
		// unknown: the processor may have taken the money. Its collection
		// job resends it with its key and, failing that, the reconciliation
		// inserted with it looks it up; past the retry horizon of a
		// collection (about 2 hours at the default settings: 20 tries,
		// delays capped at 10 minutes) with no such job left, nothing ever
		// will, and the invoice stays open while dunning waits for it.
		Name: "pending_attempts_have_a_live_job",
		Doc:  "a payment attempt pending for longer than a collection's retry horizon (2 h) has a collection or reconciliation job that will learn its outcome",
		Query: `
			WITH ` + liveCollections + `
			SELECT format('%s attempt %s (key %s, %s %s): pending since %s, and no job will learn its outcome',
			              i.number, pa.attempt, pa.idempotency_key, pa.method, pa.amount, pa.created_at)
			FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
			WHERE pa.state = 'pending' AND pa.created_at < now() - interval '2 hours' AND ($1 = '' OR i.period = $1)
			  AND NOT EXISTS (SELECT 1 FROM live l WHERE l.number = i.number)
			ORDER BY pa.id`,
	},
	{
		// A stored version keeps the parts it shares with other documents
		// in document_parts (migration 0023); a part it names and no one
		// stored would make it unreadable. Reading a version checks the
		// whole file against its digest; this finds it before anyone asks.
		Name: "documents_have_their_parts",
		Doc:  "every part a stored PDF names (a font subset, the sRGB profile) is stored",
		Query: `
			SELECT format('%s version %s names part %s, which is not stored', d.number, d.version, encode(h, 'hex'))
			FROM documents d CROSS JOIN LATERAL unnest(d.parts) h
			WHERE d.parts IS NOT NULL AND NOT EXISTS (SELECT 1 FROM document_parts p WHERE p.sha256 = h)
			ORDER BY d.number, d.version`,
	},
}

// liveCollections is a WITH item, live(number): the invoices that a
// collection job still to run (or running) names, by kind: collect_invoice
// {"invoice_number"} and collect_invoices {"invoices":[{"number"}]}.
// Collection jobs are few next to invoices (one per batch of hundreds),
// and these states are indexed by River.
const liveCollections = `live AS (
			    SELECT j.args->>'invoice_number' AS number FROM river_job j
			    WHERE j.kind = 'collect_invoice' AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
			    UNION ALL
			    SELECT it->>'number' FROM river_job j CROSS JOIN LATERAL jsonb_array_elements(j.args->'invoices') it
			    WHERE j.kind = 'collect_invoices' AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))`

// gapless checks a numbering series: gaps and repeats within a year, numbers
// out of issue order, and a counter that doesn't end where the numbers do.
func gapless(numbers, series string) string {
	return `
		WITH n AS (
		    SELECT number, issued_at, substr(number, length('` + series + `') + 2, 4)::int AS year,
		           right(number, 6)::int AS seq
		    FROM (` + numbers + `) s),
		o AS (
		    SELECT *, lag(seq, 1, 0) OVER w AS prev, lag(issued_at) OVER w AS prev_issued
		    FROM n WINDOW w AS (PARTITION BY year ORDER BY seq))
		SELECT CASE WHEN seq = prev THEN format('%s is used twice', number)
		            WHEN seq = prev + 2 THEN format('` + series + `-%s-%s is missing', year, lpad((prev + 1)::text, 6, '0'))
		            ELSE format('` + series + `-%s-%s to ` + series + `-%s-%s are missing', year, lpad((prev + 1)::text, 6, '0'), year, lpad((seq - 1)::text, 6, '0'))
		       END
		FROM o WHERE seq <> prev + 1
		UNION ALL
		SELECT format('%s was issued at %s, before the number preceding it (%s)', number, issued_at, prev_issued)
		FROM o WHERE seq = prev + 1 AND issued_at < prev_issued
		UNION ALL
		SELECT format('the ` + series + ` %s counter is at %s, the last number used is %s', coalesce(c.year, y.year), coalesce(c.last, 0), coalesce(y.top, 0))
		FROM (SELECT year, max(seq) AS top FROM n GROUP BY year) y
		FULL JOIN (SELECT year, last FROM number_counters WHERE series = '` + series + `') c ON c.year = y.year
		WHERE coalesce(c.last, 0) <> coalesce(y.top, 0)`
}

// Report is the outcome of an audit.
type Report struct {
	Period     string      `json:"period"`
	Checks     []string    `json:"checks"`
	Violations []Violation `json:"violations"`
	// Truncated names the checks that found more than MaxPerCheck.
	Truncated []string `json:"truncated"`
}

// Snapshot runs every check over one snapshot of db (a read-only
// repeatable-read transaction), so that no check sees a change another
// did not: a payment committing mid-audit is seen by all or by none.
func Snapshot(ctx context.Context, db pgdb.SnapshotDB, period string) (*Report, error) {
	var rep *Report
	err := pgdb.WithSnapshot(ctx, db, "audit", func(tx pgx.Tx) error {
		var err error
		rep, err = Run(ctx, tx, period)
		return err
	})
	return rep, err
}

// Run runs every check, over one snapshot when q is a repeatable-read
// transaction. period "" audits every period.
func Run(ctx context.Context, q pgdb.Executor, period string) (*Report, error) {
	r := &Report{Period: period, Violations: []Violation{}, Truncated: []string{}}
	// Every check reads whole tables. Right after a large run the planner's
	// statistics may still describe nearly empty tables and choose nested
	// loops that make a scan quadratic (measured: one check took 252 s
	// instead of 2 s on 100,000 invoices). set_config(…, true) lasts until
	// the end of the caller's transaction.
	rows, err := q.Query(ctx, `SELECT set_config('enable_nestloop', 'off', true)`)
	if err != nil {
		return nil, err
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range Checks {
		r.Checks = append(r.Checks, c.Name)
		var args []any
		if strings.Contains(c.Query, "$1") {
			args = append(args, period)
		}
		rows, err := q.Query(ctx, `SELECT * FROM (`+c.Query+`) v LIMIT `+fmt.Sprint(MaxPerCheck+1), args...)
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", c.Name, err)
		}
		details, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", c.Name, err)
		}
		if len(details) > MaxPerCheck {
			details = details[:MaxPerCheck]
			r.Truncated = append(r.Truncated, c.Name)
		}
		for _, d := range details {
			r.Violations = append(r.Violations, Violation{Invariant: c.Name, Detail: d})
		}
	}
	return r, nil
}
