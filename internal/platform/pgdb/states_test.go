package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
)

// stateMachine is one of billing's typed machines and the column that
// stores it, seen through strings so that one test tries all four.
type stateMachine struct {
	name   string // the Go type
	table  string
	check  string // the CHECK constraint listing the column's values
	states []string
	can    func(from, to string) bool
	// guarded: a trigger guards the column, so Postgres must accept exactly
	// the transitions can allows. Unguarded, it accepts every pair.
	guarded bool
	// insert creates a row in state $1, with the columns that state
	// requires, and returns its id.
	insert string
	// update moves row $1 to state $2, setting or clearing the columns the
	// CHECK constraints tie to that state, so that only a guard can refuse.
	update string
}

func stateMachineOf[S ~string](name string, all []S, can func(S, S) bool) stateMachine {
	m := stateMachine{name: name, can: func(from, to string) bool { return can(S(from), S(to)) }}
	for _, s := range all {
		m.states = append(m.states, string(s))
	}
	return m
}

func stateMachines() []stateMachine {
	invoice := stateMachineOf("billing.InvoiceStatus", billing.AllInvoiceStatuses(), billing.InvoiceStatus.CanBecome)
	invoice.table, invoice.check, invoice.guarded = "invoices", "invoices_status_check", true
	// A draft has no number and no totals; anything else has them all, and
	// a paid invoice has its total paid. Period 2026-09 is free: the
	// fixture's invoices are of 2026-10.
	invoice.insert = `
		INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal, status,
		                      number, discount, tax_rate, tax, total, issued_at, vat_treatment, buyer_name, buyer_country, amount_paid)
		SELECT 'referrer', '2026-09', '2026-09-01Z', '2026-10-01Z', (SELECT min(id) FROM billing_runs), 10, $1::text,
		       f.number, f.discount, f.tax_rate, f.tax, f.total, f.issued_at, f.vat_treatment, f.buyer_name, f.buyer_country,
		       CASE WHEN $1::text = 'paid' THEN 12 ELSE 0 END
		FROM (SELECT 'INV-2026-000009' AS number, 0 AS discount, 20 AS tax_rate, 2 AS tax, 12 AS total,
		             '2026-10-01Z'::timestamptz AS issued_at, 'domestic' AS vat_treatment, 'Referrer' AS buyer_name, 'FR' AS buyer_country) f0
		LEFT JOIN LATERAL (SELECT f0.*) f ON $1::text <> 'draft'
		RETURNING id`
	// Leaving draft fills what finalization fills (coalesce: a finalized
	// invoice's columns are left as they are, as invoices_guard demands);
	// becoming paid pays the total.
	invoice.update = `
		UPDATE invoices SET status = $2::text,
		    number = CASE WHEN $2::text = 'draft' THEN number ELSE coalesce(number, 'INV-2026-000009') END,
		    discount = CASE WHEN $2::text = 'draft' THEN discount ELSE coalesce(discount, 0) END,
		    tax_rate = CASE WHEN $2::text = 'draft' THEN tax_rate ELSE coalesce(tax_rate, 20) END,
		    tax = CASE WHEN $2::text = 'draft' THEN tax ELSE coalesce(tax, 2) END,
		    total = CASE WHEN $2::text = 'draft' THEN total ELSE coalesce(total, 12) END,
		    issued_at = CASE WHEN $2::text = 'draft' THEN issued_at ELSE coalesce(issued_at, '2026-10-01Z') END,
		    vat_treatment = CASE WHEN $2::text = 'draft' THEN vat_treatment ELSE coalesce(vat_treatment, 'domestic') END,
		    buyer_name = CASE WHEN $2::text = 'draft' THEN buyer_name ELSE coalesce(buyer_name, 'Referrer') END,
		    buyer_country = CASE WHEN $2::text = 'draft' THEN buyer_country ELSE coalesce(buyer_country, 'FR') END,
		    amount_paid = CASE WHEN $2::text = 'paid' THEN 12 ELSE amount_paid END
		WHERE id = $1`

	attempt := stateMachineOf("billing.AttemptState", billing.AllAttemptStates(), billing.AttemptState.CanBecome)
	attempt.table, attempt.check, attempt.guarded = "payment_attempts", "payment_attempts_state_check", true
	// Only a pending attempt is undecided.
	attempt.insert = `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, created_at, decided_at)
		VALUES (1001, 1, 'INV-2026-000001:1', 'sandbox', 'card', 'pm_card_visa', 12, $1::text, '2026-10-01Z',
		        CASE WHEN $1::text <> 'pending' THEN '2026-10-01Z'::timestamptz END)
		RETURNING id`
	attempt.update = `
		UPDATE payment_attempts SET state = $2::text,
		    decided_at = CASE WHEN $2::text <> 'pending' THEN coalesce(decided_at, '2026-10-02Z') END
		WHERE id = $1`

	reward := stateMachineOf("billing.RewardState", billing.AllRewardStates(), billing.RewardState.CanBecome)
	reward.table, reward.check = "referral_rewards", "referral_rewards_state_check"
	// Only an applied reward names the invoice that took it.
	reward.insert = `
		INSERT INTO referral_rewards (referee_invoice_id, referee_account_id, referrer_account_id, period, amount, state, referrer_invoice_id)
		VALUES (1001, 'referee', 'referrer', '2026-10', 2.50, $1::text, CASE WHEN $1::text = 'applied' THEN 1002 END)
		RETURNING id`
	reward.update = `
		UPDATE referral_rewards SET state = $2::text,
		    referrer_invoice_id = CASE WHEN $2::text = 'applied' THEN coalesce(referrer_invoice_id, 1002) END
		WHERE id = $1`

	run := stateMachineOf("billing.RunState", billing.AllRunStates(), billing.RunState.CanBecome)
	run.table, run.check = "billing_runs", "billing_runs_state_check"
	// Only a completed run is finished.
	run.insert = `
		INSERT INTO billing_runs (period, requested_by, state, finished_at)
		VALUES ('2026-10', 'test', $1::text, CASE WHEN $1::text = 'completed' THEN '2026-11-01Z'::timestamptz END)
		RETURNING id`
	run.update = `
		UPDATE billing_runs SET state = $2::text,
		    finished_at = CASE WHEN $2::text = 'completed' THEN coalesce(finished_at, '2026-11-01Z') END
		WHERE id = $1`

	return []stateMachine{invoice, attempt, reward, run}
}

// stateFixture is what the machines' rows refer to: a referrer and its
// referee, a run, the referee's open invoice 1001 (which attempts collect and
// which earns rewards) and the referrer's draft 1002 (which rewards are
// applied to).
const stateFixture = `
	INSERT INTO accounts (id, name, email, country, created_at) VALUES ('referrer', 'Referrer', 'r@example.test', 'FR', '2026-01-01Z');
	INSERT INTO accounts (id, name, email, country, created_at, referred_by) VALUES ('referee', 'Referee', 'e@example.test', 'FR', '2026-02-01Z', 'referrer');
	INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'test');
	INSERT INTO invoices (id, account_id, period, period_start, period_end, run_id, status, subtotal, number, discount, tax_rate, tax, total,
	                      issued_at, vat_treatment, buyer_name, buyer_country)
	VALUES (1001, 'referee', '2026-10', '2026-10-01Z', '2026-11-01Z', (SELECT min(id) FROM billing_runs), 'open', 10,
	        'INV-2026-000001', 0, 20, 2, 12, '2026-11-01Z', 'domestic', 'Referee', 'FR');
	INSERT INTO invoices (id, account_id, period, period_start, period_end, run_id, subtotal)
	VALUES (1002, 'referrer', '2026-10', '2026-10-01Z', '2026-11-01Z', (SELECT min(id) FROM billing_runs), 20);`

// tryTransition creates a row of m in state from, in a transaction that is
// rolled back, and moves it to state to. It reports whether Postgres accepted
// the move, and which guard refused it otherwise; any other error means the
// test could not build the row, and fails it.
func tryTransition(ctx context.Context, t *testing.T, pool *pgxpool.Pool, m stateMachine, from, to string) (accepted bool, refusal string) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // nothing here is kept

	var id int64
	require.NoError(t, tx.QueryRow(ctx, m.insert, from).Scan(&id), "%s: inserting a row in state %s", m.table, from)
	_, err = tx.Exec(ctx, m.update, id, to)
	if err == nil {
		return true, ""
	}
	// A guard is a trigger function raising check_violation: no constraint
	// name, and a PL/pgSQL context. A CHECK constraint would name itself,
	// and would mean update did not shape the row for its new state.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == "" && strings.Contains(pgErr.Where, "PL/pgSQL function") {
		return false, pgErr.Message
	}
	t.Fatalf("%s: %s → %s failed other than by a guard: %v", m.table, from, to, err)
	return false, ""
}

// TestStateTransitionsAgainstSQL tries every (from, to) pair of every state
// machine against the schema. For a guarded column, Postgres must accept
// exactly what the Go table allows (and every update that leaves the state
// alone): change either side alone and this fails. For a column no trigger
// guards yet, Postgres must accept every pair, so that the day a guard lands
// this fails until the machine is marked guarded and its Go table agrees.
func TestStateTransitionsAgainstSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	_, err := d.Pool.Exec(ctx, stateFixture)
	require.NoError(t, err)

	for _, m := range stateMachines() {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			var wrong []string
			pairs := 0
			for _, from := range m.states {
				for _, to := range m.states {
					pairs++
					accepted, refusal := tryTransition(ctx, t, d.Pool, m, from, to)
					goAllows := m.can(from, to)
					want := !m.guarded || from == to || goAllows
					switch {
					case accepted == want:
					case goAllows:
						wrong = append(wrong, fmt.Sprintf("%s → %s: the Go table allows it, Postgres refuses it (%s)", from, to, refusal))
					case m.guarded:
						wrong = append(wrong, fmt.Sprintf("%s → %s: Postgres accepts it, the Go table refuses it", from, to))
					default:
						wrong = append(wrong, fmt.Sprintf("%s → %s: Postgres now refuses it (%s): %s.state is guarded; mark the machine guarded and make the Go table match the trigger",
							from, to, refusal, m.table))
					}
				}
			}
			require.Equal(t, len(m.states)*len(m.states), pairs)
			require.Empty(t, wrong, "%s against %s", m.name, m.table)
		})
	}
}

var checkValue = regexp.MustCompile(`'([^']*)'::text`)

// TestStateValuesMatchSchema checks that each Go type lists exactly the
// values its column's CHECK constraint admits: a state added on one side
// only would be a state the other cannot handle.
func TestStateValuesMatchSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	for _, m := range stateMachines() {
		var def string
		require.NoError(t, d.Pool.QueryRow(ctx, `
			SELECT pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid = $1::regclass AND conname = $2 AND contype = 'c'`, m.table, m.check).Scan(&def), m.check)
		var values []string
		for _, v := range checkValue.FindAllStringSubmatch(def, -1) {
			values = append(values, v[1])
		}
		require.ElementsMatch(t, values, m.states, "%s: %s", m.name, def)
	}
}
