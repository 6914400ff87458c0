package jobs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// A service without a River client inserts jobs with plain SQL, as the
// README shows: the engine works them.
func TestJobInsertedByPlainSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	seedOpenInvoice(ctx, db)
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
		VALUES ('collect_invoice', '{"invoice_number": "INV-2026-000001"}', 'payments', 20, 1, 'available', now())`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `SELECT pg_notify(current_schema() || '.river_insert', '{"queue": "payments"}')`)
	require.NoError(t, err)
	require.Equal(t, "paid", workUntilIdle(ctx, db))

	_, err = db.Pool.Exec(ctx, `
		INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
		VALUES ('billing_run', '{"period": "2026-09"}', 'billing', 10, 1, 'available', now())`)
	require.NoError(t, err)
	workUntilIdle(ctx, db)
	var state string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state FROM billing_runs WHERE period = '2026-09'`).Scan(&state))
	require.Equal(t, "completed", state, "a run inserted by SQL ran (and found nothing to bill)")
}
